import Foundation
import XCTest
@testable import LXCFSCore

/// A fake host root built in a temporary folder: the files a test writes,
/// at the same relative paths as on a real host.
///
/// `render` renders through both readers: a `DirectFileReader` (a new view
/// each time) and one `CachedDescriptorReader` held for the fixture's life,
/// whose descriptors stay open between renders as in the daemon, and
/// checks that they agree. Files are rewritten in place, so a cached
/// descriptor's `pread` at offset 0 sees the new text, as it sees a cgroup
/// file's new value.
final class FixtureRoot {
    let url: URL
    var root: HostRoot { HostRoot(url.path) }
    /// The cached-descriptor reader every render also goes through.
    lazy var cachedReader = CachedDescriptorReader(root: root)
    /// False once the test removes files: a cached descriptor of a removed
    /// regular file still reads it (a removed cgroup's answers ENODEV), so
    /// the two readers may then differ.
    var compareReaders = true

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("swift-lxcfs-fixture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `text` at `path` (absolute host path) under the root.
    @discardableResult
    func write(_ path: String, _ text: String) throws -> FixtureRoot {
        let file = url.appendingPathComponent(String(path.dropFirst()))
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: file, atomically: false, encoding: .utf8)
        return self
    }

    func remove(_ path: String) throws {
        compareReaders = false
        try FileManager.default.removeItem(at: url.appendingPathComponent(String(path.dropFirst())))
    }

    /// `file` as `pid` reads it, through a direct reader; the cached-descriptor
    /// reader must give the same bytes.
    func render(_ file: VirtualFile, pid: Int32, options: ViewOptions = ViewOptions(),
                sourceFile: StaticString = #filePath, line: UInt = #line) -> String {
        let direct = ContainerView(root: root, options: options)
        XCTAssertTrue(direct.files is DirectFileReader, file: sourceFile, line: line)
        let text = String(decoding: direct.render(file, for: pid), as: UTF8.self)
        if compareReaders {
            let cached = ContainerView(root: root, files: cachedReader, options: options).render(file, for: pid)
            XCTAssertEqual(String(decoding: cached, as: UTF8.self), text, "cached descriptors", file: sourceFile, line: line)
        }
        return text
    }

    static let hostMeminfo = """
        MemTotal:       16777216 kB
        MemFree:        12582912 kB
        MemAvailable:   13631488 kB
        Buffers:          120000 kB
        Cached:           900000 kB
        SwapCached:            0 kB
        Active:           166464 kB
        Inactive:          73740 kB
        Active(anon):       1608 kB
        Inactive(anon):     3324 kB
        Active(file):     164856 kB
        Inactive(file):    70416 kB
        Unevictable:       10292 kB
        Mlocked:            9392 kB
        SwapTotal:       1048576 kB
        SwapFree:        1048576 kB
        Dirty:                44 kB
        Writeback:             0 kB
        AnonPages:          6372 kB
        Mapped:            11244 kB
        Shmem:              8000 kB
        Slab:             213480 kB
        SReclaimable:     181136 kB
        SUnreclaim:        32344 kB
        HugePages_Total:       0
        Hugepagesize:       2048 kB

        """

    static let hostStat = """
        cpu  40600 30 16060 366000 1200 0 80 0 0 0
        cpu0 10000 0 4000 90000 300 0 20 0 0 0
        cpu1 10100 5 4010 91000 300 0 20 0 0 0
        cpu2 10200 10 4020 92000 300 0 20 0 0 0
        cpu3 10300 15 4030 93000 300 0 20 0 0 0
        intr 1548627 0 0 0
        ctxt 5762237
        btime 1795953907
        processes 21645
        procs_running 2
        procs_blocked 0

        """

    static func hostCpuinfo(cpus: Int) -> String {
        (0..<cpus).map { "processor\t: \($0)\nvendor_id\t: AuthenticAMD\ncore id\t\t: \($0)\n\n" }.joined()
    }

    static let v1Mountinfo = """
        22 27 0:21 / /proc rw,relatime - proc proc rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
        41 31 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
        42 31 0:41 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

        """

    static let v2Mountinfo = """
        22 27 0:21 / /proc rw,relatime - proc proc rw
        30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate

        """

    /// A host with common files and pid 1 in the host pid namespace.
    func host(mountinfo: String, cpus: Int = 4) throws {
        try write("/proc/self/mountinfo", mountinfo)
        try write("/proc/meminfo", Self.hostMeminfo)
        try write("/proc/stat", Self.hostStat)
        try write("/proc/cpuinfo", Self.hostCpuinfo(cpus: cpus))
        try write("/proc/uptime", "5000.00 18000.00\n")
        try write("/sys/devices/system/cpu/online", cpus == 1 ? "0\n" : "0-\(cpus - 1)\n")
        try process(1, parent: 0, ns: "pid:[4026531836]", start: 1, cgroup: "0::/init.scope\n")
    }

    /// A process entry: `/proc/PID/{cgroup,stat,ns/pid}`.
    func process(_ pid: Int32, parent: Int32, ns: String, start: UInt64, cgroup: String) throws {
        try write("/proc/\(pid)/cgroup", cgroup)
        try write("/proc/\(pid)/ns/pid", ns + "\n")
        let fields = (0..<30).map { _ in "0" }
        var stat = ["\(pid)", "(p \(pid))", "S", "\(parent)"] + fields
        stat[21] = "\(start)"
        try write("/proc/\(pid)/stat", stat.joined(separator: " ") + "\n")
    }
}

extension String {
    /// The value after `KEY:` in a meminfo-style text, runs of spaces folded.
    func field(_ key: String) -> String? {
        for line in split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0] == key {
                return parts[1].split(separator: " ").joined(separator: " ")
            }
        }
        return nil
    }
}
