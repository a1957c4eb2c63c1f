import XCTest
@testable import LXCFSCore

/// Cgroup paths printed relative to the daemon's own cgroup namespace
/// (`/../../kubepods/...`), as a daemon in a pod without the host's
/// namespace reads them.
final class CgroupNamespaceTests: XCTestCase {
    /// The fixture root: mountinfo roots and `/proc/PID/cgroup` paths as a
    /// daemon whose namespace root is `/kubepods/podA/daemon` reads them.
    static let fixture: HostRoot = {
        let here = #filePath
        let dir = here[..<here.lastIndex(of: "/")!]
        return HostRoot(String(dir) + "/Fixtures/cgroupns/root")
    }()

    func testComponentsResolveDotsAndKeepLeadingClimbs() {
        XCTAssertEqual(CgroupNamespace.components("/"), [])
        XCTAssertEqual(CgroupNamespace.components("/a/./b/../c"), ["a", "c"])
        XCTAssertEqual(CgroupNamespace.components("/../../kubepods/pod1"), ["..", "..", "kubepods", "pod1"])
        XCTAssertEqual(CgroupNamespace.components("/a/../../b"), ["..", "b"])
    }

    func testDirectoryBelowTheMountRoot() {
        let docker = CgroupHierarchy(controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory",
                                     mountRoot: "/docker/abc", isUnified: false)
        XCTAssertEqual(docker.directory(of: "/docker/abc"), "/sys/fs/cgroup/memory")
        XCTAssertEqual(docker.directory(of: "/docker/abc/sub"), "/sys/fs/cgroup/memory/sub")
        XCTAssertEqual(docker.directory(of: "/other"), "/sys/fs/cgroup/memory/other")
        let host = CgroupHierarchy(controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory",
                                   mountRoot: "/", isUnified: false)
        XCTAssertEqual(host.directory(of: "/"), "/sys/fs/cgroup/memory")
        XCTAssertEqual(host.directory(of: "/a/b"), "/sys/fs/cgroup/memory/a/b")
    }

    /// The fast path for plain paths gives what placing by components gives.
    func testPlainPathsArePlacedAsByComponents() {
        let paths = ["/", "/a", "/a/b", "/docker/abc-1.scope", "/a/.hidden", "/a/..", "/./a", "/a//b", "/a/",
                     "//", "", "a/b", "/kubepods/pod.1/c", "/a/b/.."]
        for mountPoint in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup", "/"] {
            let h = CgroupHierarchy(controllers: ["memory"], mountPoint: mountPoint, mountRoot: "/", isUnified: false)
            for path in paths {
                XCTAssertEqual(h.directory(of: path), h.placed(path), "\(mountPoint) \(path)")
            }
        }
        XCTAssertTrue(CgroupHierarchy.isPlain("/docker/abc-1.scope"))
        XCTAssertFalse(CgroupHierarchy.isPlain("/a/.hidden"))
        XCTAssertFalse(CgroupHierarchy.isPlain("/a/"))
    }

    func testRelativePathsAreNeverPlacedAboveTheMountPoint() {
        let pod = CgroupHierarchy(controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory",
                                  mountRoot: "/../../..", isUnified: false)
        XCTAssertEqual(pod.directory(of: "/../../../kubepods/podB/ctr"), "/sys/fs/cgroup/memory/kubepods/podB/ctr")
        XCTAssertEqual(pod.directory(of: "/../../.."), "/sys/fs/cgroup/memory")
        for path in ["/../../podB/ctr", "/../../../../x", "/.."] {
            XCTAssertTrue(pod.directory(of: path).hasPrefix("/sys/fs/cgroup/memory"), path)
            XCTAssertFalse(pod.directory(of: path).contains(".."), path)
        }
    }

    func testLayoutKeepsRelativeMountRoots() {
        let layout = CgroupLayout.discover(DirectFileReader(root: Self.fixture))
        XCTAssertEqual(layout.hierarchy(for: "memory")?.mountRoot, "/../../..")
        XCTAssertEqual(layout.hierarchy(for: "cpuset")?.mountPoint, "/sys/fs/cgroup/cpuset")
    }

    /// A reader whose path climbs as far as the mount root gets its own
    /// limits: 256 MiB and CPU 1, not the host's.
    func testReaderInAnotherPodGetsItsLimits() throws {
        let root = Self.fixture
        let layout = CgroupLayout.discover(DirectFileReader(root: root))
        let cgroup = try XCTUnwrap(root.read("/proc/78/cgroup"))
        let membership = CgroupMembership(parsing: cgroup[...])
        let reader = CgroupReader(files: DirectFileReader(root: root), layout: layout)
        let memory = try XCTUnwrap(reader.memory(membership))
        XCTAssertEqual(memory.limit, 256 * 1024 * 1024)
        XCTAssertEqual(memory.usage, 100 * 1024 * 1024)
        XCTAssertEqual(reader.cpuset(membership)?.cpus, [1])
    }

    /// A privileged container with its own cgroup namespace has the
    /// runtime's cgroup mounts (rooted at its own cgroup) and, bound over
    /// them, the host's: the later mount is the one that is visible.
    func testTheLastMountAtAMountPointWins() {
        let text = """
            30 25 0:35 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
            31 25 0:40 / /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids
            52 25 0:35 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory

            """
        let layout = CgroupLayout(mountinfo: Array(text.utf8)[...])
        XCTAssertEqual(layout.hierarchies.count, 2)
        XCTAssertEqual(layout.hierarchy(for: "memory")?.mountRoot, "/")
        XCTAssertEqual(layout.hierarchy(for: "memory")?.directory(of: "/docker/abc/x"),
                       "/sys/fs/cgroup/memory/docker/abc/x")
    }
}
