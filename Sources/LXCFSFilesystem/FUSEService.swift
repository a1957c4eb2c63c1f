import CFuse3
import Logging
import LXCFSCore
import LXCFSMountInfo
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a serving process ends.
public enum ShutdownKind: Sendable, Equatable {
    /// Final stop: stop reading, answer what is in flight, unmount, clear
    /// the fd store (FDSTOREREMOVE), exit 0.
    case final
    /// Hand-over stop: stop reading, answer what is in flight, exit 0 and
    /// leave the mount to whoever holds the stored descriptors.
    case handover
}

/// The signals that end serving: SIGTERM, SIGINT and SIGHUP stop for
/// good, SIGUSR2 hands over. Under systemd, `systemctl stop` and `systemctl
/// restart` both send SIGTERM: there the job systemd runs for the unit tells
/// them apart (`SystemdUnit`), and a restart job is a hand-over, so that the
/// next process resumes from the fd store and the mount stays.
public func shutdownKind(for signal: Int32) -> ShutdownKind {
    if signal == SIGUSR2 { return .handover }
    if signal == SIGTERM, let unit = SystemdUnit.ownUnit(), SystemdUnit.restartJobPending(unit: unit) {
        return .handover
    }
    return .final
}

/// Descriptors a predecessor left to this process: from `LISTEN_FDS`
/// (systemd's fd store, the supervisor, a test acting as one) or from a takeover.
public struct InheritedDescriptors: Sendable {
    /// The `/dev/fuse` open file (FDNAME `fuse`).
    public let fuseFD: Int32
    /// The state memfd (FDNAME `state`).
    public let stateFD: Int32

    public init(fuseFD: Int32, stateFD: Int32) {
        self.fuseFD = fuseFD
        self.stateFD = stateFD
    }

    /// Closes both.
    public func close() {
        Glibc.close(fuseFD)
        Glibc.close(stateFD)
    }

    /// The descriptors systemd's protocol passed to this process
    /// (`LISTEN_PID` equal to its pid; `LISTEN_FDS` descriptors from 3,
    /// named by `LISTEN_FDNAMES`), made close-on-exec. The `LISTEN_*`
    /// variables are removed either way; descriptors with other names are closed.
    /// - Returns: the pair, `nil` when none was passed, or a sentence
    ///   saying why what was passed is unusable (its descriptors closed).
    public static func fromEnvironment() -> Result<InheritedDescriptors?, ResumeError> {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let rawPID = getenv("LISTEN_PID"), Int32(String(cString: rawPID)) == getpid(),
              let rawCount = getenv("LISTEN_FDS") else { return .success(nil) }
        let count = Int(String(cString: rawCount)) ?? 0
        guard count > 0 else { return .success(nil) }
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        var fuse: Int32?
        var state: Int32?
        for i in 0..<min(count, 64) {
            let fd = Int32(3 + i)
            let name = i < names.count ? names[i] : ""
            if name == "fuse" && fuse == nil {
                fuse = fd
            } else if name == "state" && state == nil {
                state = fd
            } else {
                Glibc.close(fd)
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        guard let fuse, let state else {
            if let fuse { Glibc.close(fuse) }
            if let state { Glibc.close(state) }
            return .failure(ResumeError("LISTEN_FDS passed \(count) descriptors but LISTEN_FDNAMES (\(names.joined(separator: ":"))) does not name both fuse and state"))
        }
        return .success(InheritedDescriptors(fuseFD: fuse, stateFD: state))
    }
}

/// Why inherited descriptors cannot be resumed: one sentence without the final period.
public struct ResumeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ sentence: String) { description = sentence }
}

/// A connection being served: mounted fresh here, or resumed from a
/// predecessor's descriptors.
// Unchecked: `held` is written at start-up, before the service is shared, and drained by the one thread that starts serving.
public final class FUSEService: @unchecked Sendable {
    /// The mount point, resolved.
    public let mountPoint: String
    /// The `/dev/fuse` descriptor.
    public let fuseFD: Int32
    /// The sealed state memfd, held to store or hand over.
    public let stateFD: Int32
    /// What the state says.
    public let state: SessionState
    /// Whether this process resumed a connection instead of mounting.
    public let resumed: Bool
    let connection: FUSEConnection
    let logger: Logger
    /// Requests read while probing, on a kernel without FUSE_NOTIFY_RESEND.
    private var held: [[UInt8]]

    private init(mountPoint: String, fuseFD: Int32, stateFD: Int32, state: SessionState, resumed: Bool,
                 connection: FUSEConnection, logger: Logger, held: [[UInt8]]) {
        self.mountPoint = mountPoint
        self.fuseFD = fuseFD
        self.stateFD = stateFD
        self.state = state
        self.resumed = resumed
        self.connection = connection
        self.logger = logger
        self.held = held
    }

    /// The signals `serve` waits for, blocked by `prepareSignals` in every thread.
    static let stopSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGUSR2]

    /// Blocks the stop signals in the calling thread, so that every thread
    /// started later inherits the mask and only `serve` takes them, and
    /// installs the no-op handler of `FUSEConnection.wakeSignal`. Call
    /// first thing, before any thread starts.
    public static func prepareSignals() {
        _ = cfuse3_install_wake_handler(FUSEConnection.wakeSignal)
        stopSignals.withUnsafeBufferPointer { _ = cfuse3_thread_sigmask(cfuse3_sig_block(), $0.baseAddress, Int32($0.count)) }
    }

    static func resolved(_ path: String) -> String { resolvedMountPoint(path) }

    /// Mounts anew, answers INIT and writes the state memfd.
    /// - Throws: `MountError`.
    public static func mountFresh(_ mount: FUSEMount, filesystem: ContainerFilesystem, logger: Logger) throws -> FUSEService {
        // Before any worker thread: with an arena per worker thread the
        // daemon's anonymous memory crept up (docs/performance.md).
        _ = cfuse3_single_malloc_arena()
        let (fd, parameters) = try mount.mount()
        let mountPoint = resolved(mount.mountPoint)
        let device = MountInfo.top(at: mountPoint)?.device ?? "0:0"
        let state = SessionState(mountPoint: mountPoint, parameters: parameters,
                                 options: mount.options.joined(separator: ","), device: device)
        let stateFD = state.memfd()
        let connection = FUSEConnection(fd: fd, parameters: parameters, handler: filesystem, logger: logger)
        return FUSEService(mountPoint: mountPoint, fuseFD: fd, stateFD: stateFD, state: state, resumed: false,
                           connection: connection, logger: logger, held: [])
    }

    /// Checks inherited descriptors and, when they serve `mountPoint`,
    /// returns the service that resumes them (not yet serving):
    /// the fuse descriptor must be the /dev/fuse character device, the
    /// state of this format version and for this mount point, the topmost
    /// mount there a FUSE mount with the saved device, and a probe lookup
    /// at the mount's root must reach this descriptor within 3 s.
    /// - Returns: the service, or why not (the descriptors are then closed).
    public static func resume(_ inherited: InheritedDescriptors, mountPoint: String, options: [String],
                              filesystem: ContainerFilesystem, logger: Logger) -> Result<FUSEService, ResumeError> {
        _ = cfuse3_single_malloc_arena()
        let mountPoint = resolved(mountPoint)
        func fail(_ sentence: String) -> Result<FUSEService, ResumeError> {
            inherited.close()
            return .failure(ResumeError(sentence))
        }
        var st = stat()
        guard fstat(inherited.fuseFD, &st) == 0, st.st_mode & S_IFMT == S_IFCHR,
              cfuse3_dev_major(st.st_rdev) == CFUSE3_DEV_FUSE_MAJOR, cfuse3_dev_minor(st.st_rdev) == CFUSE3_DEV_FUSE_MINOR else {
            return fail("the descriptor named fuse is not /dev/fuse")
        }
        guard let bytes = SessionState.read(fd: inherited.stateFD) else {
            return fail("the descriptor named state cannot be read")
        }
        let state: SessionState
        do {
            state = try SessionState(decoding: bytes)
        } catch {
            return fail("the saved state is unusable: \(error)")
        }
        guard state.mountPoint == mountPoint else {
            return fail("the saved state is for \(state.mountPoint), not \(mountPoint)")
        }
        guard let top = MountInfo.top(at: mountPoint), top.fsType.hasPrefix("fuse"), top.device == state.device else {
            return fail("no FUSE mount of the saved device \(state.device) is at \(mountPoint)")
        }
        if state.options != options.joined(separator: ",") {
            logger.warning("the mount keeps its options \(state.options); new -o options apply only to a fresh mount")
        }
        let flags = fcntl(inherited.fuseFD, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK != 0 { _ = fcntl(inherited.fuseFD, F_SETFL, flags & ~O_NONBLOCK) }
        let connection = FUSEConnection(fd: inherited.fuseFD, parameters: state.parameters, handler: filesystem, logger: logger)
        let probe = connection.confirmServes(mountPoint)
        guard probe.confirmed else {
            return fail("the descriptor named fuse does not serve \(mountPoint) (no probe request within 3 s)")
        }
        return .success(FUSEService(mountPoint: mountPoint, fuseFD: inherited.fuseFD, stateFD: inherited.stateFD,
                                    state: state, resumed: true, connection: connection, logger: logger, held: probe.held))
    }

    /// Serves until a stop signal or a takeover: starts the workers
    /// (after FUSE_NOTIFY_RESEND on a resumed connection, on protocol 7.40
    /// and later), calls `ready`, then waits for signals on this thread.
    /// A takeover request from `listener` hands the connection over when
    /// the new process confirms, and serving goes on when it does not.
    /// - Returns: how serving ended; the workers have stopped and answered
    ///   what they had read.
    public func serve(listener: TakeoverListener?, ready: () -> Void) -> ShutdownKind {
        let main = pthread_self()
        connection.onEnded = { pthread_kill(main, SIGTERM) }
        listener?.start { pthread_kill(main, SIGUSR2) }
        if resumed && connection.notifyResend() {
            // Every request read and not answered (by a dead predecessor, or
            // by the probe) is queued again, bit 63 of its unique set.
            held = []
        }
        connection.start(handling: held)
        held = []
        ready()
        while true {
            let signal = Self.stopSignals.withUnsafeBufferPointer { cfuse3_sigwait($0.baseAddress, Int32($0.count)) }
            if signal < 0 { continue }
            if signal == SIGUSR2, let listener, let client = listener.takePending() {
                connection.stop()
                if listener.handOver(to: client, fuseFD: fuseFD, stateFD: stateFD) { return .handover }
                // The new process may have read requests before it gave up.
                connection.notifyResend()
                connection.start()
                continue
            }
            let kind = shutdownKind(for: signal)
            logger.info(kind == .final ? "stopping" : "stopping for a hand-over", metadata: ["signal": "\(signal)"])
            connection.stop()
            return kind
        }
    }

    /// Detaches the mount, when the topmost mount at the mount point is still this one.
    public func unmount() {
        if let top = MountInfo.top(at: mountPoint), top.device == state.device {
            FUSEMount.unmount(mountPoint)
        }
    }
}
