import XCTest
import Logging
import LXCFSCore
import Synchronization
@testable import LXCFSFilesystem

/// A container past its CPU budget waits for its replies; others do not (issue 15).
final class FairShareTests: XCTestCase {
    final class NoHandler: FUSERequestHandler {
        func handle(_ request: FUSERequest, reply: FUSEResponder) {}
    }

    /// A connection on no device: replies to it go nowhere.
    static func connection() -> FUSEConnection {
        FUSEConnection(fd: -1, parameters: FUSEInitParameters(major: 7, minor: 40, flags: 0, maxWrite: 4096, maxReadahead: 0),
                       handler: NoHandler(), logger: Logger(label: "test"))
    }

    /// Queues a READ-like request numbered `unique` for `container`.
    static func postpone(_ shares: FairShare, _ unique: UInt64, _ container: CgroupMembership?, on connection: FUSEConnection) {
        shares.postpone(FUSERequest(header: FUSERequestHeader(unique: unique, nodeID: 1, pid: 1),
                                    operation: .read(handle: 0, offset: 0, size: 0)),
                        container: container, reply: FUSEResponder(unique: unique, connection: connection))
    }

    func testPastItsBudgetAContainerIsServedLaterAndAnotherAtOnce() {
        let served = Mutex<[UInt64]>([])
        let shares = FairShare(budget: ContainerCPUBudget(cores: 0.01, burstNanoseconds: 1_000_000)) { r, _ in
            served.withLock { $0.append(r.header.unique) }
        }
        let connection = Self.connection()
        let noisy = CgroupMembership(parsing: Array("4:memory:/noisy\n".utf8)[...])
        let quiet = CgroupMembership(parsing: Array("4:memory:/quiet\n".utf8)[...])
        XCTAssertTrue(shares.admits(noisy))
        // 5 ms of CPU against a 1 ms burst at 0.01 cores: some 400 ms in debt.
        shares.charge(noisy, 5_000_000)
        XCTAssertFalse(shares.admits(noisy))
        XCTAssertTrue(shares.admits(quiet))
        shares.postpone(FUSERequest(header: FUSERequestHeader(unique: 42, nodeID: 1, pid: 1), operation: .open(flags: 0)),
                        container: noisy, reply: FUSEResponder(unique: 42, connection: connection))
        usleep(100_000)
        XCTAssertEqual(served.withLock { $0 }, [], "served before its budget refilled")
        let deadline = Date().addingTimeInterval(3)
        while served.withLock({ $0 }).isEmpty, Date() < deadline { usleep(10_000) }
        XCTAssertEqual(served.withLock { $0 }, [42])
    }

    func testDrainServesWhatWaitsWhateverTheBudget() {
        let served = Atomic<Int>(0)
        let shares = FairShare(budget: ContainerCPUBudget(cores: 0.000001, burstNanoseconds: 0)) { _, _ in
            served.add(1, ordering: .relaxed)
        }
        let connection = Self.connection()
        for i in 0..<3 { Self.postpone(shares, UInt64(i), nil, on: connection) }
        shares.drain()
        XCTAssertEqual(served.load(ordering: .relaxed), 3)
    }
    /// Containers in debt are served in turn, one request each, whichever
    /// shard their buckets are in; none is left out and none served twice.
    func testQueuedContainersAreServedRoundRobinOverTheShards() {
        let served = Mutex<[UInt64]>([])
        let shares = FairShare(budget: ContainerCPUBudget(cores: 0.000001, burstNanoseconds: 0)) { r, _ in
            served.withLock { $0.append(r.header.unique) }
        }
        let connection = Self.connection()
        let containers = (0..<200).map { CgroupMembership(parsing: Array("4:memory:/c\($0)\n".utf8)[...]) }
        // Three requests of each container, queued container by container:
        // request k of container i is 1000 * k + i.
        for (i, c) in containers.enumerated() {
            for k in 0..<3 { Self.postpone(shares, UInt64(1000 * k + i), c, on: connection) }
        }
        shares.drain()
        let order = served.withLock { $0 }
        XCTAssertEqual(order.count, 600)
        XCTAssertEqual(Set(order).count, 600)
        // Every container's first request before any container's second.
        let firstRound = order.prefix(200).map { $0 / 1000 }
        XCTAssertEqual(Set(firstRound), [0], "a container was served twice before another once")
        XCTAssertEqual(Set(order.prefix(200).map { $0 % 1000 }).count, 200)
    }
    /// Worker threads queue requests of a few containers while the
    /// dispatcher serves them: every request is served exactly once.
    func testRequestsQueuedWhileTheDispatcherServesAreEachServedOnce() {
        let served = Mutex<[UInt64]>([])
        // Buckets refill at once (1 core, a 1 ms burst): the dispatcher serves as they are queued.
        let shares = FairShare(budget: ContainerCPUBudget(cores: 1, burstNanoseconds: 1_000_000)) { r, _ in
            served.withLock { $0.append(r.header.unique) }
        }
        let connection = Self.connection()
        let containers = (0..<5).map { CgroupMembership(parsing: Array("4:memory:/c\($0)\n".utf8)[...]) }
        let threads = 8, each = 2_000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<each {
                Self.postpone(shares, UInt64(t * each + i), containers[(t + i) % containers.count], on: connection)
            }
        }
        let servedByTheDispatcher = served.withLock { $0.count }
        shares.drain()
        XCTAssertGreaterThan(servedByTheDispatcher, 0)
        let deadline = Date().addingTimeInterval(10)
        while served.withLock({ $0.count }) < threads * each, Date() < deadline { usleep(10_000) }
        usleep(50_000)
        let order = served.withLock { $0 }
        XCTAssertEqual(order.count, threads * each)
        XCTAssertEqual(Set(order).count, threads * each)
    }
}
