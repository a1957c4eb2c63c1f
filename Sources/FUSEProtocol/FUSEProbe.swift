import CFuse3
import LXCFSSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The probe: a successor checks that the descriptor it was handed serves
// the mount point before it serves anything.

extension FUSEConnection {
    /// The name looked up at the mount's root to check that this
    /// descriptor serves it: answered ENOENT, never cached.
    static let probePrefix = ".swift-lxcfs-probe-"

    /// Whether `request` is the probe; records that it arrived.
    func isProbe(_ request: FUSERequest) -> Bool {
        guard case .lookup(let name) = request.operation, request.header.nodeID == UInt64(FUSE_ROOT_ID) else {
            return false
        }
        return probe.withLock { p in
            guard let expected = p.name, name == expected else { return false }
            p.seen = true
            return true
        }
    }

    /// Checks that this descriptor serves `mountPoint`: a thread looks up
    /// a random name at its root, and this thread reads requests until that
    /// lookup arrives or `timeout` passes. Requests read meanwhile are held
    /// and returned, to be handled once serving starts (they are answered
    /// only when the probe arrived).
    /// - Parameter timeout: seconds.
    /// - Returns: whether the probe arrived, and the other requests read (whole messages).
    public func confirmServes(_ mountPoint: String, timeout: Double = 3) -> (confirmed: Bool, held: [[UInt8]]) {
        var token: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &token) { cfuse3_random($0.baseAddress, 8) }
        let name = Self.probePrefix + String(token, radix: 16)
        probe.withLock { $0 = (name, false) }
        let path = mountPoint + "/" + name
        Threads.startDetached {
            var st = stat()
            _ = lstat(path, &st)
        }
        var held: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: parameters.bufferSize)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let deadline = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + timeout
        while true {
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = deadline - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if left <= 0 { return (false, held) }
            switch transport.waitReadable(milliseconds: Int32(left * 1000) + 1) {
            case .failure: return (false, held)
            case .success(false): continue
            case .success(true): break
            }
            let n: Int
            switch buffer.withUnsafeMutableBytes({ transport.receive(into: $0) }) {
            case .message(let count): n = count
            case .retry: continue
            case .ended, .failed: return (false, held)
            }
            guard n >= FUSERequest.headerSize else { continue }
            let request = buffer.withUnsafeBytes { FUSERequest.decode(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            if isProbe(request) {
                reply(request.header.unique, error: ENOENT)
                return (true, held)
            }
            held.append(Array(buffer[..<n]))
        }
    }
}
