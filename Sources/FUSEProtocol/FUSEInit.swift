import CFuse3
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The FUSE_INIT parameters negotiated with the kernel: what a successor
/// needs to serve the connection without seeing INIT again.
public struct FUSEInitParameters: Sendable, Equatable {
    /// Protocol major version (7).
    public var major: UInt32
    /// Protocol minor version agreed: the smaller of the kernel's and
    /// `CFUSE3_PROTOCOL_MINOR` (40).
    public var minor: UInt32
    /// The `FUSE_*` capability flags of the reply (`fuse_init_out.flags`).
    public var flags: UInt32
    /// `fuse_init_out.max_write`, bytes: a read buffer must hold a write
    /// request of this size.
    public var maxWrite: UInt32
    /// `fuse_init_out.max_readahead`, bytes.
    public var maxReadahead: UInt32

    public init(major: UInt32, minor: UInt32, flags: UInt32, maxWrite: UInt32, maxReadahead: UInt32) {
        self.major = major
        self.minor = minor
        self.flags = flags
        self.maxWrite = maxWrite
        self.maxReadahead = maxReadahead
    }

    /// Bytes of the buffer each worker reads requests into: the kernel
    /// refuses a read(2) smaller than max(8 KiB, headers + max_write).
    public var bufferSize: Int { max(16384, Int(maxWrite) + 4096) }

    /// Whether the kernel understands FUSE_NOTIFY_RESEND (protocol 7.40).
    public var canResend: Bool { major == 7 && minor >= 40 }
}

extension FUSEConnection {
    /// Errors of INIT and of resuming.
    public enum ConnectionError: Error, CustomStringConvertible {
        /// The first request of a fresh mount was not FUSE_INIT, or read(2) failed.
        case noInit(String)
        public var description: String {
            switch self { case .noInit(let why): return why }
        }
    }

    /// The capabilities the daemon asks for, of those the kernel offers.
    static let wantedFlags = UInt32(FUSE_ASYNC_READ) | UInt32(FUSE_ATOMIC_O_TRUNC) | UInt32(FUSE_BIG_WRITES)
        | UInt32(FUSE_PARALLEL_DIROPS)

    /// Reads the kernel's FUSE_INIT on a freshly mounted connection and
    /// answers it; returns what was agreed.
    /// - Throws: `ConnectionError.noInit` when the first request is not
    ///   INIT or the kernel's major version is not 7.
    public static func negotiateInit(fd: Int32) throws -> FUSEInitParameters {
        try negotiateInit(transport: FileDescriptorTransport(fd: fd))
    }

    /// `negotiateInit(fd:)` over any transport.
    public static func negotiateInit(transport: any FUSETransport) throws -> FUSEInitParameters {
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        func answer<T>(_ unique: UInt64, error: Int32, _ value: T) {
            var v = value
            withUnsafeBytes(of: &v) { payload in
                var h = FUSEReplyEncoder.header(unique: unique, error: error, payloadSize: payload.count)
                withUnsafeBytes(of: &h) { try? transport.send($0, error == 0 ? payload : UnsafeRawBufferPointer(start: nil, count: 0)) }
            }
        }
        while true {
            let received = buffer.withUnsafeMutableBytes { transport.receive(into: $0) }
            let n: Int
            switch received {
            case .retry: continue
            case .message(let count) where count >= FUSERequest.headerSize: n = count
            case .failed(let e):
                throw ConnectionError.noInit("reading FUSE_INIT from /dev/fuse failed: \(e).")
            case .message, .ended:
                throw ConnectionError.noInit("reading FUSE_INIT from /dev/fuse failed: \(FUSEErrno(errno)).")
            }
            let agreed = try buffer.withUnsafeBytes { raw -> FUSEInitParameters? in
                let header = raw.loadUnaligned(as: fuse_in_header.self)
                guard header.opcode == FUSE_INIT.rawValue, n >= FUSERequest.headerSize + 16 else {
                    throw ConnectionError.noInit("the first FUSE request was opcode \(header.opcode), not FUSE_INIT.")
                }
                // fuse_init_in: major, minor, max_readahead, flags (all u32).
                let inArg = UnsafeRawBufferPointer(rebasing: raw[FUSERequest.headerSize..<n])
                let major = inArg.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                let minor = inArg.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let readahead = inArg.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
                let offered = inArg.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                var out = fuse_init_out()
                out.major = 7
                out.minor = UInt32(CFUSE3_PROTOCOL_MINOR)
                if major > 7 {
                    // The kernel sends INIT again with major 7.
                    answer(header.unique, error: 0, out)
                    return nil
                }
                guard major == 7 else {
                    answer(header.unique, error: EPROTO, out)
                    throw ConnectionError.noInit("the kernel speaks FUSE \(major).\(minor); swift-lxcfs needs 7.")
                }
                let parameters = FUSEInitParameters(major: 7, minor: min(minor, UInt32(CFUSE3_PROTOCOL_MINOR)),
                                                    flags: offered & wantedFlags, maxWrite: 4096, maxReadahead: readahead)
                out.minor = parameters.minor
                out.max_readahead = parameters.maxReadahead
                out.flags = parameters.flags
                out.max_background = 64
                out.congestion_threshold = 48
                out.max_write = parameters.maxWrite
                out.time_gran = 1
                answer(header.unique, error: 0, out)
                return parameters
            }
            if let agreed { return agreed }
        }
    }
}
