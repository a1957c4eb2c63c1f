import Foundation
import XCTest
import LXCFSMountInfo

/// The one mountinfo parser, on lines as the kernel writes them
/// (fs/proc_namespace.c, show_mountinfo) and on lines it never writes.
final class MountInfoTests: XCTestCase {
    func testAllFieldsOfALineWithoutOptionalFields() throws {
        let e = try XCTUnwrap(MountInfo.entry(line("27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw,errors=remount-ro")))
        XCTAssertEqual(e, MountInfo.Entry(id: 27, parentID: 1, device: "254:1", root: "/", mountPoint: "/",
                                          options: ["rw", "relatime"], optionalFields: [], fsType: "ext4",
                                          source: "/dev/vda1", superOptions: ["rw", "errors=remount-ro"]))
        XCTAssertFalse(e.isLXCFSType)
    }

    func testSeveralOptionalFieldsEndAtTheSeparator() throws {
        let e = try XCTUnwrap(MountInfo.entry(line(
            "43 27 0:41 / /var/lib/lxcfs rw,nosuid,nodev shared:5 master:1 propagate_from:2 unbindable - fuse.lxcfs lxcfs rw,user_id=0,allow_other")))
        XCTAssertEqual(e.optionalFields, ["shared:5", "master:1", "propagate_from:2", "unbindable"])
        XCTAssertEqual(e.options, ["rw", "nosuid", "nodev"])
        XCTAssertEqual(e.fsType, "fuse.lxcfs")
        XCTAssertEqual(e.source, "lxcfs")
        XCTAssertEqual(e.superOptions, ["rw", "user_id=0", "allow_other"])
        XCTAssertTrue(e.isLXCFSType)
    }

    func testOctalEscapesInRootMountPointAndSource() throws {
        // A space, a tab, a newline and a backslash, as the kernel escapes them.
        let e = try XCTUnwrap(MountInfo.entry(line(
            #"50 27 0:60 /a\040b /srv/my\040mnt\011x\012y\134z rw shared:9 - fuse.lxcfs my\040src rw"#)))
        XCTAssertEqual(e.root, "/a b")
        XCTAssertEqual(e.mountPoint, "/srv/my mnt\tx\ny\\z")
        XCTAssertEqual(e.source, "my src")
        XCTAssertEqual(e.optionalFields, ["shared:9"])
    }

    func testABackslashThatIsNoEscapeStays() {
        XCTAssertEqual(MountInfo.unescape(#"/a\x41\04"#), #"/a\x41\04"#)
        XCTAssertEqual(MountInfo.unescape(#"/a\400b"#), #"/a\400b"#)   // past 255: not an escape
        XCTAssertEqual(MountInfo.unescape(#"/a\0408"#), "/a 8")
        XCTAssertEqual(MountInfo.unescape(#"\134\040"#), "\\ ")
        XCTAssertEqual(MountInfo.unescape("/plain"), "/plain")
        XCTAssertEqual(MountInfo.unescape(#"/end\"#), #"/end\"#)
    }

    func testAnEmptySourceIsAFieldOfItsOwn() throws {
        // A source the kernel prints as nothing leaves two spaces; the super
        // options must not slide into the source.
        let e = try XCTUnwrap(MountInfo.entry(line("60 27 0:70 / /mnt rw - tmpfs  rw,size=4k")))
        XCTAssertEqual(e.source, "")
        XCTAssertEqual(e.superOptions, ["rw", "size=4k"])
    }

    func testAMissingSourceOrSuperOptionsIsEmpty() throws {
        let e = try XCTUnwrap(MountInfo.entry(line("61 27 0:71 / /m rw - tmpfs")))
        XCTAssertEqual(e.fsType, "tmpfs")
        XCTAssertEqual(e.source, "")
        XCTAssertEqual(e.superOptions, [])
        XCTAssertEqual(try XCTUnwrap(MountInfo.entry(line("62 27 0:72 / /n rw - tmpfs none"))).superOptions, [])
    }

    func testLinesThatAreNoMountAreSkipped() {
        for bad in ["", "garbage line", "38 25 0:33 / /short rw -", "38 25 0:33 / /nosep rw tmpfs none rw",
                    "x 25 0:33 / /m rw - tmpfs none rw", "38 y 0:33 / /m rw - tmpfs none rw",
                    "38 25 0:33 / - tmpfs none rw", "38 25 0:33 / /m rw -  none rw"] {
            XCTAssertNil(MountInfo.entry(line(bad)), bad)
        }
    }

    func testEntriesKeepFileOrderAndSkipBadLines() {
        let text = """
            36 25 0:31 / /var/lib/my\\040mnt rw,nosuid shared:7 master:1 - fuse.lxcfs swift-lxcfs rw,user_id=0
            garbage line

            37 25 0:32 /kube /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
            38 25 0:33 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
            """   // no newline after the last line
        let e = MountInfo.entries(text)
        XCTAssertEqual(e.map(\.id), [36, 37, 38])
        XCTAssertEqual(e[0].mountPoint, "/var/lib/my mnt")
        XCTAssertEqual(e[1].root, "/kube")
        XCTAssertEqual(e[1].superOptions, ["rw", "memory"])
        XCTAssertEqual(e[2].fsType, "cgroup2")
        XCTAssertEqual(MountInfo.entries(Array(text.utf8)[...]), e)
        XCTAssertEqual(MountInfo.entries(Array((text + "\n").utf8).dropFirst(0)), e)
        // A slice that does not start at index 0.
        let padded = Array(("xx\n" + text).utf8)
        XCTAssertEqual(MountInfo.entries(padded[3...]), e)
    }

    func testTheRealMountinfoParses() throws {
        let text = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let lines = text.split(separator: "\n")
        let e = MountInfo.entries(text)
        XCTAssertEqual(e.count, lines.count)
        XCTAssertTrue(e.contains { $0.mountPoint == "/" })
        XCTAssertTrue(e.allSatisfy { !$0.fsType.isEmpty && $0.device.contains(":") })
    }

    private func line(_ s: String) -> ArraySlice<UInt8> { Array(s.utf8)[...] }
}
