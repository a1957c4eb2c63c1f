import XCTest
@testable import LXCFSCore

/// The /proc/stat continuity rules, fed with synthetic successive reads.
final class CPUTimeTrackerTests: XCTestCase {
    static let second: UInt64 = 1_000_000_000
    static let tickNs: UInt64 = 10_000_000

    /// v1 usage rows: host CPU -> (user seconds, system seconds).
    func perCPU(_ rows: [Int: (Double, Double)]) -> CPUUsage {
        .perCPU(rows.mapValues { (UInt64($0.0 * 1e9), UInt64($0.1 * 1e9)) })
    }

    func sample(_ visible: [Int], _ usage: CPUUsage, at seconds: Double, capacity: Double? = nil,
                first: [CPUTimeRow]? = nil) -> CPUTimeSample {
        CPUTimeSample(visible: visible, usage: usage,
                      firstRead: first ?? visible.map { _ in CPUTimeRow(user: 100, system: 50, idle: 1000) },
                      capacity: capacity ?? Double(visible.count), now: UInt64(seconds * 1e9))
    }

    func busy(_ rows: [CPUTimeRow]) -> UInt64 { rows.reduce(0) { $0 + $1.user + $1.system } }
    func total(_ rows: [CPUTimeRow]) -> UInt64 { rows.reduce(0) { $0 + $1.user + $1.system + $1.idle } }

    func assertNoDecrease(_ a: [CPUTimeRow], _ b: [CPUTimeRow], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertGreaterThanOrEqual(y.user, x.user, file: file, line: line)
            XCTAssertGreaterThanOrEqual(y.system, x.system, file: file, line: line)
            XCTAssertGreaterThanOrEqual(y.idle, x.idle, file: file, line: line)
        }
    }

    func testFirstReadIsTheStatelessRows() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let first = [CPUTimeRow(user: 7, system: 3, idle: 90), CPUTimeRow(user: 1, system: 2, idle: 3)]
        let rows = t.rows(key: "a", directory: "/a", sample: sample([0, 1], perCPU([0: (0.07, 0.03), 1: (0.01, 0.02)]), at: 10, first: first))
        XCTAssertEqual(rows, first)
        XCTAssertEqual(t.count, 1)
    }

    func testBusyPlusIdleGrowsByTheIntervalOnEachVisibleCPU() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let r0 = t.rows(key: "a", directory: "/a", sample: sample([0, 1], perCPU([0: (1, 1), 1: (1, 0)]), at: 10))
        // 2 s later: CPU 0 used 0.5 s user + 0.25 s system, CPU 1 1 s user.
        let r1 = t.rows(key: "a", directory: "/a", sample: sample([0, 1], perCPU([0: (1.5, 1.25), 1: (2, 0)]), at: 12))
        assertNoDecrease(r0, r1)
        XCTAssertEqual(total(r1) - total(r0), 400)  // 2 s x 2 CPUs x 100 ticks
        XCTAssertEqual(r1[0].user - r0[0].user, 50)
        XCTAssertEqual(r1[0].system - r0[0].system, 25)
        XCTAssertEqual(r1[0].idle - r0[0].idle, 125)
        XCTAssertEqual(r1[1].user - r0[1].user, 100)
        XCTAssertEqual(r1[1].idle - r0[1].idle, 100)
    }

    func testCounterResetNeverDecreasesAndCountsFromZero() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let r0 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (50, 20)]), at: 100))
        // The cgroup was made again: counters restart near 0.
        let r1 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (0.3, 0.1)]), at: 101))
        assertNoDecrease(r0, r1)
        XCTAssertEqual(r1[0].user - r0[0].user, 30)
        XCTAssertEqual(r1[0].system - r0[0].system, 10)
        XCTAssertEqual(total(r1) - total(r0), 100)
        let r2 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (0.5, 0.1)]), at: 102))
        assertNoDecrease(r1, r2)
        XCTAssertEqual(r2[0].user - r1[0].user, 20)
    }

    func testUsageOnHiddenCPUsIsFoldedIntoVisibleOnes() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        // Visible: host CPU 2 only; the cgroup also runs on CPUs 0 and 3.
        let r0 = t.rows(key: "a", directory: "/a", sample: sample([2], perCPU([0: (0, 0), 2: (1, 0), 3: (0, 0)]), at: 10))
        let r1 = t.rows(key: "a", directory: "/a", sample: sample([2], perCPU([0: (0.2, 0.1), 2: (1.3, 0), 3: (0.1, 0)]), at: 11))
        assertNoDecrease(r0, r1)
        XCTAssertEqual(r1[0].user - r0[0].user, 60)
        XCTAssertEqual(r1[0].system - r0[0].system, 10)
        XCTAssertEqual(r1[0].idle - r0[0].idle, 30)
    }

    func testCFSQuotaScalesBusyToTheVisibleCPUs() {
        // Quota 0.5 CPU, one visible CPU: a busy loop using its whole quota
        // (0.5 s a second, spread over host CPUs 0 and 1) shows fully busy.
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        var usage: [Int: (user: UInt64, system: UInt64)] = [0: (0, 0), 1: (0, 0)]
        var last = t.rows(key: "q", directory: "/q", sample: sample([0], .perCPU(usage), at: 0, capacity: 0.5))
        for s in 1...5 {
            usage[0]!.user += 300_000_000
            usage[1]!.user += 200_000_000
            let rows = t.rows(key: "q", directory: "/q", sample: sample([0], .perCPU(usage), at: Double(s), capacity: 0.5))
            assertNoDecrease(last, rows)
            XCTAssertEqual(rows[0].user - last[0].user, 100)
            XCTAssertEqual(rows[0].idle, last[0].idle)
            last = rows
        }
        // Quota 1.5 on 2 visible CPUs, half used: 0.75 CPU -> 1 CPU of 2 shown busy.
        let t2 = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let a = t2.rows(key: "q", directory: "/q", sample: sample([0, 1], perCPU([0: (0, 0), 1: (0, 0)]), at: 0, capacity: 1.5))
        let b = t2.rows(key: "q", directory: "/q", sample: sample([0, 1], perCPU([0: (0.75, 0), 1: (0, 0)]), at: 1, capacity: 1.5))
        XCTAssertEqual(busy(b) - busy(a), 100)
        XCTAssertEqual(total(b) - total(a), 200)
    }

    func testBusyBeyondTheIntervalIsCarriedNotLostOrNegative() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let r0 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (0, 0)]), at: 0))
        // Accounting ran ahead: 1.5 s used in a 1 s interval.
        let r1 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (1.5, 0)]), at: 1))
        XCTAssertEqual(r1[0].user - r0[0].user, 100)
        XCTAssertEqual(r1[0].idle, r0[0].idle)
        // Next second the cgroup idles: the 0.5 s carried shows up now.
        let r2 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (1.5, 0)]), at: 2))
        XCTAssertEqual(r2[0].user - r1[0].user, 50)
        XCTAssertEqual(r2[0].idle - r1[0].idle, 50)
        // A read at the same instant adds nothing and takes nothing.
        let r3 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (1.5, 0)]), at: 2))
        XCTAssertEqual(r3, r2)
        // A clock that went back adds nothing either.
        let r4 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (1.6, 0)]), at: 1.5))
        assertNoDecrease(r3, r4)
        XCTAssertEqual(total(r4), total(r3))
    }

    func testV2TotalsAreSharedOverVisibleCPUs() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let r0 = t.rows(key: "v2", directory: "/v2", sample: sample([0, 1, 2], .total(userNanoseconds: 1_000_000_000, systemNanoseconds: 0), at: 5))
        let r1 = t.rows(key: "v2", directory: "/v2", sample: sample([0, 1, 2], .total(userNanoseconds: 1_900_000_000, systemNanoseconds: 300_000_000), at: 6))
        assertNoDecrease(r0, r1)
        XCTAssertEqual(busy(r1) - busy(r0), 120)
        XCTAssertEqual(total(r1) - total(r0), 300)
        for k in 0..<3 {
            XCTAssertEqual(r1[k].user - r0[k].user, 30)
            XCTAssertEqual(r1[k].system - r0[k].system, 10)
        }
    }

    func testFewerVisibleCPUsFoldRowsSoTheAggregateNeverDrops() {
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        let first = [CPUTimeRow(user: 10, system: 5, idle: 100), CPUTimeRow(user: 20, system: 5, idle: 200)]
        let r0 = t.rows(key: "a", directory: "/a", sample: sample([0, 1], perCPU([0: (0.1, 0.05), 1: (0.2, 0.05)]), at: 1, first: first))
        let r1 = t.rows(key: "a", directory: "/a", sample: sample([0], perCPU([0: (0.1, 0.05), 1: (0.2, 0.05)]), at: 2))
        XCTAssertEqual(r1.count, 1)
        XCTAssertGreaterThanOrEqual(r1[0].user, r0[0].user + r0[1].user)
        XCTAssertGreaterThanOrEqual(r1[0].idle, r0[0].idle + r0[1].idle)
        XCTAssertEqual(total(r1), total(r0) + 100)
        // And back to two: the new row starts at 0 and only grows.
        let r2 = t.rows(key: "a", directory: "/a", sample: sample([0, 1], perCPU([0: (0.1, 0.05), 1: (0.2, 0.05)]), at: 3))
        XCTAssertEqual(r2.count, 2)
        XCTAssertGreaterThanOrEqual(r2[0].idle, r1[0].idle)
        XCTAssertEqual(total(r2), total(r1) + 200)
    }

    func testEntriesOfRemovedCgroupsAreDropped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swl-par-tracker-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("alive"), withIntermediateDirectories: true)
        let t = CPUTimeTracker(root: HostRoot(dir.path), idleLifetime: 10 * Self.second)
        let u = perCPU([0: (1, 1)])
        _ = t.rows(key: "alive", directory: "/alive", sample: sample([0], u, at: 100))
        _ = t.rows(key: "gone", directory: "/gone", sample: sample([0], u, at: 100))
        XCTAssertEqual(t.count, 2)
        _ = t.rows(key: "other", directory: "/alive", sample: sample([0], u, at: 105))
        XCTAssertEqual(t.count, 3, "not idle long enough yet")
        _ = t.rows(key: "other", directory: "/alive", sample: sample([0], u, at: 120))
        XCTAssertEqual(t.count, 2, "the entry of the removed cgroup goes, the live one stays")
        let small = CPUTimeTracker(root: HostRoot(dir.path), capacityLimit: 2)
        for (k, key) in ["a", "b", "c"].enumerated() {
            _ = small.rows(key: key, directory: "/alive", sample: sample([0], u, at: Double(k)))
        }
        XCTAssertEqual(small.count, 2)
    }

    func testStatRendererContinuesAndKeepsTheAggregateTheSumOfLines() {
        let host = Array("""
            cpu  400 0 200 10000 0 0 0 0 0 0
            cpu0 200 0 100 5000 0 0 0 0 0 0
            cpu1 200 0 100 5000 0 0 0 0 0 0
            intr 1
            btime 5

            """.utf8)
        let t = CPUTimeTracker(root: HostRoot("/nonexistent"))
        func read(_ usage: CPUUsage, _ s: UInt64) -> [[UInt64]] {
            // The three steps of a render: the first-read rows, the tracker, the pure renderer.
            let hostStat = StatRenderer.HostStat(parsing: host[...])
            let first = StatRenderer.firstReadRows(hostStat, visible: [0, 1], usage: usage)
            let sample = CPUTimeSample(visible: first.shown, usage: usage, firstRead: StatRenderer.trackerRows(first.rows),
                                       capacity: 2, now: s * Self.second)
            let rows = StatRenderer.rows(t.rows(key: "k", directory: "/k", sample: sample))
            let text = String(decoding: StatRenderer.render(hostStat, rows: rows), as: UTF8.self)
            XCTAssertTrue(text.hasSuffix("intr 1\nbtime 5\n"))
            return text.split(separator: "\n").filter { $0.hasPrefix("cpu") }.map { $0.split(separator: " ").dropFirst().map { UInt64($0)! } }
        }
        let a = read(perCPU([0: (1, 0.5), 1: (0, 0)]), 50)
        XCTAssertEqual(a[1], [100, 0, 50, 5150, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(a[2], [0, 0, 0, 5300, 0, 0, 0, 0, 0, 0])
        let b = read(perCPU([0: (2, 0.5), 1: (0.5, 0)]), 52)
        XCTAssertEqual(b[1], [200, 0, 50, 5250, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(b[2][0], 50)
        XCTAssertEqual(b[2][3], a[2][3] + 150)
        XCTAssertEqual(b[0], zip(b[1], b[2]).map { $0 + $1 })
    }

    func testUptimeIdleIsVisibleCPUTimeLessBusy() {
        let host = Array("5000.00 18000.00\n".utf8)[...]
        let text = String(decoding: UptimeRenderer.render(host: host, initStartTicks: 300_000,
                                                          cpuTime: .init(cpus: 2, busyHundredths: 50_000)), as: UTF8.self)
        XCTAssertEqual(text, "2000.00 3500.00\n")
        let busy = String(decoding: UptimeRenderer.render(host: host, initStartTicks: 300_000,
                                                          cpuTime: .init(cpus: 1, busyHundredths: 900_000)), as: UTF8.self)
        XCTAssertEqual(busy, "2000.00 0.00\n")
    }
}
