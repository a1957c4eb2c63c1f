import XCTest
import LXCFSMountInfo
@testable import LXCFSReattach

final class MountTableTests: XCTestCase {
    let table = """
        27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        22 27 0:21 / /proc rw,relatime - proc proc rw
        43 27 0:41 / /var/lib/lxcfs rw,nosuid,nodev,relatime shared:5 - fuse.lxcfs lxcfs rw,user_id=0,group_id=0,allow_other
        80 22 0:41 /proc/meminfo /proc/meminfo ro,nosuid,nodev,relatime - fuse.lxcfs lxcfs rw,user_id=0
        81 80 0:55 /proc/meminfo /proc/meminfo rw,nosuid,nodev,relatime master:7 - fuse.lxcfs swift-lxcfs rw
        82 27 0:41 /sys/devices/system/cpu /sys/devices/system/cpu rw,nosuid,nodev,relatime - fuse.lxcfs lxcfs rw
        83 82 0:60 / /sys/devices/system/cpu/x\\040y rw - tmpfs none rw
        84 27 0:41 /cgroup /my\\040dir\\134z rw - fuse.lxcfs lxcfs rw
        garbage line
        """

    func testParsesFieldsAndUnescapesPaths() {
        let m = MountInfo.entries(table)
        XCTAssertEqual(m.count, 8)
        XCTAssertEqual(m[2].device, "0:41")
        XCTAssertEqual(m[2].optionalFields, ["shared:5"])
        XCTAssertEqual(m[2].fsType, "fuse.lxcfs")
        XCTAssertTrue(m[2].isLXCFSType)
        XCTAssertEqual(m[3].root, "/proc/meminfo")
        XCTAssertEqual(m[3].options, ["ro", "nosuid", "nodev", "relatime"])
        XCTAssertEqual(m[4].source, "swift-lxcfs")
        XCTAssertEqual(m[6].mountPoint, "/sys/devices/system/cpu/x y")
        XCTAssertEqual(m[7].mountPoint, "/my dir\\z")
        XCTAssertFalse(m[0].isLXCFSType)
    }

    func testTopmostAndCoveredAndInside() {
        let m = MountInfo.entries(table)
        XCTAssertEqual(MountTable.topmost(at: "/proc/meminfo", in: m)?.id, 81)
        XCTAssertTrue(MountTable.isCovered(m[3], in: m))
        XCTAssertFalse(MountTable.isCovered(m[4], in: m))
        XCTAssertEqual(MountTable.mounts(inside: m[5], in: m).map(\.id), [83])
        XCTAssertTrue(MountTable.mounts(inside: m[3], in: m).isEmpty)
    }
}

final class ContainerIDTests: XCTestCase {
    let id = String(repeating: "0123456789abcdef", count: 4)

    func testEngineSpellings() {
        XCTAssertEqual(ContainerID.find(inCgroupText: "0::/system.slice/docker-\(id).scope\n"), id)
        XCTAssertEqual(ContainerID.find(inCgroupText: "4:memory:/docker/\(id)\n3:cpu:/docker/\(id)\n"), id)
        XCTAssertEqual(ContainerID.find(inCgroupText: "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-\(id).scope"), id)
        XCTAssertEqual(ContainerID.find(inCgroupText: "0::/machine.slice/libpod-\(id).scope/container"), id)
        XCTAssertEqual(ContainerID.find(inCgroupText: "0::/kubepods/burstable/pod9/crio-\(id).scope"), id)
        XCTAssertEqual(ContainerID.find(inCgroupText: "12:pids:/swl-dd-x/\(id)\n"), id)
    }

    func testNoContainer() {
        XCTAssertNil(ContainerID.find(inCgroupText: "0::/user.slice/session-1.scope\n"))
        XCTAssertNil(ContainerID.find(inCgroupText: "0::/crio-conmon-\(id).scope\n"))
        XCTAssertNil(ContainerID.find(inCgroupText: ""))
        // Hexadecimal, but not 64 digits: a cgroup named like a short id.
        XCTAssertNil(ContainerID.find(inCgroupText: "0::/deadbeef/\(id.dropLast())\n"))
    }
}

final class HelperProtocolTests: XCTestCase {
    func testArgumentsAndResults() {
        let live = LiveMount(mountPoint: "/var/lib/lxcfs", device: "0:55", id: 90)
        let item = HelperItem(MountInfo.entries("80 22 0:41 /proc/meminfo /proc/meminfo ro,nosuid - fuse.lxcfs lxcfs rw")[0])
        XCTAssertEqual(NamespaceHelper.arguments(live: live, pid: 7, inode: 4026531840, mode: .beneath, items: [item]),
                       ["__reattach-ns", "/var/lib/lxcfs", "0:55", "7", "4026531840", "beneath",
                        "80", "/proc/meminfo", "/proc/meminfo", "ro,nosuid"])
        let (results, ns) = NamespaceHelper.parse("80\treplaced\tbeneath\n81\tfailed\tno\tway\n82\tgone\tx\n83\talready\ty\n")
        XCTAssertNil(ns)
        XCTAssertEqual(results[80], .replaced("beneath"))
        XCTAssertEqual(results[81], .failed("no\tway"))
        XCTAssertEqual(results[82], .gone)
        XCTAssertEqual(results[83], .alreadyLive)
        XCTAssertEqual(NamespaceHelper.parse("ns\tgone\tprocess 7 exited\n").namespace, "process 7 exited")
    }
}
