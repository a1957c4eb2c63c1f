import LXCFSSystem
import SystemPackage
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class DescriptorPassingTests: XCTestCase {
    /// A connected pair of SOCK_SEQPACKET unix sockets.
    func socketPair() throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds), 0)
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    func testBytesAndDescriptorsGoThroughAndExtrasAreClosed() throws {
        let (a, b) = try socketPair()
        defer { try? a.close(); try? b.close() }
        var pipe: [Int32] = [-1, -1]
        XCTAssertEqual(Glibc.pipe(&pipe), 0)
        let (r, w) = (FileDescriptor(rawValue: pipe[0]), FileDescriptor(rawValue: pipe[1]))
        defer { try? r.close(); try? w.close() }
        XCTAssertEqual(try DescriptorPassing.send(a, Array("swift-lxcfs handover 1".utf8), descriptors: [r, w, r]), 22)
        var buffer = [UInt8](repeating: 0, count: 64)
        let got = try buffer.withUnsafeMutableBytes { try DescriptorPassing.receive(b, into: $0, maxDescriptors: 2) }
        XCTAssertEqual(got.count, 22)
        XCTAssertEqual(String(decoding: buffer[..<got.count], as: UTF8.self), "swift-lxcfs handover 1")
        XCTAssertFalse(got.truncated)
        XCTAssertEqual(got.descriptors.count, 2)
        XCTAssertNil(got.sender, "no SO_PASSCRED")
        // The received write end writes into the pipe whose read end was sent too.
        XCTAssertEqual(try [UInt8(7)].withUnsafeBytes { try got.descriptors[1].write($0) }, 1)
        var byte: [UInt8] = [0]
        XCTAssertEqual(try byte.withUnsafeMutableBytes { try got.descriptors[0].read(into: $0) }, 1)
        XCTAssertEqual(byte, [7])
        XCTAssertEqual(fcntl(got.descriptors[0].rawValue, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC)
        got.descriptors.forEach { try? $0.close() }
    }

    func testTooManyDescriptorsAndAnEmptySocketAreErrors() throws {
        let (a, b) = try socketPair()
        defer { try? a.close(); try? b.close() }
        XCTAssertThrowsError(try DescriptorPassing.send(a, [1], descriptors: Array(repeating: a, count: 9))) {
            XCTAssertEqual($0 as? Errno, .invalidArgument)
        }
        var buffer = [UInt8](repeating: 0, count: 8)
        XCTAssertThrowsError(try buffer.withUnsafeMutableBytes {
            try DescriptorPassing.receive(b, into: $0, maxDescriptors: 1, flags: Int32(MSG_DONTWAIT))
        }) { XCTAssertEqual($0 as? Errno, .wouldBlock) }
    }
}
