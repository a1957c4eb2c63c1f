import ArgumentParser
import Dispatch
import Logging
import LXCFSReattach
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swift-lxcfs reattach [--dry-run] [MOUNTPOINT]`: the step every daemon
/// start runs, on its own.
struct ReattachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reattach",
        abstract: "Replace the binds of dead lxcfs mounts in every mount namespace with binds of the live daemon's files.",
        discussion: """
            Finds every mount namespace on the host (each once, from /proc/*/ns/mnt) with fuse.lxcfs \
            mounts of a dead connection (an open gives ENOTCONN) and replaces each with a bind of the same \
            path inside the daemon's mount at MOUNTPOINT. Binds of the live connection, and every other \
            mount, stay as they are. Prints one line per namespace and per mount, then a summary; exits 0 \
            when every dead mount that readers see was replaced, 1 otherwise. The daemon runs the same \
            step at every start unless --no-reattach is given.
            """
    )

    @Flag(name: .customLong("dry-run"), help: "Print what would be replaced and change nothing.")
    var dryRun = false

    @OptionGroup var reattachFrom: ReattachFromOption

    @Argument(help: "The live daemon's mount point.")
    var mountpoint = "/var/lib/lxcfs"

    func run() throws {
        let ok: Bool
        do {
            ok = try Reattach(mountPoint: mountpoint, dryRun: dryRun, reattachFrom: reattachFrom.paths).run { line in
                let text = line + "\n"
                _ = text.withCString { write(1, $0, strlen($0)) }
            }
        } catch let error as ReattachError {
            printError(error.description)
            throw ExitCode.failure
        }
        if !ok { throw ExitCode.failure }
    }
}

/// `swift-lxcfs __reattach-probe PATH`: the connection probe the reattach
/// step re-executes (hidden; see `ConnectionProbe`).
struct ReattachProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: ConnectionProbe.subcommand, shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough)
    var arguments: [String] = []

    func run() throws { exitProcess(ConnectionProbe.main(arguments)) }
}

/// `swift-lxcfs __reattach-ns ...`: the namespace helper the reattach step
/// re-executes (hidden; see `NamespaceHelper`).
struct NamespaceHelperCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: NamespaceHelper.subcommand, shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough)
    var arguments: [String] = []

    func run() throws { exitProcess(NamespaceHelper.main(arguments)) }
}

/// `--reattach-from PATH`, shared by the daemon and `reattach`: whose dead
/// lxcfs connections the step takes over besides the mount point's own.
struct ReattachFromOption: ParsableArguments {
    /// lxcfs's mount point, taken over by default.
    static let lxcfsDefault = "/var/lib/lxcfs"

    @Option(name: .customLong("reattach-from"), help: ArgumentHelp(
        "Also take over the dead lxcfs connection mounted at PATH (repeatable; default \(lxcfsDefault), lxcfs's; '' for none).",
        discussion: "A dead connection still mounted at another path belongs to another instance: neither that mount point nor its binds in any namespace are touched. One no longer mounted on the host (its mount point was unmounted) is taken over.",
        valueName: "PATH"))
    var from: [String] = []

    /// The paths to take over: `/var/lib/lxcfs` when none is given.
    var paths: [String] {
        from.isEmpty ? [Self.lxcfsDefault] : from.filter { !$0.isEmpty }
    }

    func validate() throws {
        for path in from where !path.isEmpty && !path.hasPrefix("/") {
            throw ValidationError("--reattach-from \(path) must be an absolute path")
        }
    }
}

/// The reattach step at daemon start.
enum ReattachAtStart {
    /// Once the mount answers, runs `swift-lxcfs reattach MOUNTPOINT` as a
    /// child process on another thread (the daemon's own threads never
    /// change namespace); its report goes to the daemon's log, and a
    /// failure is logged, never fatal.
    static func afterMountAnswers(mountPoint: String, reattachFrom: [String], logger: Logger) {
        DispatchQueue.global().async {
            let probe = mountPoint + "/proc/meminfo"
            var answered = false
            for _ in 0..<3000 {
                let fd = open(probe, O_RDONLY | O_CLOEXEC)
                if fd >= 0 {
                    var byte: UInt8 = 0
                    answered = read(fd, &byte, 1) == 1
                    close(fd)
                }
                if answered { break }
                usleep(10_000)
            }
            guard answered else {
                logger.error("reattach: the mount at \(mountPoint) does not answer; containers were not repaired")
                return
            }
            let from = reattachFrom.flatMap { ["--reattach-from", $0] }
            let (outcome, _) = Subprocess.run(["reattach"] + from + [mountPoint], timeout: 600, captureOutput: false,
                                              stdoutToStderr: true)
            switch outcome {
            case .exited(0): break
            case .exited(let code): logger.warning("reattach: some dead lxcfs mounts were left (exit status \(code)); see above")
            case .signaled(let s): logger.error("reattach: the step was ended by signal \(s)")
            case .timedOut: logger.error("reattach: the step did not finish within 600 s and was killed")
            case .notStarted(let why): logger.error("reattach: cannot start the step: \(why)")
            }
        }
    }
}

extension Daemon {
    /// Lazily detaches a dead FUSE mount (lxcfs or swift-lxcfs killed) at
    /// the mount point, so the daemon can mount there; a live one stays
    /// and is refused afterwards.
    func detachDeadMountAtMountPoint() {
        for sentence in DeadMountPoint.detachDead(at: mountPoint) {
            logger.warning("\(sentence)")
        }
    }
}
