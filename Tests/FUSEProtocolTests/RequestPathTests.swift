import Foundation
import Logging
import LXCFSCore
import XCTest
@testable import FUSEProtocol
@testable import LXCFSFilesystem

/// The request path without root or a mount: request bytes go into a real
/// `FUSEConnection` through a socket pair, the real `ContainerFilesystem`
/// over a fixture host root answers, and the reply bytes are compared with
/// bytes written out by hand.
final class RequestPathTests: XCTestCase {
    static let meminfo = "MemTotal:        1000000 kB\nMemFree:          500000 kB\nMemAvailable:     700000 kB\n"

    var root: URL!
    var fs: ContainerFilesystem!
    var kernel: FakeKernel!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("swift-lxcfs-wire-\(UUID().uuidString)")
        func write(_ path: String, _ text: String) throws {
            let file = root.appendingPathComponent(String(path.dropFirst()))
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: false, encoding: .utf8)
        }
        // Pid 4242 has no /proc/4242: it is in no container, and reads the host's files.
        try write("/proc/meminfo", Self.meminfo)
        try write("/sys/devices/system/cpu/online", "0-1\n")
        fs = ContainerFilesystem(view: ContainerView(root: HostRoot(root.path)), logger: Logger(label: "test"))
        kernel = FakeKernel(handler: fs)
        kernel.start()
    }

    override func tearDown() {
        kernel.stop()
        try? FileManager.default.removeItem(at: root)
    }

    // MARK: Expected bytes, by hand

    /// `fuse_attr` (88 bytes).
    func attr(ino: UInt64, size: UInt64 = 0, mode: UInt32, nlink: UInt32) -> Bytes {
        let t = fs.startTime
        let b = Bytes()
        b.u64(ino).u64(size).u64(0)
        b.u64(t.seconds).u64(t.seconds).u64(t.seconds)
        b.u32(t.nanoseconds).u32(t.nanoseconds).u32(t.nanoseconds)
        b.u32(mode).u32(nlink).u32(0).u32(0).u32(0).u32(4096).u32(0)
        return b
    }

    /// `fuse_entry_out` (128 bytes).
    func entry(node: UInt64, entryValid: UInt64, attrValid: UInt64, attr: Bytes?) -> Bytes {
        let b = Bytes()
        b.u64(node).u64(0).u64(entryValid).u64(attrValid).u32(0).u32(0)
        if let attr { b.raw(attr.bytes) } else { b.zeros(88) }
        return b
    }

    func name(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    static let procID = expectedNodeID("/proc")
    static let meminfoID = expectedNodeID("/proc/meminfo")

    // MARK: LOOKUP, GETATTR

    func testLookupOfAFileAnswersItsEntry() {
        let reply = kernel.exchange(.request(opcode: 1, unique: 10, nodeID: Self.procID, argument: name("meminfo")))
        let file = attr(ino: Self.meminfoID, mode: 0o100444, nlink: 1)
        XCTAssertEqual(reply, .reply(unique: 10, payload: entry(node: Self.meminfoID, entryValid: 300, attrValid: 300, attr: file)))
    }

    func testLookupOfAMissingNameAnswersANegativeEntry() {
        let reply = kernel.exchange(.request(opcode: 1, unique: 11, nodeID: Self.procID, argument: name("nosuchfile")))
        XCTAssertEqual(reply, .reply(unique: 11, payload: entry(node: 0, entryValid: 300, attrValid: 0, attr: nil)))
    }

    func testLookupOfDotOrEmptyOrUnterminatedNamesIsENOENT() {
        XCTAssertEqual(kernel.exchange(.request(opcode: 1, unique: 12, nodeID: 1, argument: name("."))), .reply(unique: 12, error: ENOENT))
        XCTAssertEqual(kernel.exchange(.request(opcode: 1, unique: 13, nodeID: 1, argument: name(".."))), .reply(unique: 13, error: ENOENT))
        XCTAssertEqual(kernel.exchange(.request(opcode: 1, unique: 14, nodeID: 1, argument: [0])), .reply(unique: 14, error: ENOENT))
        XCTAssertEqual(kernel.exchange(.request(opcode: 1, unique: 15, nodeID: 1, argument: Array("proc".utf8))),
                       .reply(unique: 15, error: ENOENT))
    }

    func testAnUnknownNodeIsESTALE() {
        XCTAssertEqual(kernel.exchange(.request(opcode: 1, unique: 16, nodeID: 0xdead_beef, argument: name("x"))),
                       .reply(unique: 16, error: ESTALE))
        XCTAssertEqual(kernel.exchange(.request(opcode: 3, unique: 17, nodeID: 0xdead_beef, argument: Bytes().zeros(16).bytes)),
                       .reply(unique: 17, error: ESTALE))
        XCTAssertEqual(kernel.exchange(.request(opcode: 27, unique: 18, nodeID: 0xdead_beef, argument: Bytes().zeros(8).bytes)),
                       .reply(unique: 18, error: ESTALE))
    }

    func testGetattrOfTheRootAnswersItsAttributes() {
        // fuse_getattr_in: getattr_flags, dummy, fh.
        let reply = kernel.exchange(.request(opcode: 3, unique: 20, nodeID: 1, argument: Bytes().zeros(16).bytes))
        let out = Bytes()
        out.u64(300).u32(0).u32(0)
        // The root holds proc and sys: 2 + 2 links.
        out.raw(attr(ino: 1, mode: 0o040555, nlink: 4).bytes)
        XCTAssertEqual(reply, .reply(unique: 20, payload: out))
    }

    func testAResentRequestIsAnsweredWithItsUniqueAsSent() {
        let unique: UInt64 = 1 << 63 | 21
        let reply = kernel.exchange(.request(opcode: 3, unique: unique, nodeID: 0xdead_beef))
        XCTAssertEqual(reply, .reply(unique: unique, error: ESTALE))
    }

    // MARK: OPEN, READ, RELEASE, POLL, WRITE

    func open(flags: UInt32, unique: UInt64, node: UInt64 = RequestPathTests.meminfoID) -> Bytes {
        kernel.exchange(.request(opcode: 14, unique: unique, nodeID: node, argument: Bytes().u32(flags).u32(0).bytes))
    }

    /// A READ's argument (`fuse_read_in`, 40 bytes).
    func readIn(fh: UInt64, offset: UInt64, size: UInt32) -> [UInt8] {
        Bytes().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).bytes
    }

    func testOpenReadAndReleaseServeTheRendering() {
        let opened = open(flags: 0, unique: 30)
        XCTAssertEqual(opened.bytes.count, 32)
        XCTAssertEqual(Array(opened.bytes[0..<16]), Bytes.reply(unique: 30, payload: Bytes().zeros(16)).bytes[0..<16].map { $0 })
        // FOPEN_DIRECT_IO (1) | FOPEN_NOFLUSH (32), then the padding.
        XCTAssertEqual(Array(opened.bytes[24..<32]), [0x21, 0, 0, 0, 0, 0, 0, 0])
        let fh = opened.bytes[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        XCTAssertNotEqual(fh, 0)

        let text = Array(Self.meminfo.utf8)
        XCTAssertEqual(kernel.exchange(.request(opcode: 15, unique: 31, nodeID: Self.meminfoID,
                                                argument: readIn(fh: fh, offset: 0, size: 4096))),
                       .reply(unique: 31, payload: Bytes(bytes: text)))
        // Past the end: no bytes.
        XCTAssertEqual(kernel.exchange(.request(opcode: 15, unique: 32, nodeID: Self.meminfoID,
                                                argument: readIn(fh: fh, offset: UInt64(text.count), size: 4096))),
                       .reply(unique: 32))
        // A rendered file is always readable: POLLIN | POLLRDNORM.
        let pollIn = Bytes().u64(fh).u64(99).u32(1).u32(1).bytes
        XCTAssertEqual(kernel.exchange(.request(opcode: 40, unique: 33, nodeID: Self.meminfoID, argument: pollIn)),
                       .reply(unique: 33, payload: Bytes().u32(0x41).u32(0)))
        // A write on a handle that holds no trigger.
        let writeIn = Bytes().u64(fh).u64(0).u32(4).u32(0).u64(0).u32(0).u32(0).raw(Array("some".utf8)).bytes
        XCTAssertEqual(kernel.exchange(.request(opcode: 16, unique: 34, nodeID: Self.meminfoID, argument: writeIn)),
                       .reply(unique: 34, error: EACCES))
        // fuse_release_in: fh, flags, release_flags, lock_owner.
        let releaseIn = Bytes().u64(fh).u32(0).u32(0).u64(0).bytes
        XCTAssertEqual(kernel.exchange(.request(opcode: 18, unique: 35, nodeID: Self.meminfoID, argument: releaseIn)),
                       .reply(unique: 35))
    }

    func testAReadOfAHandleFromAnEarlierProcessRendersForTheCaller() {
        // Generation 0 is never this process's; length field 0x7fff: unknown.
        let fh: UInt64 = 0x7fff << 32 | 5
        XCTAssertEqual(kernel.exchange(.request(opcode: 15, unique: 36, nodeID: Self.meminfoID,
                                                argument: readIn(fh: fh, offset: 0, size: 4096))),
                       .reply(unique: 36, payload: Bytes(bytes: Array(Self.meminfo.utf8))))
        XCTAssertEqual(kernel.exchange(.request(opcode: 15, unique: 37, nodeID: Self.procID,
                                                argument: readIn(fh: fh | 1 << 20, offset: 0, size: 4096))),
                       .reply(unique: 37, error: EISDIR))
    }

    func testOpenRefusals() {
        XCTAssertEqual(open(flags: UInt32(O_WRONLY), unique: 40), .reply(unique: 40, error: EACCES))
        XCTAssertEqual(open(flags: UInt32(O_RDONLY | O_TRUNC), unique: 41), .reply(unique: 41, error: EACCES))
        XCTAssertEqual(open(flags: 0, unique: 42, node: Self.procID), .reply(unique: 42, error: EISDIR))
        XCTAssertEqual(open(flags: 0, unique: 43, node: 0xdead_beef), .reply(unique: 43, error: ESTALE))
    }

    func testAShortReadArgumentIsEINVAL() {
        XCTAssertEqual(kernel.exchange(.request(opcode: 15, unique: 44, nodeID: Self.meminfoID, argument: Bytes().zeros(16).bytes)),
                       .reply(unique: 44, error: EINVAL))
    }

    // MARK: Directories

    /// One `fuse_dirent`: ino, off, namelen, type, the name padded to 8 bytes.
    func dirent(_ name: String, ino: UInt64, next: UInt64) -> [UInt8] {
        let b = Bytes()
        b.u64(ino).u64(next).u32(UInt32(name.utf8.count)).u32(0).raw(Array(name.utf8))
        return b.zeros((8 - (24 + name.utf8.count) % 8) % 8).bytes
    }

    func testOpendirReaddirAndReleasedir() {
        XCTAssertEqual(kernel.exchange(.request(opcode: 27, unique: 50, nodeID: 1, argument: Bytes().zeros(8).bytes)),
                       .reply(unique: 50, payload: Bytes().zeros(16)))
        let all = dirent(".", ino: 1, next: 1) + dirent("..", ino: 1, next: 2)
            + dirent("proc", ino: Self.procID, next: 3) + dirent("sys", ino: expectedNodeID("/sys"), next: 4)
        XCTAssertEqual(all.count, 4 * 32)
        XCTAssertEqual(kernel.exchange(.request(opcode: 28, unique: 51, nodeID: 1, argument: readIn(fh: 0, offset: 0, size: 4096))),
                       .reply(unique: 51, payload: Bytes(bytes: all)))
        // Only whole entries that fit: 63 bytes hold one.
        XCTAssertEqual(kernel.exchange(.request(opcode: 28, unique: 52, nodeID: 1, argument: readIn(fh: 0, offset: 0, size: 63))),
                       .reply(unique: 52, payload: Bytes(bytes: Array(all[0..<32]))))
        // From an offset: the entries after it.
        XCTAssertEqual(kernel.exchange(.request(opcode: 28, unique: 53, nodeID: 1, argument: readIn(fh: 0, offset: 3, size: 4096))),
                       .reply(unique: 53, payload: Bytes(bytes: Array(all[96...]))))
        XCTAssertEqual(kernel.exchange(.request(opcode: 28, unique: 54, nodeID: 1, argument: readIn(fh: 0, offset: 9, size: 4096))),
                       .reply(unique: 54))
        // A file is no directory.
        XCTAssertEqual(kernel.exchange(.request(opcode: 28, unique: 55, nodeID: Self.meminfoID,
                                                argument: readIn(fh: 0, offset: 0, size: 4096))),
                       .reply(unique: 55, error: ENOENT))
        XCTAssertEqual(kernel.exchange(.request(opcode: 27, unique: 56, nodeID: Self.meminfoID, argument: Bytes().zeros(8).bytes)),
                       .reply(unique: 56, error: ENOENT))
        XCTAssertEqual(kernel.exchange(.request(opcode: 29, unique: 57, nodeID: 1, argument: Bytes().zeros(24).bytes)),
                       .reply(unique: 57))
    }

    // MARK: The rest

    func testReadlinkOutsideTheCPUTreeIsENOENT() {
        XCTAssertEqual(kernel.exchange(.request(opcode: 5, unique: 60, nodeID: Self.meminfoID)), .reply(unique: 60, error: ENOENT))
    }

    func testStatfs() {
        let out = Bytes()
        // blocks, bfree, bavail, files, ffree; bsize, namelen, frsize, padding, spare[6].
        out.zeros(40).u32(512).u32(255).u32(0).u32(0).zeros(24)
        XCTAssertEqual(kernel.exchange(.request(opcode: 17, unique: 61, nodeID: 1)), .reply(unique: 61, payload: out))
    }

    func testMutationsAreRefused() {
        // fuse_setattr_in is 88 bytes; valid: FATTR_SIZE (8) is a truncate, FATTR_MODE (1) a change.
        XCTAssertEqual(kernel.exchange(.request(opcode: 4, unique: 62, nodeID: Self.meminfoID, argument: Bytes().u32(8).zeros(84).bytes)),
                       .reply(unique: 62, error: EACCES))
        XCTAssertEqual(kernel.exchange(.request(opcode: 4, unique: 63, nodeID: Self.meminfoID, argument: Bytes().u32(1).zeros(84).bytes)),
                       .reply(unique: 63, error: EROFS))
        // MKDIR (9), UNLINK (10), CREATE (35), RENAME2 (45).
        for (i, opcode) in [UInt32(9), 10, 35, 45].enumerated() {
            XCTAssertEqual(kernel.exchange(.request(opcode: opcode, unique: 64 + UInt64(i), nodeID: 1, argument: Bytes().zeros(16).raw(name("x")).bytes)),
                           .reply(unique: 64 + UInt64(i), error: EROFS), "opcode \(opcode)")
        }
    }

    func testUnknownOpcodesAreENOSYSAndDestroyIsAnswered() {
        // GETXATTR (22), FLUSH (25), LSEEK (46), and one no kernel has.
        for (i, opcode) in [UInt32(22), 25, 46, 9999].enumerated() {
            XCTAssertEqual(kernel.exchange(.request(opcode: opcode, unique: 70 + UInt64(i), nodeID: 1, argument: Bytes().zeros(24).bytes)),
                           .reply(unique: 70 + UInt64(i), error: ENOSYS), "opcode \(opcode)")
        }
        XCTAssertEqual(kernel.exchange(.request(opcode: 38, unique: 75, nodeID: 0)), .reply(unique: 75))
    }

    func testInterruptEndsItsTargetWithEINTRAndForgetIsNeverAnswered() {
        kernel.send(.request(opcode: 2, unique: 80, nodeID: Self.meminfoID, argument: Bytes().u64(1).bytes))
        kernel.send(.request(opcode: 42, unique: 81, nodeID: 0, argument: Bytes().u32(1).u32(0).u64(Self.meminfoID).u64(1).bytes))
        XCTAssertNil(kernel.receive(timeout: 0.2), "FORGET answered")
        // fuse_interrupt_in: the unique of the request to end.
        XCTAssertEqual(kernel.exchange(.request(opcode: 36, unique: 82, nodeID: 0, argument: Bytes().u64(77).bytes)),
                       .reply(unique: 77, error: EINTR))
        XCTAssertNil(kernel.receive(timeout: 0.2), "INTERRUPT answered twice")
    }

    func testASecondInitIsEPROTO() {
        let initIn = Bytes().u32(7).u32(38).u32(0).u32(0).zeros(48).bytes
        XCTAssertEqual(kernel.exchange(.request(opcode: 26, unique: 90, nodeID: 0, argument: initIn)), .reply(unique: 90, error: EPROTO))
    }
}
