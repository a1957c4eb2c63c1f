import LXCFSLifecycle
import XCTest

final class StartupPlanTests: XCTestCase {
    func testSourcesInOrder() {
        XCTAssertEqual(StartupPlan(inherited: .none, takeover: false).sources, [.freshMount])
        XCTAssertEqual(StartupPlan(inherited: .none, takeover: true).sources, [.takeover, .freshMount])
        XCTAssertEqual(StartupPlan(inherited: .present, takeover: false).sources, [.fdStore, .freshMount])
        XCTAssertEqual(StartupPlan(inherited: .present, takeover: true).sources, [.fdStore, .takeover, .freshMount])
        XCTAssertEqual(StartupPlan(inherited: .unusable("bad"), takeover: true).sources, [.takeover, .freshMount])
    }

    func testAFreshMountFallsBackOnlyAfterAFailure() {
        XCTAssertFalse(StartupPlan(inherited: .none, takeover: true).fallBack)
        XCTAssertTrue(StartupPlan(inherited: .unusable("LISTEN_FDNAMES is x"), takeover: false).fallBack)

        var nobody = StartupPlan(inherited: .none, takeover: true)
        XCTAssertEqual(nobody.next(after: .takeover, .nobody), .freshMount)
        XCTAssertFalse(nobody.fallBack, "nobody answered: nothing to clear")

        var refused = StartupPlan(inherited: .none, takeover: true)
        XCTAssertEqual(refused.next(after: .takeover, .failed), .freshMount)
        XCTAssertTrue(refused.fallBack)

        var resumeFailed = StartupPlan(inherited: .present, takeover: true)
        XCTAssertEqual(resumeFailed.next(after: .fdStore, .failed), .takeover)
        XCTAssertTrue(resumeFailed.fallBack)
        XCTAssertEqual(resumeFailed.next(after: .takeover, .nobody), .freshMount)
        XCTAssertTrue(resumeFailed.fallBack, "a fall-back stays one")
        XCTAssertNil(resumeFailed.next(after: .freshMount, .failed))
    }

    func testStoreAndPidfileByWhereTheConnectionCameFrom() {
        XCTAssertFalse(StartupPlan.storesDescriptors(servedFrom: .fdStore))
        XCTAssertTrue(StartupPlan.storesDescriptors(servedFrom: .takeover))
        XCTAssertTrue(StartupPlan.storesDescriptors(servedFrom: .freshMount))
        XCTAssertTrue(StartupPlan.pidfileLockRequired(servedFrom: .freshMount))
        XCTAssertFalse(StartupPlan.pidfileLockRequired(servedFrom: .fdStore))
        XCTAssertFalse(StartupPlan.pidfileLockRequired(servedFrom: .takeover))
    }
}
