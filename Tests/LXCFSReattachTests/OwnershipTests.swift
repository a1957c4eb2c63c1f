import XCTest
import LXCFSMountInfo
@testable import LXCFSReattach

/// Whose a dead connection is: only the daemon's own mount point, the
/// `--reattach-from` paths and connections no longer mounted on the host
/// are taken over; another instance's mount point never is.
final class OwnershipTests: XCTestCase {
    // The daemon's namespace: this daemon's live mount at /srv/mine (0:70),
    // another instance's dead mount at /srv/other (0:41) and a host bind
    // of one of its files, lxcfs's dead mount at /var/lib/lxcfs (0:50),
    // and a connection whose mount point was unmounted (0:60, only a bind
    // of a file is left).
    let host = MountInfo.entries("""
        27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
        40 27 0:70 / /srv/mine rw,nosuid - fuse.lxcfs swift-lxcfs rw,user_id=0
        41 27 0:41 / /srv/other rw,nosuid - fuse.lxcfs swift-lxcfs rw,user_id=0
        42 27 0:41 /proc/meminfo /srv/chroot/proc/meminfo rw - fuse.lxcfs swift-lxcfs rw
        43 27 0:50 / /var/lib/lxcfs rw,nosuid - fuse.lxcfs lxcfs rw,user_id=0
        44 27 0:60 /proc/uptime /srv/chroot/proc/uptime rw - fuse.lxcfs lxcfs rw
        45 27 0:80 / /srv/with\\040space/ rw - fuse.lxcfs lxcfs rw
        """)

    func testAnotherInstancesMountPointIsNotTaken() {
        let owner = ConnectionOwner.of(device: "0:41", ownTable: host, claimedPaths: ["/srv/mine", "/var/lib/lxcfs"])
        XCTAssertEqual(owner, .otherInstance(["/srv/other"]))
        XCTAssertFalse(owner.isAdopted)
    }

    func testTheReplacedLxcfsPathIsTaken() {
        let owner = ConnectionOwner.of(device: "0:50", ownTable: host, claimedPaths: ["/srv/mine", "/var/lib/lxcfs"])
        XCTAssertEqual(owner, .claimed("/var/lib/lxcfs"))
        XCTAssertTrue(owner.isAdopted)
        // Not named: another instance's.
        XCTAssertEqual(ConnectionOwner.of(device: "0:50", ownTable: host, claimedPaths: ["/srv/mine"]),
                       .otherInstance(["/var/lib/lxcfs"]))
    }

    func testNamingTheOtherPathTakesItOver() {
        XCTAssertEqual(ConnectionOwner.of(device: "0:41", ownTable: host, claimedPaths: ["/srv/mine", "/srv/other"]),
                       .claimed("/srv/other"))
    }

    func testAConnectionWithoutAMountPointIsAnOrphanAndTaken() {
        // A bind of one file (root /proc/uptime) does not name a mount point.
        let owner = ConnectionOwner.of(device: "0:60", ownTable: host, claimedPaths: ["/srv/mine"])
        XCTAssertEqual(owner, .orphaned)
        XCTAssertTrue(owner.isAdopted)
        XCTAssertEqual(ConnectionOwner.of(device: "0:99", ownTable: host, claimedPaths: []), .orphaned)
    }

    func testPathsCompareUnescapedAndWithoutTrailingSlash() {
        XCTAssertEqual(ConnectionOwner.of(device: "0:80", ownTable: host, claimedPaths: ["/srv/with space"]),
                       .claimed("/srv/with space/"))
        XCTAssertEqual(ConnectionOwner.normalized("/a/b//"), "/a/b")
        XCTAssertEqual(ConnectionOwner.normalized("/"), "/")
    }

    func testResolvedKeepsTheLastComponentAndResolvesTheFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("own-\(getpid())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("real"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let link = dir.appendingPathComponent("link").path
        XCTAssertEqual(symlink(dir.appendingPathComponent("real").path, link), 0)
        let real = Finder.resolved(dir.appendingPathComponent("real").path)
        // The folder's link is resolved; the last component (a dead mount point could not be) is kept.
        XCTAssertEqual(Finder.resolved(link + "/mnt/"), real + "/mnt")
        XCTAssertEqual(Finder.resolved(link), Finder.resolved(dir.path) + "/link")
        XCTAssertEqual(Finder.resolved("/"), "/")
    }
}
