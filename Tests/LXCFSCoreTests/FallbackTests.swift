import XCTest
@testable import LXCFSCore

/// Every meminfo value the cgroup files may not report falls back to the
/// host's line, never to 0; where the cgroup reports a value, the
/// cgroup's value stays. Expected values are the fixture host's
/// (`FixtureRoot.hostMeminfo`) or worked out by hand.
final class FallbackTests: XCTestCase {
    let mib: UInt64 = 1024 * 1024

    /// The host's value of each line (FixtureRoot.hostMeminfo).
    let hostLine = [
        "Cached": "900000 kB", "Shmem": "8000 kB", "Active(anon)": "1608 kB", "Inactive(anon)": "3324 kB",
        "Active(file)": "164856 kB", "Inactive(file)": "70416 kB", "Unevictable": "10292 kB",
        "Mapped": "11244 kB", "AnonPages": "6372 kB", "Dirty": "44 kB", "Writeback": "0 kB",
        "Active": "166464 kB", "Inactive": "73740 kB",
        "Slab": "213480 kB", "SReclaimable": "181136 kB", "SUnreclaim": "32344 kB",
    ]

    /// A v1 host whose process 42 is in memory cgroup `path`, with `stat`
    /// as its memory.stat and, when given, a memory limit.
    func v1(path: String = "/c", stat: String, limit: UInt64? = nil) throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "5:memory:\(path)\n0::/\n")
        let dir = "/sys/fs/cgroup/memory" + (path == "/" ? "" : path)
        try f.write("\(dir)/memory.stat", stat)
        try f.write("\(dir)/memory.usage_in_bytes", "\(100 * mib)\n")
        if let limit { try f.write("\(dir)/memory.limit_in_bytes", "\(limit)\n") }
        return f
    }

    /// The same on v2 (cgroup /c).
    func v2(stat: String, limit: UInt64? = nil) throws -> FixtureRoot {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v2Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "0::/c\n")
        try f.write("/sys/fs/cgroup/c/memory.stat", stat)
        try f.write("/sys/fs/cgroup/c/memory.current", "\(100 * mib)\n")
        try f.write("/sys/fs/cgroup/c/memory.max", limit.map { "\($0)\n" } ?? "max\n")
        return f
    }

    /// The report: a host process on v1 (no memory limit) got
    /// `Slab: 0 kB` beside the host's KReclaimable; now the host's lines.
    func testV1HostProcessGetsTheHostsSlab() throws {
        let out = try v1(path: "/user.slice", stat: "total_cache \(1 * mib)\ntotal_rss \(2 * mib)\n").render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("Slab"), "213480 kB")
        XCTAssertEqual(out.field("SReclaimable"), "181136 kB")
        XCTAssertEqual(out.field("SUnreclaim"), "32344 kB")
        // Reported values stay the cgroup's.
        XCTAssertEqual(out.field("Cached"), "1024 kB")
        XCTAssertEqual(out.field("AnonPages"), "2048 kB")
        // The root cgroup too.
        let root = try v1(path: "/", stat: "total_cache \(1 * mib)\n").render(.meminfo, pid: 42)
        XCTAssertEqual(root.field("Slab"), "213480 kB")
    }

    /// Under a v1 memory limit the shared cases' rule stays: no slab of the
    /// container's own, 0 kB (v1-meminfo-basic asserts SReclaimable 0 kB).
    func testV1LimitedContainerShowsNoSlab() throws {
        let out = try v1(stat: "total_cache \(1 * mib)\n", limit: 256 * mib).render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("MemTotal"), "262144 kB")
        XCTAssertEqual(out.field("Slab"), "0 kB")
        XCTAssertEqual(out.field("SReclaimable"), "0 kB")
        XCTAssertEqual(out.field("SUnreclaim"), "0 kB")
    }

    /// Each v1 `memory.stat` key missing: that line is the host's; the
    /// others stay the cgroup's (all 1 MiB = 1024 kB here).
    func testEachMissingV1KeyGivesTheHostsLine() throws {
        let keys = [("total_cache", "Cached"), ("total_shmem", "Shmem"), ("total_active_anon", "Active(anon)"),
                    ("total_inactive_anon", "Inactive(anon)"), ("total_active_file", "Active(file)"),
                    ("total_inactive_file", "Inactive(file)"), ("total_unevictable", "Unevictable"),
                    ("total_mapped_file", "Mapped"), ("total_rss", "AnonPages"), ("total_dirty", "Dirty"),
                    ("total_writeback", "Writeback")]
        for (missing, line) in keys {
            let stat = keys.filter { $0.0 != missing }.map { "\($0.0) \(mib)\n" }.joined()
            let out = try v1(stat: stat, limit: 256 * mib).render(.meminfo, pid: 42)
            XCTAssertEqual(out.field(line), hostLine[line], "\(missing) missing")
            for (_, other) in keys where other != line {
                XCTAssertEqual(out.field(other), "1024 kB", "\(other) with \(missing) missing")
            }
        }
    }

    /// The same on v2, slab keys included: a missing key gives the host's
    /// line whatever the limit (the v1 rule of no slab under a limit is
    /// v1's); a reported one (slab 0 included) stays.
    func testEachMissingV2KeyGivesTheHostsLine() throws {
        let keys = [("file", "Cached"), ("shmem", "Shmem"), ("active_anon", "Active(anon)"),
                    ("inactive_anon", "Inactive(anon)"), ("active_file", "Active(file)"),
                    ("inactive_file", "Inactive(file)"), ("unevictable", "Unevictable"), ("file_mapped", "Mapped"),
                    ("anon", "AnonPages"), ("file_dirty", "Dirty"), ("file_writeback", "Writeback"),
                    ("slab", "Slab"), ("slab_reclaimable", "SReclaimable"), ("slab_unreclaimable", "SUnreclaim")]
        for limit in [nil, 512 * mib] {
            for (missing, line) in keys {
                let stat = keys.filter { $0.0 != missing }.map { "\($0.0) \(mib)\n" }.joined()
                let out = try v2(stat: stat, limit: limit).render(.meminfo, pid: 42)
                XCTAssertEqual(out.field(line), hostLine[line], "\(missing) missing, limit \(String(describing: limit))")
                for (_, other) in keys where other != line {
                    XCTAssertEqual(out.field(other), "1024 kB", "\(other) with \(missing) missing")
                }
            }
        }
        // Reported as 0: the container's 0, not the host's.
        let zero = try v2(stat: "slab 0\nslab_reclaimable 0\nslab_unreclaimable 0\n").render(.meminfo, pid: 42)
        XCTAssertEqual(zero.field("Slab"), "0 kB")
        XCTAssertEqual(zero.field("SReclaimable"), "0 kB")
    }

    /// Active and Inactive are sums: with one part missing, the host's line.
    func testActiveWithOnePartMissingIsTheHosts() throws {
        let out = try v1(stat: "total_active_anon \(mib)\ntotal_inactive_anon \(mib)\ntotal_inactive_file \(mib)\n",
                         limit: 256 * mib).render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("Active"), "166464 kB")
        XCTAssertEqual(out.field("Inactive"), "2048 kB")
    }

    /// v1 without swap accounting (no memsw files): SwapFree is the host's,
    /// in meminfo and /proc/swaps alike, not the whole SwapTotal.
    func testSwapInUseUnknownGivesTheHostsSwapFree() throws {
        let f = try v1(stat: "total_cache \(mib)\n")
        let host = FixtureRoot.hostMeminfo.replacingOccurrences(of: "SwapFree:        1048576 kB", with: "SwapFree:         786432 kB")
        try f.write("/proc/meminfo", host)
        try f.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/vdb partition\t1048576\t\t262144\t\t-2\n")
        let out = f.render(.meminfo, pid: 42)
        XCTAssertEqual(out.field("SwapTotal"), "1048576 kB")
        XCTAssertEqual(out.field("SwapFree"), "786432 kB")
        // /proc/swaps: size 1048576 kB, used 1048576 - 786432 = 262144 kB.
        let swaps = f.render(.swaps, pid: 42)
        XCTAssertTrue(swaps.contains("\t1048576\t262144\t0\n"), swaps)
    }
}

/// A host file a rendering starts from that cannot be read (the daemon out
/// of descriptors) makes the rendering a failure (the mount answers EIO),
/// never an empty file, and the render cache does not keep it.
final class UnreadableHostFileTests: XCTestCase {
    func testAFailedRenderingIsMarkedAndNotKept() throws {
        let f = try FixtureRoot()
        try f.host(mountinfo: FixtureRoot.v1Mountinfo)
        try f.process(42, parent: 1, ns: "pid:[4026531836]", start: 100, cgroup: "5:memory:/c\n0::/\n")
        try f.write("/sys/fs/cgroup/memory/c/memory.stat", "total_cache 0\n")
        try f.remove("/proc/stat")
        for tick: UInt64 in [0, 60_000_000_000] {
            let view = ContainerView(root: f.root, renderCacheTick: tick)
            XCTAssertTrue(view.rendering(.stat, for: 42).failed, "tick \(tick)")
            XCTAssertFalse(view.rendering(.meminfo, for: 42).failed, "tick \(tick)")
            // The host file back: the next rendering, within the same tick, is whole.
            try f.write("/proc/stat", FixtureRoot.hostStat)
            let again = view.rendering(.stat, for: 42)
            XCTAssertFalse(again.failed, "tick \(tick)")
            XCTAssertTrue(String(decoding: again.bytes ?? [], as: UTF8.self).hasPrefix("cpu  "), "tick \(tick)")
            try f.remove("/proc/stat")
        }
    }
}
