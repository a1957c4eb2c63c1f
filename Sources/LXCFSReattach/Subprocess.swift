import LXCFSSystem
import SystemPackage
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
        do throws(Errno) {
            let finished = try Spawn.run(selfExecutable, arguments: ["swift-lxcfs"] + arguments,
                                         timeout: Int(timeout * 1000), capture: captureOutput,
                                         standardOutput: stdoutToStderr ? .descriptor(.standardError) : .inherit)
            let outcome: ChildOutcome
            switch finished.exit {
            case .exited(let status): outcome = .exited(status)
            case .signaled(let signal): outcome = .signaled(signal)
            }
            return (outcome, String(decoding: finished.output, as: UTF8.self))
        } catch {
            return (error == .timedOut ? .timedOut : .notStarted(errnoText(error.rawValue)), "")
        }
    }
}
