import LXCFSLifecycle
import SystemPackage
import XCTest

/// The supervisor's policy driven by hand, with a fake clock (seconds).
struct Harness {
    var policy: SupervisorPolicy
    var state: SupervisorPolicy.State
    var now = 100.0
    var nextPID: Int32 = 1000

    init(takeover: Bool = false) {
        policy = SupervisorPolicy(mountPoint: "/var/lib/lxcfs", takeover: takeover, ownUID: 0)
        state = SupervisorPolicy.State(timing: policy.timing)
    }

    @discardableResult
    mutating func send(_ event: SupervisorPolicy.Event) -> [SupervisorPolicy.Action] {
        let actions: [SupervisorPolicy.Action]
        (state, actions) = policy.reduce(state, event)
        return actions
    }

    @discardableResult
    mutating func tick(hungUp: Set<FileDescriptor> = []) -> [SupervisorPolicy.Action] {
        send(.tick(now: now, hungUp: hungUp))
    }

    /// Ticks; when the policy asks for a start, answers with a new pid.
    @discardableResult
    mutating func tickAndStart(hungUp: Set<FileDescriptor> = []) -> [SupervisorPolicy.Action] {
        let actions = tick(hungUp: hungUp)
        if actions.contains(where: { if case .start = $0 { return true } else { return false } }) {
            nextPID += 1
            send(.started(pid: nextPID, now: now))
        }
        return actions
    }

    @discardableResult
    mutating func exit(_ how: SupervisorPolicy.ChildExit, hungUp: Set<FileDescriptor> = []) -> [SupervisorPolicy.Action] {
        send(.childExited(pid: state.child ?? -1, how, now: now, hungUp: hungUp))
    }

    @discardableResult
    mutating func notify(_ message: NotifyMessage?, fds: [Int32] = [], pid: Int32? = nil, uid: UInt32 = 0) -> [SupervisorPolicy.Action] {
        send(.notification(message, pid: pid ?? state.child ?? -1, uid: uid, descriptors: fds.map(FileDescriptor.init(rawValue:))))
    }
}

extension [SupervisorPolicy.Action] {
    var starts: [(names: [String], tryTakeover: Bool)] {
        compactMap { if case .start(let r, let t) = $0 { return (r.map(\.name), t) } else { return nil } }
    }
    var closed: [Int32] { flatMap { if case .close(let fds) = $0 { return fds.map(\.rawValue) } else { return [] } } }
    var signals: [SupervisorPolicy.ChildSignal] { compactMap { if case .signal(_, let s) = $0 { return s } else { return nil } } }
    var messages: [String] { compactMap { if case .log(let l) = $0 { return l.message } else { return nil } } }
    var cleanup: (detach: Bool, status: Int32)? {
        for a in self { if case .finalCleanup(let d, let s) = a { return (d, s) } }
        return nil
    }
}

final class SupervisorPolicyTests: XCTestCase {
    func testFirstChildStartsAtOnceAndOnlyItTriesTheTakeover() {
        var h = Harness(takeover: true)
        XCTAssertEqual(h.policy.waitLimit(h.state, now: h.now), 0)
        let first = h.tickAndStart()
        XCTAssertEqual(first.starts.first?.tryTakeover, true)
        XCTAssertEqual(h.state.child, 1001)
        XCTAssertNil(h.policy.waitLimit(h.state, now: h.now))
        XCTAssertTrue(h.tick().isEmpty, "no second child while one runs")
        h.now += 5
        h.exit(.signaled(9))
        h.now += 0.1
        XCTAssertEqual(h.tickAndStart().starts.first?.tryTakeover, false)
    }

    func testCrashLoopBacksOffDoublingUpToEightSecondsAndAHealthyRunResetsIt() {
        var h = Harness()
        h.tickAndStart()
        var delays: [Double] = []
        for _ in 0..<9 {
            h.now += 0.5  // dies within healthyRun
            let actions = h.exit(.exited(1))
            XCTAssertEqual(actions.messages, ["the server died; starting it again"])
            let wait = h.policy.waitLimit(h.state, now: h.now)!
            delays.append(wait)
            h.now += wait - 0.01
            XCTAssertTrue(h.tick().starts.isEmpty, "not before the delay")
            h.now += 0.01
            XCTAssertEqual(h.tickAndStart().starts.count, 1)
        }
        XCTAssertEqual(delays.map { ($0 * 1000).rounded() / 1000 }, [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 8, 8, 8])
        h.now += 1.0  // lived healthyRun
        h.exit(.signaled(11))
        XCTAssertEqual(h.policy.waitLimit(h.state, now: h.now)!, 0.1, accuracy: 1e-9)
    }

    func testAFailedStartIsRetriedAfterADelayMeasuredFromTheLastChildsStart() {
        var h = Harness()
        XCTAssertEqual(h.tick().starts.count, 1)
        h.send(.startFailed(now: h.now))
        XCTAssertNil(h.state.child)
        XCTAssertEqual(h.policy.waitLimit(h.state, now: h.now)!, 0.1, accuracy: 1e-9, "no child ever ran: a long-lived one")
        h.now += 0.1
        XCTAssertEqual(h.tickAndStart().starts.count, 1)
        h.now += 0.3
        h.exit(.exited(1))
        h.now += 0.2
        XCTAssertEqual(h.tick().starts.count, 1)
        h.send(.startFailed(now: h.now))
        XCTAssertEqual(h.policy.waitLimit(h.state, now: h.now)!, 0.4, accuracy: 1e-9, "within 1 s of the last start: doubled")
    }

    func testHandOverStopRestartsAtOnceWithTheStore() {
        var h = Harness()
        h.tickAndStart()
        h.notify(.store("fuse"), fds: [10])
        h.notify(.store("state"), fds: [11])
        let hup = h.send(.signal(.restart, now: h.now))
        XCTAssertEqual(hup.signals, [.handOver])
        XCTAssertTrue(h.send(.signal(.restart, now: h.now)).signals.isEmpty, "asked once per child")
        h.now += 0.2
        let exited = h.exit(.exited(0))
        XCTAssertEqual(exited.messages, ["the server handed over; starting it again"])
        XCTAssertTrue(exited.closed.isEmpty)
        let start = h.tickAndStart()
        XCTAssertEqual(start.starts.first?.names, ["fuse", "state"])
        XCTAssertEqual(h.state.store.map(\.fd.rawValue), [10, 11])
    }

    func testFinalStopWithAChildThatUnmounts() {
        var h = Harness()
        h.tickAndStart()
        h.notify(.store("fuse"), fds: [10])
        XCTAssertEqual(h.send(.signal(.terminate, now: h.now)).signals, [.terminate])
        XCTAssertTrue(h.send(.signal(.terminate, now: h.now)).signals.isEmpty)
        h.notify(.remove("fuse"))
        h.now += 1
        h.exit(.exited(0))
        let done = h.tick()
        XCTAssertEqual(done.cleanup?.detach, false)
        XCTAssertEqual(done.cleanup?.status, 0)
    }

    func testFinalStopKillsAChildThatDoesNotStopWithin20Seconds() {
        var h = Harness()
        h.tickAndStart()
        h.send(.signal(.terminate, now: h.now))
        h.now += 19.9
        XCTAssertTrue(h.tick().signals.isEmpty)
        XCTAssertEqual(h.policy.waitLimit(h.state, now: h.now)!, 0.1, accuracy: 1e-9)
        h.now += 0.1
        XCTAssertEqual(h.tick().signals, [.kill])
        XCTAssertNil(h.policy.waitLimit(h.state, now: h.now))
        h.exit(.signaled(9))
        XCTAssertEqual(h.tick().cleanup.map { [$0.detach ? 1 : 0, $0.status] }, [1, 1])
    }

    func testFinalStopWithoutAChildDetachesAndExitsZero() {
        var h = Harness()
        h.tickAndStart()
        h.exit(.exited(3))
        h.send(.signal(.terminate, now: h.now))
        let done = h.tick()
        XCTAssertTrue(done.starts.isEmpty)
        XCTAssertEqual(done.cleanup?.detach, true)
        XCTAssertEqual(done.cleanup?.status, 0)
    }

    func testExitZeroWithAnEmptyStoreEndsTheSupervisor() {
        var h = Harness()
        h.tickAndStart()
        XCTAssertEqual(h.exit(.exited(0)).messages, ["the server stopped and unmounted; exiting"])
        XCTAssertEqual(h.tick().cleanup.map { [$0.detach ? 1 : 0, $0.status] }, [0, 0])
    }

    func testAServerThatRefusesItsCommandLineEndsTheSupervisorWithItsStatus() {
        var h = Harness()
        h.tickAndStart()
        h.exit(.exited(64))
        h.now += 60
        let done = h.tick()
        XCTAssertTrue(done.starts.isEmpty)
        XCTAssertEqual(done.cleanup?.status, 64)
    }

    func testTakenOverConnectionIsReleasedAndTheSupervisorIdlesUntilTERM() {
        var h = Harness()
        h.tickAndStart()
        h.notify(.store("fuse"), fds: [10])
        h.notify(.store("state"), fds: [11])
        let exited = h.exit(.exited(0))
        XCTAssertEqual(exited.closed.sorted(), [10, 11])
        XCTAssertEqual(h.state.phase, .handedOver)
        XCTAssertTrue(h.tick().isEmpty)
        XCTAssertNil(h.policy.waitLimit(h.state, now: h.now))
        XCTAssertTrue(h.send(.signal(.restart, now: h.now)).isEmpty)
        XCTAssertTrue(h.send(.signal(.terminate, now: h.now)).contains(.exit(0)))
    }

    func testEndedConnectionIsDroppedAndTheSupervisorExits() {
        var h = Harness()
        h.tickAndStart()
        h.notify(.store("fuse"), fds: [10])
        h.notify(.store("state"), fds: [11])
        let exited = h.exit(.exited(0), hungUp: [FileDescriptor(rawValue: 10)])
        XCTAssertEqual(exited.messages, ["dropping a dead stored descriptor", "the server's connection has ended; exiting"])
        XCTAssertEqual(exited.closed.sorted(), [10, 11])
        XCTAssertEqual(h.tick().cleanup.map { [$0.detach ? 1 : 0, $0.status] }, [0, 0])
    }

    func testHungUpDescriptorsAreNotPassedToTheNextChild() {
        var h = Harness()
        h.tickAndStart()
        h.notify(.store("fuse"), fds: [10])
        h.notify(.store("state"), fds: [11])
        h.now += 2
        h.exit(.signaled(6))
        h.now += 0.1
        let start = h.tickAndStart(hungUp: [FileDescriptor(rawValue: 10)])
        XCTAssertEqual(start.closed, [10])
        XCTAssertEqual(start.starts.first?.names, ["state"])
    }

    func testNotificationsFromOthersAreClosedAndIgnored() {
        var h = Harness()
        h.policy = SupervisorPolicy(mountPoint: "/m", takeover: false, ownUID: 500)
        h.tickAndStart()
        XCTAssertEqual(h.notify(.store("fuse"), fds: [10], pid: 4).closed, [10])
        XCTAssertEqual(h.notify(.store("fuse"), fds: [11], uid: 501).closed, [11])
        XCTAssertTrue(h.notify(.store("fuse"), fds: [12], uid: 500).closed.isEmpty)
        XCTAssertTrue(h.notify(.store("fuse"), fds: [13], uid: 0).closed == [12], "the same name replaces")
        XCTAssertEqual(h.notify(nil, fds: [14]).closed, [14])
        XCTAssertEqual(h.notify(.store("a:b"), fds: [15]).closed, [15])
        XCTAssertEqual(h.notify(.store("a b"), fds: [16]).closed, [16])
        XCTAssertEqual(h.notify(NotifyMessage(ready: true), fds: [17]).closed, [17])
        XCTAssertEqual(h.state.store.map(\.fd.rawValue), [13])
        XCTAssertEqual(h.notify(.remove("fuse")).closed, [13])
        XCTAssertTrue(h.state.store.isEmpty)
    }

    func testTheStoreHoldsAtMostSixteen() {
        var h = Harness()
        h.tickAndStart()
        let actions = h.notify(.store("many"), fds: Array(100..<120))
        XCTAssertEqual(actions.closed, [116, 117, 118, 119])
        XCTAssertEqual(h.state.store.count, 16)
    }

    func testReadyOncePerChildWritesTheReadyFile() {
        var h = Harness()
        h.tickAndStart()
        let ready = h.notify(NotifyMessage(ready: true, status: "Serving", mainPID: 3))
        XCTAssertEqual(ready.filter { if case .log = $0 { return false } else { return true } },
                       [.noteServedDevice, .writeReadyFile(pid: 1001)])
        XCTAssertTrue(h.notify(NotifyMessage(ready: true)).isEmpty)
        h.now += 2
        XCTAssertEqual(h.exit(.signaled(9)).first, .removeReadyFile)
        h.now += 0.1
        h.tickAndStart()
        XCTAssertTrue(h.notify(NotifyMessage(ready: true)).contains(.writeReadyFile(pid: 1002)))
    }

    func testExitOfAnotherPidIsIgnored() {
        var h = Harness()
        h.tickAndStart()
        XCTAssertTrue(h.send(.childExited(pid: 5, .exited(1), now: h.now, hungUp: [])).isEmpty)
        XCTAssertEqual(h.state.child, 1001)
    }

    func testWaitStatusDecoding() {
        XCTAssertEqual(SupervisorPolicy.ChildExit(waitStatus: 0), .exited(0))
        XCTAssertEqual(SupervisorPolicy.ChildExit(waitStatus: 3 << 8), .exited(3))
        XCTAssertEqual(SupervisorPolicy.ChildExit(waitStatus: 9), .signaled(9))
        XCTAssertEqual(SupervisorPolicy.ChildExit(waitStatus: 0x80 | 6), .signaled(6))
        XCTAssertEqual("\(SupervisorPolicy.ChildExit.exited(1))", "exit status 1")
        XCTAssertEqual("\(SupervisorPolicy.ChildExit.signaled(15))", "signal 15")
    }
}
