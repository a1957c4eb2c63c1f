import XCTest
@testable import LXCFSCore

/// The load average arithmetic, the sampler and /proc/loadavg.
final class LoadavgTests: XCTestCase {
    func testOneSampleV1CountsRAndDOverDescendantsAndNamesTheLastPidInItsNamespace() {
        // tasks: 100 R, 101 S, 102 D, child 200 R, 201 S, grandchild 300 R.
        let view = ContainerView(root: FileFixtures.named("v1"), options: ViewOptions(enableLoadavg: true))
        // active 4 after one 5 s update from 0: 4 * (1 - exp) = 0.32, 0.07, 0.02.
        XCTAssertEqual(view.render(.loadavg, for: 4242).text, "0.32 0.07 0.02 3/6 201\n")
    }

    func testOneSampleV2ReadsCgroupThreads() {
        let view = ContainerView(root: FileFixtures.named("v2"), options: ViewOptions(enableLoadavg: true))
        // 100 R, 200 D, 201 S: active 2, running 1.
        XCTAssertEqual(view.render(.loadavg, for: 4242).text, "0.16 0.03 0.01 1/3 102\n")
    }

    func testWithoutTheFlagOrWithoutACgroupTheHostsFile() {
        XCTAssertEqual(ContainerView(root: FileFixtures.named("v1")).render(.loadavg, for: 4242).text,
                       "7.50 3.20 1.10 5/300 9999\n")
        let view = ContainerView(root: FileFixtures.named("v1"), options: ViewOptions(enableLoadavg: true))
        XCTAssertEqual(view.render(.loadavg, for: 4343).text, "7.50 3.20 1.10 5/300 9999\n")
    }

    func testFixedPointConvergesLikeTheKernel() {
        var load = CgroupLoad()
        var count = TaskCount()
        count.running = 2
        count.total = 2
        for _ in 0..<2000 { load.update(with: count) }
        XCTAssertEqual(LoadavgRenderer.render(load).text, "2.00 2.00 2.00 2/2 0\n")
        count.running = 0
        var previous = load.average1
        for _ in 0..<12 {
            load.update(with: count)
            XCTAssertLessThan(load.average1, previous)
            previous = load.average1
        }
        // After one minute idle the 1-minute average is about 2/e.
        XCTAssertEqual(LoadavgRenderer.render(load).text.prefix(4), "0.73")
        XCTAssertEqual(LoadAverage.next(0, exp: LoadAverage.exp1, active: 1), 164)  // (2048 * 164 + 2047) / 2048
    }

    func testSamplerRegistersOnReadTicksAndDropsIdleAndVanishedCgroups() {
        let root = FileFixtures.named("v1")
        let reader = CgroupReader(files: DirectFileReader(root: root), layout: CgroupLayout.discover(DirectFileReader(root: root)))
        let sampler = LoadavgSampler(idleLimit: 1_000)
        let group = LoadavgCgroup(directory: "/sys/fs/cgroup/cpu,cpuacct/ctr", threadsFile: "/tasks")
        let first = sampler.load(of: group, reader: reader, now: 0)
        XCTAssertEqual(first?.total, 6)
        XCTAssertEqual(sampler.trackedCount, 1)
        sampler.tick(reader: reader, now: 500)
        let second = sampler.load(of: group, reader: reader, now: 600)
        XCTAssertGreaterThan(second!.average1, first!.average1)
        sampler.tick(reader: reader, now: 1_599)
        XCTAssertEqual(sampler.trackedCount, 1)
        sampler.tick(reader: reader, now: 1_600)
        XCTAssertEqual(sampler.trackedCount, 0, "not read for idleLimit: dropped")
        let gone = LoadavgCgroup(directory: "/sys/fs/cgroup/cpu,cpuacct/gone", threadsFile: "/tasks")
        XCTAssertNil(sampler.load(of: gone, reader: reader, now: 0))
        XCTAssertEqual(sampler.trackedCount, 0)
    }
}
