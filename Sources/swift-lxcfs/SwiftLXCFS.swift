import ArgumentParser
import Logging
import LXCFSCore
import LXCFSFilesystem
import LXCFSSeccomp
import LXCFSSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The view switches shared by the daemon and `render`, spelled as lxcfs spells them.
struct ViewFlags: ParsableArguments {
    @Flag(name: .customLong("enable-cfs"), help: "Cut the visible CPUs to the CFS quota, rounded up.")
    var enableCFS = false

    @Flag(name: [.customShort("u"), .customLong("disable-swap")], help: "Show SwapTotal and SwapFree as 0 kB.")
    var disableSwap = false

    @Flag(name: [.customShort("l"), .customLong("enable-loadavg")], help: "Per-container load averages in proc/loadavg.")
    var enableLoadavg = false

    @Flag(name: .customLong("disable-zswap"), help: "Show Zswap and Zswapped as 0 kB (lxcfs 7's flag; without it they are the cgroup's zswap and zswapped from memory.stat on cgroup v2, 0 kB on v1, as lxcfs 7 shows them).")
    var disableZswap = false

    var viewOptions: ViewOptions {
        ViewOptions(enableCFS: enableCFS, disableSwap: disableSwap, enableLoadavg: enableLoadavg,
                    disableZswap: disableZswap)
    }
}

/// A command-line failure: one sentence, printed as `swift-lxcfs: SENTENCE`, exit 1.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ sentence: String) { description = sentence }
}

/// The command line: `swift-lxcfs [serve] [OPTIONS] [MOUNTPOINT]` runs the
/// daemon (`Serve`, the default subcommand, so lxcfs's command line parses
/// as it is), and `render`, `supervise`, `reattach`, `cdi-spec` and
/// `webhook` the other commands. Two hidden subcommands are the reattach
/// step's re-execs (the connection probe and the namespace helper).
@main
struct SwiftLXCFS: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "swift-lxcfs",
        abstract: "A FUSE filesystem that shows each container its own /proc view (a drop-in for lxcfs).",
        usage: """
            swift-lxcfs [serve] [OPTIONS] [MOUNTPOINT]
            swift-lxcfs <subcommand>
            """,
        discussion: """
            Without a subcommand it runs the daemon ('serve'): it mounts proc/ and sys/ views at \
            MOUNTPOINT. Bind-mount them over a container's /proc and /sys files, e.g. \
            -v /var/lib/lxcfs/proc/meminfo:/proc/meminfo:rw. 'swift-lxcfs serve --help' lists its \
            OPTIONS, which are lxcfs's.
            """,
        version: version,
        subcommands: [Serve.self, Render.self, Supervise.self, ReattachCommand.self, CDISpec.self,
                      WebhookCommand.self, SeccompProfileCommand.self, ReattachProbeCommand.self, NamespaceHelperCommand.self],
        defaultSubcommand: Serve.self
    )

    /// Parses the command line and runs the command. A command-line error
    /// is one sentence on standard error and a non-zero exit; help and
    /// version exit 0.
    static func main() {
        // Started by the supervisor as the step that sets LISTEN_PID: exec the server now.
        Spawn.execSettingListenPIDIfAsked()
        // A closed log pipe (`swift-lxcfs ... | head -1`, a runtime's shim
        // gone) gives EPIPE to the write, never a SIGPIPE that ends the
        // daemon or the supervisor. Children get default signals back (Spawn).
        signal(SIGPIPE, SIG_IGN)
        var args = Array(CommandLine.arguments.dropFirst())
        // lxcfs spells --version as -v too (on the daemon's command line).
        if subcommand(named: args.first) == nil { args = args.map { $0 == "-v" ? "--version" : $0 } }
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch let code as ExitCode {
            exitProcess(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            printError("\(sentence(for: error)); see '\(helpHint(args))'.")
            exitProcess(code.rawValue)
        }
    }

    /// The first line of argument-parser's message for `error`, without a
    /// final period.
    static func sentence(for error: Error) -> String {
        var sentence = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid command line"
        while sentence.hasSuffix(".") { sentence.removeLast() }
        return sentence
    }

    /// `swift-lxcfs SUBCOMMAND --help` for the subcommand `args` names
    /// (the daemon's, `serve`, when it names none).
    /// A bare first word that is no subcommand (a mistyped one) points to
    /// `swift-lxcfs --help`, which lists them.
    static func helpHint(_ args: [String]) -> String {
        if let first = args.first, !first.hasPrefix("-"), !first.contains("/"), subcommand(named: first) == nil {
            return "swift-lxcfs --help"
        }
        return "swift-lxcfs \((subcommand(named: args.first) ?? Serve.self)._commandName) --help"
    }

    /// The subcommand called `word`, if any.
    static func subcommand(named word: String?) -> ParsableCommand.Type? {
        configuration.subcommands.first { $0._commandName == word }
    }
}

/// `swift-lxcfs [serve] [OPTIONS] [MOUNTPOINT]`: the daemon, with lxcfs's options.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Mount the proc/ and sys/ views at MOUNTPOINT and serve them (the default subcommand).",
        discussion: """
            Mounts proc/ and sys/ views at MOUNTPOINT. Bind-mount them over a container's /proc \
            and /sys files, e.g. -v /var/lib/lxcfs/proc/meminfo:/proc/meminfo:rw. 'serve' may be \
            left out, as lxcfs has no such word: 'swift-lxcfs -l /var/lib/lxcfs' is this command.

            'swift-lxcfs render --help' shows the offline renderer, which prints a file as a given \
            process would read it; 'swift-lxcfs reattach --help' the step that repairs containers \
            whose lxcfs binds died, which every start runs; 'swift-lxcfs supervise --help' the \
            supervisor that keeps the mount across restarts; 'swift-lxcfs webhook --help' the \
            Kubernetes admission webhook; 'swift-lxcfs cdi-spec --help' the CDI spec.
            """
    )
    @Flag(name: [.customShort("f"), .customLong("foreground")], help: "Run in the foreground (always the case; accepted for lxcfs compatibility).")
    var foreground = false

    @Flag(name: [.customShort("d"), .customLong("debug")], help: "Log at debug level, including each file that falls back to host values and why (once per file, reason and cgroups, not on every read).")
    var debug = false

    @Option(name: [.customShort("p"), .customLong("pidfile")], help: ArgumentHelp("The pidfile, locked while the daemon runs; its directory must exist. (default: /run/swift-lxcfs.pid, or DIR/swift-lxcfs.pid with --runtime-dir DIR)", valueName: "FILE"))
    var pidfileOption: String?

    @Option(name: .customLong("runtime-dir"), help: ArgumentHelp("Where the default pidfile goes (lxcfs 7's flag); -p overrides it.", valueName: "DIR"))
    var runtimeDir = "/run"

    @Flag(name: .customShort("s"), help: "Accepted and ignored, as lxcfs does (its legacy single-thread flag; the daemon's threads are its own).")
    var singleThreaded = false

    @Flag(name: .customLong("enable-pidfd"), help: "Accepted for lxcfs compatibility; no effect here: each request's process is looked up by its pid in /proc when it is served, so a reused pid is never held.")
    var enablePidfd = false

    @Option(name: [.customShort("o")], help: "Extra FUSE mount options, comma-separated.")
    var mountOptions: [String] = []

    @Flag(name: .customLong("takeover"), help: "Take the mount over from the swift-lxcfs serving MOUNTPOINT (live upgrade): it hands its FUSE connection over and exits 0.")
    var takeover = false

    @OptionGroup var view: ViewFlags

    @OptionGroup var limits: LimitFlags

    @Flag(name: .customLong("enable-psi-poll"), help: "Let processes register PSI triggers: /proc/pressure/{cpu,io,memory} opened for writing take a trigger (some|full STALL_US WINDOW_US) on the container cgroup's pressure file (cgroup v2), and poll(2) reports POLLPRI when it fires.")
    var enablePSIPoll = false

    @Flag(name: .customLong("no-reattach"), help: "Do not repair containers whose lxcfs binds died at start (see 'swift-lxcfs reattach --help').")
    var noReattach = false

    @Option(name: .customLong("seccomp-socket"), help: ArgumentHelp("The seccomp agent's unix socket, for an OCI config's linux.seccomp.listenerPath: sysinfo(2) sent to SCMP_ACT_NOTIFY is answered with the container's view (see 'swift-lxcfs seccomp-profile --help'). Its folder must be root's alone (0700).", valueName: "path"))
    var seccompSocket = AgentSocket.defaultPath

    @Flag(name: .customLong("no-seccomp-agent"), help: "Do not serve the seccomp agent.")
    var noSeccompAgent = false

    @OptionGroup var reattachFrom: ReattachFromOption

    @Argument(help: "Where to mount: an absolute path, or an existing directory.")
    var mountpoint = "/var/lib/lxcfs"

    /// The pidfile: `-p`, else `swift-lxcfs.pid` in `--runtime-dir`.
    var pidfile: String {
        pidfileOption ?? (runtimeDir.hasSuffix("/") ? runtimeDir : runtimeDir + "/") + "swift-lxcfs.pid"
    }

    mutating func validate() throws {
        mountpoint = try ServeArguments.mountPoint(mountpoint)
        try ServeArguments.checkPidfileDirectory(pidfile, fromRuntimeDir: pidfileOption == nil)
    }

    mutating func run() throws {
        let logger = makeLogger(debug: debug)
        do {
            try Daemon(mountPoint: mountpoint, pidfile: pidfile,
                       fuseOptions: mountOptions.flatMap { $0.split(separator: ",").map(String.init) },
                       viewOptions: view.viewOptions, takeover: takeover, logger: logger,
                       enablePSIPoll: enablePSIPoll, budget: try limits.budget(),
                       renderCacheTick: limits.renderCacheTick, cpuBudget: limits.cpuBudget, reattach: !noReattach,
                       seccompSocket: noSeccompAgent ? nil : seccompSocket,
                       reattachFrom: reattachFrom.from).run()
        } catch let failure as Failure {
            printError(failure.description)
            throw ExitCode.failure
        } catch let error as MountError {
            printError(error.description)
            throw ExitCode.failure
        }
    }
}

/// `swift-lxcfs render`: prints a file exactly as a process would read it through the mount.
struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Print a virtual file as process PID would read it through the mount.",
        discussion: "With --root, every host file is read under DIR and \"now\" is DIR/proc/uptime."
    )

    @Option(help: "Read every host file under this folder instead of /.")
    var root = "/"

    @Option(help: "The reading process's host pid; it must exist (under --root, one that does not is rendered as a reader that exited: host values).")
    var pid: Int32

    @OptionGroup var view: ViewFlags

    @Flag(name: [.customShort("d"), .customLong("debug")], help: "Log fallbacks, and the container cgroup chosen in each hierarchy and why, to standard error.")
    var debug = false

    @Argument(help: "The file, such as /proc/meminfo or /sys/devices/system/cpu/online (the leading / may be left out, as under the mount point).")
    var file: String

    /// On the host, a pid with no /proc entry is a mistyped one (the daemon
    /// would show such a reader host values). Under --root it is rendered as
    /// the daemon renders a reader that exited mid-request: host values.
    func validate() throws {
        var exists = stat()
        guard root != "/" || (pid > 0 && stat("/proc/\(pid)", &exists) == 0) else {
            throw ValidationError("no process \(pid): /proc/\(pid) does not exist")
        }
    }

    func run() throws {
        // The path as it is under the mount point (proc/meminfo) is the file's path too.
        let file = self.file.hasPrefix("/") ? self.file : "/" + self.file
        guard let virtualFile = VirtualFile(path: file) else {
            let known = VirtualFile.allCases.map(\.rawValue).joined(separator: ", ")
            printError("\(file) is not a served file; the served files are \(known).")
            throw ExitCode.failure
        }
        let logger = makeLogger(debug: debug)
        let view = ContainerView(root: HostRoot(root), options: view.viewOptions, logger: logger)
        if debug {
            for line in view.explainContainerCgroup(of: pid) { logger.debug("\(line)") }
        }
        let bytes = view.render(virtualFile, for: pid)
        bytes.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(1, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { break }
                off += n
            }
        }
    }
}

func makeLogger(debug: Bool) -> Logger {
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    var logger = Logger(label: "swift-lxcfs")
    logger.logLevel = debug ? .debug : .info
    return logger
}

/// exit(3), for code inside a command type, where `exit` names argument-parser's.
func exitProcess(_ status: Int32) -> Never { exit(status) }

func printError(_ sentence: String) {
    let line = "swift-lxcfs: \(sentence)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}
