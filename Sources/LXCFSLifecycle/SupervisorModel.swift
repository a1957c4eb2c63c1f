import SystemPackage

/// The restart and hand-over policy of `swift-lxcfs supervise`, as a pure
/// reducer: `reduce(state, event) -> (state, actions)`. The supervisor's
/// I/O loop (signalfd, the notification socket, `waitpid`, spawning) turns
/// what happens into `Event`s and carries out the `Action`s; the policy
/// itself reads no clock (each event carries the monotonic time, in
/// seconds) and touches no descriptor or process.
///
/// What ends the child, and what follows:
/// - killed by a signal or a non-zero exit: started again after
///   `Timing.firstDelay`; a child that dies within `Timing.healthyRun` of
///   its start waits twice as long as the one before (up to
///   `Timing.longestDelay`), so a crash loop does not spin;
/// - exit 0 after a `.restart` signal (SIGHUP; the child was sent the
///   hand-over stop, SIGUSR2): started again at once, from the store;
/// - exit 0 with an empty store (the child stopped finally, unmounted and
///   sent FDSTOREREMOVE): the supervisor exits 0;
/// - exit 0 with descriptors still stored, unasked: when the stored `fuse`
///   connection is still alive it was taken over by `--takeover`: the
///   store is closed and the supervisor idles until `.terminate`, then
///   exits 0 without touching the mount; when the kernel has ended it,
///   the supervisor exits 0.
/// `.terminate` (SIGTERM or SIGINT) is the final stop: the child gets
/// SIGTERM and is killed when it has not exited after `Timing.stopTimeout`
/// (exit status 1); then the final clean-up.
package struct SupervisorPolicy: Sendable {
    /// The policy's time constants, in seconds, and the store's size.
    package struct Timing: Sendable, Equatable {
        /// Most descriptors held at once; more are closed (systemd's
        /// FileDescriptorStoreMax= plays this part there).
        package var storeMax = 16
        /// How long a child may take to stop after SIGTERM before SIGKILL.
        package var stopTimeout = 20.0
        /// The restart delay after a child that ran at least `healthyRun`.
        package var firstDelay = 0.1
        /// The longest restart delay of a crash loop.
        package var longestDelay = 8.0
        /// A child that lived at least this long restarts after `firstDelay`.
        package var healthyRun = 1.0

        package init() {}
    }

    /// The mount point served (for log lines only).
    package let mountPoint: String
    /// Whether the first child is to take the connection over (`--takeover`).
    package let takeover: Bool
    /// The supervisor's own uid: notifications from this uid or root are taken.
    package let ownUID: UInt32
    package let timing: Timing

    package init(mountPoint: String, takeover: Bool, ownUID: UInt32, timing: Timing = Timing()) {
        self.mountPoint = mountPoint
        self.takeover = takeover
        self.ownUID = ownUID
        self.timing = timing
    }

    /// One stored descriptor and its `FDNAME`.
    package struct Stored: Sendable, Equatable {
        package let name: String
        package let fd: FileDescriptor

        package init(name: String, fd: FileDescriptor) {
            self.name = name
            self.fd = fd
        }
    }

    /// What the supervisor is doing.
    package enum Phase: Sendable, Equatable {
        /// A child runs (or is to be started at `State.restartAt`).
        case serving
        /// Final stop asked: the child was sent SIGTERM at this time
        /// (monotonic seconds; infinite: no deadline, it was killed or none ran).
        case stopping(since: Double)
        /// The connection went to another process: idle until `.terminate`.
        case handedOver
    }

    /// Everything the policy remembers between events.
    package struct State: Sendable, Equatable {
        package var phase = Phase.serving
        /// The descriptors held for the next child, in the order received.
        package var store: [Stored] = []
        /// The running child's pid, if one runs.
        package var child: Int32?
        /// When the last child was started (monotonic seconds).
        package var childStarted = 0.0
        /// Whether the running child has sent READY=1.
        package var childReady = false
        /// When the next child is due (monotonic seconds), if one is.
        package var restartAt: Double? = 0
        /// The last restart delay, in seconds.
        package var delay: Double
        /// Whether the running child was asked to hand over (SIGHUP).
        package var restartAsked = false
        /// Whether no child was started yet.
        package var firstChild = true
        /// The status the supervisor exits with.
        package var exitStatus: Int32 = 0
        /// Whether the last child ended with exit 0 during a final stop.
        package var stoppedCleanly = false

        package init(timing: Timing = Timing()) { delay = timing.firstDelay }
    }

    /// A signal to the supervisor, as the policy sees it.
    package enum Signal: Sendable, Equatable {
        /// SIGTERM or SIGINT: the final stop.
        case terminate
        /// SIGHUP: restart the child without unmounting.
        case restart
    }

    /// A signal the supervisor sends its child.
    package enum ChildSignal: Sendable, Equatable {
        /// SIGTERM: stop finally (the server unmounts).
        case terminate
        /// SIGUSR2: the hand-over stop (the server leaves the mount and exits 0).
        case handOver
        /// SIGKILL: the child did not stop in time.
        case kill
    }

    /// How a child ended, from `waitpid`'s status.
    package enum ChildExit: Sendable, Equatable, CustomStringConvertible {
        /// It exited with this status (0-255).
        case exited(Int32)
        /// A signal (number) ended it.
        case signaled(Int32)

        /// Decodes a `waitpid` status word (WIFEXITED/WEXITSTATUS/WTERMSIG).
        package init(waitStatus status: Int32) {
            self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        }

        /// `exit status N` or `signal N`, as the log lines say it.
        package var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signaled(let signal): return "signal \(signal)"
            }
        }
    }

    /// What happened, with the monotonic time (seconds) where it matters.
    package enum Event: Sendable {
        /// The loop is about to wait: `hungUp` are the stored descriptors the
        /// kernel reports hung up or in error (poll POLLHUP/POLLERR/POLLNVAL).
        case tick(now: Double, hungUp: Set<FileDescriptor>)
        /// The child asked for by `.start` runs with this pid.
        case started(pid: Int32, now: Double)
        /// The child asked for by `.start` could not be started (logged by the loop).
        case startFailed(now: Double)
        /// A signal to the supervisor.
        case signal(Signal, now: Double)
        /// A datagram on the notification socket: its message (`nil`: none
        /// parsed), the sender's pid and uid (SCM_CREDENTIALS) and the
        /// descriptors that came with it (SCM_RIGHTS), now the policy's to close or hold.
        case notification(NotifyMessage?, pid: Int32, uid: UInt32, descriptors: [FileDescriptor])
        /// A child was reaped; `hungUp` as for `.tick`.
        case childExited(pid: Int32, ChildExit, now: Double, hungUp: Set<FileDescriptor>)
    }

    /// A log line for the loop's logger.
    package struct LogLine: Sendable, Equatable {
        package enum Level: Sendable, Equatable { case debug, info, warning, error }
        package let level: Level
        package let message: String
        package let metadata: [String: String]

        package init(_ level: Level, _ message: String, _ metadata: [String: String] = [:]) {
            self.level = level
            self.message = message
            self.metadata = metadata
        }
    }

    /// What the loop is to do, in order.
    package enum Action: Sendable, Equatable {
        /// Start the server with these stored descriptors (at 3, 4, ...,
        /// with LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID); with `--takeover`
        /// when `tryTakeover` and a process answers on the takeover socket.
        /// Answer with `.started` or `.startFailed`.
        case start(resumes: [Stored], tryTakeover: Bool)
        /// Send the child a signal.
        case signal(pid: Int32, ChildSignal)
        /// Close these descriptors.
        case close([FileDescriptor])
        /// Log a line.
        case log(LogLine)
        /// The child is ready: remember the superblock at the mount point
        /// (for the final clean-up in the host's mount namespace).
        case noteServedDevice
        /// Write the ready file with this pid.
        case writeReadyFile(pid: Int32)
        /// Remove the ready file.
        case removeReadyFile
        /// The final clean-up: detach a FUSE mount left at the mount point
        /// when `detachLeftMount`, and the served superblock's mounts in the
        /// host's mount namespace; then exit with `status` (1 when a detach fails).
        case finalCleanup(detachLeftMount: Bool, status: Int32)
        /// Exit at once with this status (the mount is left as it is).
        case exit(Int32)
    }

    /// How long the loop may wait for a signal or a datagram before the
    /// next `.tick` is due, in seconds; `nil`: no deadline.
    package func waitLimit(_ state: State, now: Double) -> Double? {
        switch state.phase {
        case .serving where state.child == nil:
            return state.restartAt.map { max(0, $0 - now) }
        case .stopping(let since) where since.isFinite:
            return max(0, since + timing.stopTimeout - now)
        default:
            return nil
        }
    }
}
