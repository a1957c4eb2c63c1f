import Foundation
import Logging
import Synchronization
import XCTest
@testable import FUSEProtocol

/// The connection's own messages: INIT, notifications, failed writes.
final class ConnectionTests: XCTestCase {
    /// Answers nothing (the requests here never reach a handler).
    final class NoHandler: FUSERequestHandler {
        func handle(_ request: FUSERequest, reply: FUSEResponder) {}
    }

    /// A transport whose every send fails with `error`.
    final class FailingTransport: FUSETransport {
        let error: Int32
        let sends = Atomic<Int>(0)
        init(error: Int32) { self.error = error }
        func receive(into buffer: UnsafeMutableRawBufferPointer) -> FUSEReceived { .ended }
        func waitReadable(milliseconds: Int32) -> Result<Bool, FUSEErrno> { .success(false) }
        func send(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) throws(FUSEErrno) {
            sends.add(1, ordering: .relaxed)
            throw FUSEErrno(error)
        }
    }

    func testAFailedReplyIsCountedNotDropped() {
        let transport = FailingTransport(error: EINVAL)
        let connection = FUSEConnection(transport: transport,
                                        parameters: FUSEInitParameters(major: 7, minor: 40, flags: 0, maxWrite: 4096, maxReadahead: 0),
                                        handler: NoHandler(), logger: Logger(label: "test"))
        XCTAssertEqual(connection.failedReplies, 0)
        FUSEResponder(unique: 5, connection: connection).error(FUSEErrno(ENOENT))
        FUSEResponder(unique: 6, connection: connection).data([1, 2, 3][...])
        connection.notifyPoll(kh: 9)
        XCTAssertFalse(connection.notifyResend())
        XCTAssertEqual(transport.sends.load(ordering: .relaxed), 4)
        XCTAssertEqual(connection.failedReplies, 4)
    }

    func testNotificationsOnTheWire() {
        let kernel = FakeKernel(handler: NoHandler())
        defer { kernel.stop() }
        XCTAssertTrue(kernel.connection.notifyResend())
        // FUSE_NOTIFY_RESEND (7): a bare header, unique 0.
        XCTAssertEqual(kernel.receive(), Bytes().u32(16).u32(7).u64(0))
        kernel.connection.notifyPoll(kh: 0x1234)
        // FUSE_NOTIFY_POLL (1): the kernel's poll handle.
        XCTAssertEqual(kernel.receive(), Bytes().u32(24).u32(1).u64(0).u64(0x1234))
    }

    func testNoResendBeforeProtocol740() {
        let kernel = FakeKernel(handler: NoHandler(), minor: 38)
        defer { kernel.stop() }
        XCTAssertFalse(kernel.connection.notifyResend())
        XCTAssertNil(kernel.receive(timeout: 0.1))
    }

    /// INIT on a fresh connection: the daemon's answer, and what it agreed.
    func testInitNegotiation() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        // fuse_init_in: major 7, minor 41, max_readahead 128 KiB, every flag offered.
        let initIn = Bytes().u32(7).u32(41).u32(131_072).u32(0xffff_ffff).zeros(48).bytes
        let request = Bytes.request(opcode: 26, unique: 1, nodeID: 0, argument: initIn)
        _ = request.bytes.withUnsafeBytes { write(fds[0], $0.baseAddress, $0.count) }
        let agreed = try FUSEConnection.negotiateInit(transport: FileDescriptorTransport(fd: fds[1]))
        // ASYNC_READ (1) | ATOMIC_O_TRUNC (8) | BIG_WRITES (32) | PARALLEL_DIROPS (1 << 18).
        let flags: UInt32 = 1 | 8 | 32 | 1 << 18
        XCTAssertEqual(agreed, FUSEInitParameters(major: 7, minor: 40, flags: flags, maxWrite: 4096, maxReadahead: 131_072))
        let out = Bytes()
        // major, minor, max_readahead, flags, max_background, congestion_threshold,
        // max_write, time_gran, max_pages, map_alignment, flags2, unused[7].
        out.u32(7).u32(40).u32(131_072).u32(flags).u16(64).u16(48).u32(4096).u32(1).u16(0).u16(0).u32(0).zeros(28)
        let kernel = FakeKernelReader(fd: fds[0])
        XCTAssertEqual(kernel.receive(), .reply(unique: 1, payload: out))
    }

    func testInitOfAnotherMajorIsRefusedWithEPROTO() {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let request = Bytes.request(opcode: 26, unique: 2, nodeID: 0, argument: Bytes().u32(6).u32(1).zeros(56).bytes)
        _ = request.bytes.withUnsafeBytes { write(fds[0], $0.baseAddress, $0.count) }
        XCTAssertThrowsError(try FUSEConnection.negotiateInit(transport: FileDescriptorTransport(fd: fds[1])))
        // An error reply is a bare header (the error of the old `reply(fd:unique:error:value:)` was ignored).
        XCTAssertEqual(FakeKernelReader(fd: fds[0]).receive(), .reply(unique: 2, error: EPROTO))
    }

    func testTheDecodingTable() {
        func decode(_ b: Bytes) -> FUSEOperation {
            b.bytes.withUnsafeBytes { FUSERequest.decode($0).operation }
        }
        XCTAssertEqual(decode(.request(opcode: 1, unique: 1, nodeID: 1, argument: Array("a\0b".utf8))), .lookup(name: "a"))
        XCTAssertEqual(decode(.request(opcode: 14, unique: 1, nodeID: 1, argument: Bytes().u32(2).u32(0).bytes)), .open(flags: 2))
        XCTAssertEqual(decode(.request(opcode: 16, unique: 1, nodeID: 1,
                                       argument: Bytes().u64(3).u64(4).u32(2).zeros(20).raw([7, 8, 9]).bytes)),
                       .write(handle: 3, offset: 4, data: [7, 8]))
        XCTAssertEqual(decode(.request(opcode: 40, unique: 1, nodeID: 1, argument: Bytes().u64(3).u64(4).u32(1).u32(5).bytes)),
                       .poll(handle: 3, kh: 4, flags: 1, events: 5))
        XCTAssertEqual(decode(.request(opcode: 18, unique: 1, nodeID: 1, argument: Bytes().u64(3).bytes)), .malformed(opcode: 18))
        XCTAssertEqual(decode(.request(opcode: 6, unique: 1, nodeID: 1)), .mutation(.symlink))
        // FORGET (2) and BATCH_FORGET (42) are never answered.
        XCTAssertEqual(decode(.request(opcode: 2, unique: 1, nodeID: 1, argument: Bytes().u64(1).bytes)), .forget)
        XCTAssertEqual(decode(.request(opcode: 42, unique: 1, nodeID: 0, argument: Bytes().u32(0).u32(0).bytes)), .forget)
        XCTAssertEqual(decode(.request(opcode: 36, unique: 1, nodeID: 0, argument: Bytes().u64(9).bytes)), .interrupt(target: 9))
        let header = Bytes.request(opcode: 3, unique: 1 << 63 | 7, nodeID: 5, uid: 6, gid: 8, pid: 9).bytes
            .withUnsafeBytes { FUSERequest.decode($0, cpuAtRead: 11).header }
        XCTAssertEqual(header, FUSERequestHeader(unique: 1 << 63 | 7, nodeID: 5, uid: 6, gid: 8, pid: 9, cpuAtRead: 11))
        XCTAssertTrue(header.isResent)
    }
}

/// Reads one message from the kernel's end of a socket pair.
struct FakeKernelReader {
    let fd: Int32
    func receive() -> Bytes? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n < 0 ? nil : Bytes(bytes: Array(buffer[..<n]))
    }
}
