import CFuse3
import Foundation
import Logging
import XCTest
@testable import FUSEProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Little-endian bytes written by hand: what the kernel would send, and
/// what a test expects back. Independent of the encoder under test.
final class Bytes: Equatable, CustomStringConvertible {
    var bytes: [UInt8]
    init(bytes: [UInt8] = []) { self.bytes = bytes }
    static func == (a: Bytes, b: Bytes) -> Bool { a.bytes == b.bytes }

    @discardableResult func u16(_ v: UInt16) -> Self { append(UInt64(v), 2) }
    @discardableResult func u32(_ v: UInt32) -> Self { append(UInt64(v), 4) }
    @discardableResult func i32(_ v: Int32) -> Self { append(UInt64(UInt32(bitPattern: v)), 4) }
    @discardableResult func u64(_ v: UInt64) -> Self { append(v, 8) }
    @discardableResult func zeros(_ n: Int) -> Self {
        bytes += repeatElement(0, count: n)
        return self
    }
    @discardableResult func raw(_ b: [UInt8]) -> Self {
        bytes += b
        return self
    }
    private func append(_ v: UInt64, _ width: Int) -> Self {
        for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        return self
    }
    var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }

    /// A request: `fuse_in_header` (40 bytes) and `argument`.
    static func request(opcode: UInt32, unique: UInt64, nodeID: UInt64, uid: UInt32 = 0, gid: UInt32 = 0,
                        pid: UInt32 = 4242, argument: [UInt8] = []) -> Bytes {
        let b = Bytes()
        b.u32(UInt32(40 + argument.count)).u32(opcode).u64(unique).u64(nodeID)
        b.u32(uid).u32(gid).u32(pid).u16(0).u16(0)
        return b.raw(argument)
    }

    /// A reply: `fuse_out_header` (16 bytes) and `payload`; an error has none.
    static func reply(unique: UInt64, error: Int32 = 0, payload: Bytes = Bytes()) -> Bytes {
        let b = Bytes()
        b.u32(UInt32(16 + payload.bytes.count)).i32(-error).u64(unique)
        return b.raw(payload.bytes)
    }
}

/// The kernel's side of a connection: a `SOCK_SEQPACKET` socket pair (one
/// message per read, as /dev/fuse has it), the daemon's end served by a real
/// `FUSEConnection` and its worker threads.
final class FakeKernel {
    let kernelEnd: Int32
    let daemonEnd: Int32
    let connection: FUSEConnection

    init(handler: FUSERequestHandler, minor: UInt32 = 40) {
        _ = cfuse3_install_wake_handler(FUSEConnection.wakeSignal)
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        kernelEnd = fds[0]
        daemonEnd = fds[1]
        connection = FUSEConnection(
            transport: FileDescriptorTransport(fd: daemonEnd),
            parameters: FUSEInitParameters(major: 7, minor: minor, flags: 0, maxWrite: 4096, maxReadahead: 0),
            handler: handler, logger: Logger(label: "test"), maxThreads: 4)
    }

    func start() { connection.start() }

    func stop() {
        connection.stop()
        close(kernelEnd)
        close(daemonEnd)
    }

    func send(_ request: Bytes) {
        let n = request.bytes.withUnsafeBytes { write(kernelEnd, $0.baseAddress, $0.count) }
        precondition(n == request.bytes.count)
    }

    /// The next message the daemon wrote, or `nil` after `timeout` seconds.
    func receive(timeout: Double = 3) -> Bytes? {
        var p = pollfd(fd: kernelEnd, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&p, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        let n = buffer.withUnsafeMutableBytes { read(kernelEnd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return Bytes(bytes: Array(buffer[..<n]))
    }

    /// Sends `request` and returns the reply.
    func exchange(_ request: Bytes, file: StaticString = #filePath, line: UInt = #line) -> Bytes {
        send(request)
        guard let reply = receive() else {
            XCTFail("no reply", file: file, line: line)
            return Bytes()
        }
        return reply
    }
}

/// The 64-bit FNV-1a hash of `path`, 0 and 1 moved to 2 and 3, the root 1:
/// the node ids the filesystem promises (written again here, by hand).
func expectedNodeID(_ path: String) -> UInt64 {
    if path == "/" { return 1 }
    var h: UInt64 = 14_695_981_039_346_656_037
    for b in path.utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
    return h < 2 ? h + 2 : h
}
