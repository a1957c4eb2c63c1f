import XCTest
@testable import LXCFSCore

final class SysCPUTreeTests: XCTestCase {
    let p = SysCPUTree.prefix

    func testVisibleCPUsAreRenumberedFromZero() {
        XCTAssertEqual(SysCPUTree.hostPath(p + "/cpu0/topology/core_id", visible: [2, 5]), p + "/cpu2/topology/core_id")
        XCTAssertEqual(SysCPUTree.hostPath(p + "/cpu1", visible: [2, 5]), p + "/cpu5")
        XCTAssertNil(SysCPUTree.hostPath(p + "/cpu2", visible: [2, 5]))
        XCTAssertEqual(SysCPUTree.hostPath(p + "/cpufreq/policy0", visible: [2]), p + "/cpufreq/policy0")
        XCTAssertEqual(SysCPUTree.hostPath(p + "/kernel_max", visible: [2]), p + "/kernel_max")
    }

    func testOnlyCPUNFoldersAreCPUs() {
        XCTAssertEqual(SysCPUTree.cpuNumber(ofName: "cpu12"), 12)
        XCTAssertNil(SysCPUTree.cpuNumber(ofName: "cpufreq"))
        XCTAssertNil(SysCPUTree.cpuNumber(ofName: "cpuidle"))
        XCTAssertNil(SysCPUTree.cpuNumber(ofName: "cpu"))
        XCTAssertNil(SysCPUTree.cpuComponent(p + "/cpuidle/current_driver")?.cpu)
        XCTAssertNil(SysCPUTree.cpuComponent(p)?.cpu)
    }

    func testListingReplacesHostCPUFoldersAndKeepsTheRest() {
        let host = [HostDirectoryEntry(name: "cpu0", isDirectory: true), HostDirectoryEntry(name: "cpu1", isDirectory: true),
                    HostDirectoryEntry(name: "cpu2", isDirectory: true), HostDirectoryEntry(name: "cpufreq", isDirectory: true),
                    HostDirectoryEntry(name: "online", isDirectory: false), HostDirectoryEntry(name: "kernel_max", isDirectory: false)]
        XCTAssertEqual(SysCPUTree.listing(host: host, virtualNames: ["offline", "online"], visibleCount: 1),
                       ["offline", "online", "cpu0", "cpufreq", "kernel_max"])
    }

    func testAttributesStandForEveryReader() {
        XCTAssertEqual(SysCPUTree.attributeCandidates(p + "/cpu0/online", hostCPUs: [0, 1]),
                       [p + "/cpu0/online", p + "/cpu1/online"])
        XCTAssertEqual(SysCPUTree.attributeCandidates(p + "/cpu0", hostCPUs: [0, 1]), [p + "/cpu0"])
    }
}
