import CLinux
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one way the daemon starts a process: posix_spawn(3), which is safe
/// in a threaded process (no Swift code runs between fork and exec). In
/// every child the signal mask is emptied (POSIX_SPAWN_SETSIGMASK) and every
/// signal is at its default action (POSIX_SPAWN_SETSIGDEF), whatever the
/// starting thread blocked or handled.
package enum Spawn {
    /// Where a child's standard output or standard error goes.
    package enum Output: Sendable {
        /// This process's own.
        case inherit
        /// /dev/null, opened write-only.
        case null
        /// This descriptor of the caller (dup2(2) in the child).
        case descriptor(FileDescriptor)
    }

    /// How a child ended, from its wait(2) status.
    package enum Exit: Equatable, Sendable {
        /// exit(3) with this status (0...255).
        case exited(Int32)
        /// Ended by this signal.
        case signaled(Int32)

        /// The ending a wait(2) `status` describes.
        package init(status: Int32) {
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }
    }

    /// Starts `path` with `arguments` (argv, argv[0] included).
    /// - Parameters:
    ///   - environment: `NAME=value` strings; `nil`: this process's environment.
    ///   - descriptors: become the child's descriptors 3, 4, ... (in this
    ///     order, without FD_CLOEXEC), as sd_listen_fds(3) expects them.
    ///   - closingOthers: every other descriptor from 3 + `descriptors.count`
    ///     up is closed in the child, close-on-exec or not.
    ///   - searchPath: look `path` up in PATH (posix_spawnp).
    /// - Returns: the child's pid.
    /// - Throws: `Errno` of posix_spawn (ENOENT, EACCES: `path` cannot be
    ///   executed) or of moving the descriptors (EMFILE).
    package static func start(_ path: String, arguments: [String], environment: [String]? = nil,
                              passing descriptors: [FileDescriptor] = [], closingOthers: Bool = false,
                              standardOutput: Output = .inherit, standardError: Output = .inherit,
                              searchPath: Bool = false) throws(Errno) -> pid_t {
        // Each passed descriptor first goes above the target range (close-on-exec
        // in this process), so that no dup2 onto 3, 4, ... overwrites a source.
        var moved: [FileDescriptor] = []
        defer { moved.forEach { try? $0.close() } }
        let first = Int32(3 + descriptors.count)
        for fd in descriptors {
            moved.append(FileDescriptor(rawValue: try systemCall { fcntl(fd.rawValue, F_DUPFD_CLOEXEC, first) }))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (output, target) in [(standardOutput, Int32(1)), (standardError, Int32(2))] {
            switch output {
            case .inherit: break
            case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd.rawValue, target)
            }
        }
        for (i, fd) in moved.enumerated() {
            // dup2 onto another number clears FD_CLOEXEC on the copy.
            posix_spawn_file_actions_adddup2(&actions, fd.rawValue, Int32(3 + i))
        }
        if closingOthers {
            let rc = clinux_spawn_file_actions_addclosefrom(&actions, first)
            guard rc == 0 else { throw Errno(rawValue: rc) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid = pid_t()
        let rc = (envp ?? []).withUnsafeBufferPointer { given in
            let env = environment == nil ? UnsafePointer(environ) : given.baseAddress
            return searchPath ? posix_spawnp(&pid, path, &actions, &attributes, argv, env)
                              : posix_spawn(&pid, path, &actions, &attributes, argv, env)
        }
        guard rc == 0 else { throw Errno(rawValue: rc) }
        return pid
    }

    /// Waits for the child `pid` to end (EINTR retried).
    /// - Throws: `Errno` (ECHILD: not a child of this process).
    package static func wait(_ pid: pid_t) throws(Errno) -> Exit {
        var status: Int32 = 0
        _ = try systemCall { waitpid(pid, &status, 0) }
        return Exit(status: status)
    }

    /// What `run` collected.
    package struct Finished: Sendable {
        /// How the child ended.
        package var exit: Exit
        /// Its standard output (at most `capacity` bytes); empty when not captured.
        package var output: [UInt8]
    }

    /// Starts `path` (see `start`) and waits for it to end, at most
    /// `timeout` milliseconds; then it is killed (SIGKILL) and waited for.
    /// - Parameters:
    ///   - capture: collect the child's standard output (at most `capacity`
    ///     bytes are held; the rest is read and dropped); otherwise it goes
    ///     to `standardOutput`.
    /// - Throws: `Errno`: ETIMEDOUT when the child was killed for the
    ///   timeout; else what `start`, pipe2(2) or waitpid(2) failed with.
    package static func run(_ path: String, arguments: [String], timeout: Int, capture: Bool,
                            capacity: Int = .max, standardOutput: Output = .inherit,
                            standardError: Output = .inherit) throws(Errno) -> Finished {
        var pipe: [Int32] = [-1, -1]
        if capture {
            _ = try systemCall { clinux_pipe2(&pipe, O_CLOEXEC | O_NONBLOCK) }
        }
        let readEnd: FileDescriptor? = capture ? FileDescriptor(rawValue: pipe[0]) : nil
        defer { try? readEnd?.close() }
        let pid: pid_t
        do {
            defer { if capture { _ = close(pipe[1]) } }
            pid = try start(path, arguments: arguments,
                            standardOutput: capture ? .descriptor(FileDescriptor(rawValue: pipe[1])) : standardOutput,
                            standardError: standardError)
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var open = capture
        // Reads what is waiting; at end of file the pipe is no longer polled.
        func drain() {
            guard open, let readEnd else { return }
            while true {
                switch Result(catching: { try buffer.withUnsafeMutableBytes { try readEnd.read(into: $0) } }) {
                case .success(0): open = false; return
                case .success(let n): output.append(contentsOf: buffer[..<min(n, max(0, capacity - output.count))])
                case .failure: return
                }
            }
        }
        let deadline = monotonicMilliseconds() + timeout
        while true {
            if open, let readEnd {
                var pfd = pollfd(fd: readEnd.rawValue, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, 10)
                drain()
            } else {
                usleep(5_000)
            }
            var status: Int32 = 0
            let w = waitpid(pid, &status, WNOHANG)
            if w == pid {
                drain()
                return Finished(exit: Exit(status: status), output: output)
            } else if w < 0 && errno != EINTR {
                throw Errno.current
            } else if monotonicMilliseconds() > deadline {
                kill(pid, SIGKILL)
                _ = try? wait(pid)
                throw .timedOut
            }
        }
    }

    /// CLOCK_MONOTONIC in milliseconds.
    static func monotonicMilliseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}

extension Spawn {
    /// The variable that tells this program, started by
    /// `startSettingListenPID`, to set LISTEN_PID and exec the program it names.
    package static let listenPIDExecVariable = "SWIFT_LXCFS_EXEC_WITH_LISTEN_PID"

    /// Starts `path` as `start` does, with `LISTEN_PID` set to the child's
    /// own pid, as sd_listen_fds(3) requires of the process that reads
    /// `LISTEN_FDS` (systemd's own check, and the daemon's, compare it with getpid()).
    ///
    /// posix_spawn cannot know the child's pid before the child exists, so
    /// the child is first this same program (`/proc/self/exe`, `executable`)
    /// with `listenPIDExecVariable` naming `path`: its `main` calls
    /// `execSettingListenPIDIfAsked` before anything else, which writes
    /// `LISTEN_PID=getpid()` and execs `path` with the same argv and
    /// descriptors. execve keeps the pid, so `path` reads its own pid, as
    /// it did when the supervisor forked and wrote the pid itself.
    /// - Throws: what `start` throws.
    package static func startSettingListenPID(_ path: String, arguments: [String], environment: [String],
                                              passing descriptors: [FileDescriptor],
                                              executable: String = "/proc/self/exe") throws(Errno) -> pid_t {
        let environment = environment.filter { !$0.hasPrefix("LISTEN_PID=") && !$0.hasPrefix(listenPIDExecVariable + "=") }
            + ["\(listenPIDExecVariable)=\(path)"]
        return try start(executable, arguments: arguments, environment: environment,
                         passing: descriptors, closingOthers: true)
    }

    /// When `listenPIDExecVariable` is set (this process was started by
    /// `startSettingListenPID`): removes it, sets `LISTEN_PID` to this
    /// process's pid and execs the program it names with this argv; exits
    /// 127 when that fails. Otherwise returns at once. Call it first in
    /// `main`, before any thread starts.
    package static func execSettingListenPIDIfAsked() {
        guard let raw = getenv(listenPIDExecVariable) else { return }
        let path = String(cString: raw)
        unsetenv(listenPIDExecVariable)
        setenv("LISTEN_PID", String(getpid()), 1)
        execv(path, CommandLine.unsafeArgv)
        _exit(127)
    }
}
