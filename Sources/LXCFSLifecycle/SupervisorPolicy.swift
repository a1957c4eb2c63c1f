import SystemPackage

extension SupervisorPolicy {
    /// The policy's one transition: the next state and the actions to carry out, in order.
    package func reduce(_ state: State, _ event: Event) -> (State, [Action]) {
        var step = Step(policy: self, state: state)
        switch event {
        case .tick(let now, let hungUp): step.tick(now: now, hungUp: hungUp)
        case .started(let pid, let now): step.started(pid: pid, now: now)
        case .startFailed(let now): step.scheduleRestart(now: now)
        case .signal(let signal, let now): step.signal(signal, now: now)
        case .notification(let message, let pid, let uid, let descriptors):
            step.notification(message, pid: pid, uid: uid, descriptors: descriptors)
        case .childExited(let pid, let how, let now, let hungUp): step.childExited(pid: pid, how, now: now, hungUp: hungUp)
        }
        return (step.state, step.actions)
    }

    /// One transition under way: the state being changed and the actions so far.
    struct Step {
        let policy: SupervisorPolicy
        var state: State
        var actions: [Action] = []
        var timing: Timing { policy.timing }

        init(policy: SupervisorPolicy, state: State) {
            self.policy = policy
            self.state = state
        }

        mutating func log(_ level: LogLine.Level, _ message: String, _ metadata: [String: String] = [:]) {
            actions.append(.log(LogLine(level, message, metadata)))
        }

        /// Due restarts, the stop deadline, and the end of a final stop.
        mutating func tick(now: Double, hungUp: Set<FileDescriptor>) {
            if case .serving = state.phase, state.child == nil, let at = state.restartAt, now >= at {
                state.restartAt = nil
                let tryTakeover = state.firstChild && policy.takeover
                state.firstChild = false
                dropHungUp(hungUp)
                actions.append(.start(resumes: state.store, tryTakeover: tryTakeover))
                return
            }
            if case .stopping(let since) = state.phase, let child = state.child, now - since >= timing.stopTimeout {
                log(.error, "the server did not stop within \(Int(timing.stopTimeout)) s; killing it", ["pid": "\(child)"])
                actions.append(.signal(pid: child, .kill))
                state.exitStatus = 1
                state.phase = .stopping(since: .infinity)
            }
            if case .stopping = state.phase, state.child == nil {
                // The server unmounts on a final stop that it finishes (exit 0)
                // and removes what it stored; anything else may leave its mount behind.
                let held = !state.store.isEmpty || !state.stoppedCleanly
                closeStore()
                actions.append(.removeReadyFile)
                actions.append(.finalCleanup(detachLeftMount: held, status: state.exitStatus))
            }
        }

        mutating func started(pid: Int32, now: Double) {
            state.child = pid
            state.childStarted = now
            state.childReady = false
        }

        /// Sets when the next child starts: `firstDelay` after a child that
        /// ran at least `healthyRun`, else twice the last delay (at most `longestDelay`).
        mutating func scheduleRestart(now: Double) {
            if now - state.childStarted >= timing.healthyRun {
                state.delay = timing.firstDelay
            } else {
                state.delay = min(state.delay * 2, timing.longestDelay)
            }
            state.restartAt = now + state.delay
        }

        /// Closes stored descriptors the kernel reports hung up or in error
        /// (a FUSE connection that was aborted or unmounted), as systemd does.
        mutating func dropHungUp(_ hungUp: Set<FileDescriptor>) {
            var held: [Stored] = []
            for entry in state.store {
                if hungUp.contains(entry.fd) {
                    log(.warning, "dropping a dead stored descriptor", ["name": entry.name])
                    actions.append(.close([entry.fd]))
                } else {
                    held.append(entry)
                }
            }
            state.store = held
        }

        mutating func closeStore() {
            if !state.store.isEmpty { actions.append(.close(state.store.map(\.fd))) }
            state.store.removeAll()
        }

        /// Closes and forgets the stored descriptors named `name`.
        mutating func removeStored(named name: String) {
            let removed = state.store.filter { $0.name == name }.map(\.fd)
            if !removed.isEmpty { actions.append(.close(removed)) }
            state.store.removeAll { $0.name == name }
        }

        mutating func signal(_ signal: Signal, now: Double) {
            switch signal {
            case .terminate:
                switch state.phase {
                case .handedOver:
                    log(.info, "stopping; the connection was handed over, the mount is left as it is")
                    actions.append(.exit(0))
                case .stopping:
                    break
                case .serving:
                    log(.info, "final stop", ["mountpoint": policy.mountPoint])
                    state.phase = .stopping(since: now)
                    if let child = state.child { actions.append(.signal(pid: child, .terminate)) }
                }
            case .restart:
                if case .serving = state.phase, let child = state.child, !state.restartAsked {
                    log(.info, "restarting the server (hand-over stop)", ["pid": "\(child)"])
                    state.restartAsked = true
                    actions.append(.signal(pid: child, .handOver))
                }
            }
        }

        /// Whether `name` may name stored descriptors (as systemd checks FDNAME).
        static func validName(_ name: String) -> Bool {
            name.utf8.count <= 255 && !name.contains(":") && name.allSatisfy { $0.isASCII && !$0.isWhitespace }
        }

        /// Takes one datagram from the running child (root or this uid); anything else is closed.
        mutating func notification(_ message: NotifyMessage?, pid: Int32, uid: UInt32, descriptors: [FileDescriptor]) {
            guard let child = state.child, pid == child, uid == 0 || uid == policy.ownUID else {
                if !descriptors.isEmpty { actions.append(.close(descriptors)) }
                log(.debug, "ignored a notification", ["from": "\(pid)"])
                return
            }
            guard let message else {
                if !descriptors.isEmpty { actions.append(.close(descriptors)) }
                return
            }
            let name = message.storeName
            var taken = false
            if message.fdStoreRemove {
                removeStored(named: name)
                log(.debug, "removed from the store", ["name": name])
            }
            if message.fdStore, !descriptors.isEmpty, Self.validName(name) {
                removeStored(named: name)
                for fd in descriptors {
                    if state.store.count < timing.storeMax {
                        state.store.append(Stored(name: name, fd: fd))
                    } else {
                        actions.append(.close([fd]))
                        log(.warning, "the store is full; a descriptor was closed", ["name": name])
                    }
                }
                taken = true
                log(.debug, "stored", ["name": name, "count": "\(descriptors.count)"])
            }
            if !taken, !descriptors.isEmpty { actions.append(.close(descriptors)) }
            if message.ready, !state.childReady {
                state.childReady = true
                actions.append(.noteServedDevice)
                log(.info, "the server is ready", ["pid": "\(child)"])
                actions.append(.writeReadyFile(pid: child))
            }
        }

        /// EX_USAGE (sysexits.h), the status of a refused command line.
        static let usageError: Int32 = 64

        /// Decides what follows the running child's end (other pids are
        /// ignored): a restart, a wait, or the end (a final stop, a hand-over,
        /// or a server that refused its command line, whose status is kept).
        mutating func childExited(pid: Int32, _ how: ChildExit, now: Double, hungUp: Set<FileDescriptor>) {
            guard pid == state.child else { return }
            state.child = nil
            actions.append(.removeReadyFile)
            let exitedZero = how == .exited(0)
            let asked = state.restartAsked
            state.restartAsked = false
            switch state.phase {
            case .stopping:
                log(.info, "the server stopped", ["pid": "\(pid)", "how": "\(how)"])
                state.stoppedCleanly = exitedZero
                if !exitedZero { state.exitStatus = 1 }
            case .handedOver:
                break
            case .serving:
                if exitedZero && asked {
                    log(.info, "the server handed over; starting it again", ["pid": "\(pid)"])
                    state.delay = timing.firstDelay
                    state.restartAt = 0
                } else if exitedZero && state.store.isEmpty {
                    log(.info, "the server stopped and unmounted; exiting", ["pid": "\(pid)"])
                    state.stoppedCleanly = true
                    state.phase = .stopping(since: .infinity)
                } else if exitedZero {
                    dropHungUp(hungUp)
                    let connectionAlive = state.store.contains { $0.name == "fuse" }
                    closeStore()
                    if connectionAlive {
                        log(.info, "the server handed the connection over; releasing it and waiting for a stop signal",
                            ["pid": "\(pid)"])
                        state.phase = .handedOver
                    } else {
                        // Unmounted from outside: the kernel ended the connection.
                        log(.info, "the server's connection has ended; exiting", ["pid": "\(pid)"])
                        state.stoppedCleanly = true
                        state.phase = .stopping(since: .infinity)
                    }
                } else if how == .exited(Self.usageError) {
                    // Its command line is refused (EX_USAGE): every restart would be refused too.
                    log(.error, "the server refused its command line (exit 64); exiting with its status", ["pid": "\(pid)"])
                    state.exitStatus = Self.usageError
                    state.phase = .stopping(since: .infinity)
                } else {
                    log(.error, "the server died; starting it again", [
                        "pid": "\(pid)", "how": "\(how)", "stored": state.store.map(\.name).joined(separator: ",")])
                    scheduleRestart(now: now)
                }
            }
        }
    }
}
