import CLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended.
public enum ChildOutcome: Sendable, Equatable {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it (not the timeout's SIGKILL).
    case signaled(Int32)
    /// It did not end within the timeout and was killed with SIGKILL.
    case timedOut
    /// It could not be started (the errno text).
    case notStarted(String)
}

/// Runs this binary again (`/proc/self/exe`) as a short-lived child:
/// the probes of other FUSE connections, which must never block the
/// caller, and the helper that enters a mount namespace, which must be
/// single-threaded.
public enum Subprocess {
    /// The binary to run: this process's own executable.
    public static let selfExecutable = "/proc/self/exe"

    /// Runs `selfExecutable` with `arguments` (argv[1...]) and waits at
    /// most `timeout` seconds.
    /// - Parameters:
    ///   - captureOutput: collect the child's standard output (returned);
    ///     otherwise it writes to this process's.
    ///   - stdoutToStderr: the child's standard output goes to this
    ///     process's standard error (the daemon's log).
    /// - Returns: the outcome and what the child wrote to standard output.
    public static func run(_ arguments: [String], timeout: Double, captureOutput: Bool = true,
                           stdoutToStderr: Bool = false) -> (ChildOutcome, String) {
        var pipeFDs: [Int32] = [-1, -1]
        if captureOutput {
            guard clinux_pipe2(&pipeFDs, O_CLOEXEC) == 0 else { return (.notStarted(errnoText(errno)), "") }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if captureOutput {
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        } else if stdoutToStderr {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        let argv = ["swift-lxcfs"] + arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, selfExecutable, &actions, nil, &cArgs, environ)
        if captureOutput { close(pipeFDs[1]) }
        guard rc == 0 else {
            if captureOutput { close(pipeFDs[0]) }
            return (.notStarted(errnoText(rc)), "")
        }
        var output: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        var status: Int32 = 0
        var outcome: ChildOutcome?
        if captureOutput {
            _ = fcntl(pipeFDs[0], F_SETFL, fcntl(pipeFDs[0], F_GETFL) | O_NONBLOCK)
        }
        var open = captureOutput
        while outcome == nil {
            if open {
                var pfd = pollfd(fd: pipeFDs[0], events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, 10)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                    if n > 0 { output.append(contentsOf: buffer[0..<n]); continue }
                    if n == 0 { open = false }
                    break
                }
            } else {
                usleep(5_000)
            }
            let w = waitpid(pid, &status, WNOHANG)
            if w == pid {
                // Drain what is left in the pipe.
                if open {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, $0.count) }
                        if n > 0 { output.append(contentsOf: buffer[0..<n]) } else { break }
                    }
                }
                let signal = status & 0x7f
                outcome = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
            } else if w < 0 && errno != EINTR {
                outcome = .notStarted(errnoText(errno))
            } else if monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                outcome = .timedOut
            }
        }
        if captureOutput { close(pipeFDs[0]) }
        return (outcome!, String(decoding: output, as: UTF8.self))
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
