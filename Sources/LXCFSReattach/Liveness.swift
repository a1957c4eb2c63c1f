import LXCFSMountInfo
import LXCFSSystem
import CLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a probe of one FUSE connection found.
public enum Liveness: Sendable, Equatable {
    /// An open through it gave ENOTCONN or ECONNABORTED: no server holds the connection.
    case dead
    /// An open through it succeeded: a server answers.
    case answers
    /// The open did not end within the timeout: a server holds the
    /// connection but is slow or stopped (left alone, as alive).
    case noAnswer
    /// The open failed otherwise (errno text), or the probe could not run.
    case unknown(String)
}

/// Probes of FUSE connections, each in a child process with a timeout, so
/// that a slow or stopped server (another lxcfs, a daemon being restarted)
/// never blocks the caller.
public enum ConnectionProbe {
    /// The hidden subcommand that opens one path and reports by exit status.
    public static let subcommand = "__reattach-probe"
    /// Seconds a probe may take before its connection counts as held.
    public static let timeout = 2.0

    static let answered: Int32 = 0
    static let notConnected: Int32 = 10
    static let otherError: Int32 = 11

    /// Opens `path` in a child process. An open (FUSE_OPEN or
    /// FUSE_OPENDIR) always reaches the server, unlike a stat, which
    /// attribute caching may answer on a dead connection.
    public static func probe(_ path: String) -> Liveness {
        let (outcome, output) = Subprocess.run([subcommand, path], timeout: timeout)
        switch outcome {
        case .exited(answered): return .answers
        case .exited(notConnected): return .dead
        case .timedOut: return .noAnswer
        case .exited(let code):
            let text = output.split(separator: "\n").first.map(String.init) ?? "exit status \(code)"
            return .unknown(text)
        case .signaled(let s): return .unknown("the probe was ended by signal \(s)")
        case .notStarted(let why): return .unknown("the probe could not start: \(why)")
        }
    }

    /// The probe child's body: opens `arguments[0]` read-only and exits
    /// 0 when it opens, 10 on ENOTCONN or ECONNABORTED, 11 otherwise
    /// (printing the error).
    public static func main(_ arguments: [String]) -> Int32 {
        guard let path = arguments.first else { return 2 }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if fd >= 0 {
            close(fd)
            return answered
        }
        let code = errno
        if code == ENOTCONN || code == ECONNABORTED { return notConnected }
        print(errnoText(code))
        return otherError
    }
}

/// The dead FUSE mounts a crashed daemon leaves at its own mount point.
public enum DeadMountPoint {
    /// Lazily detaches every dead FUSE mount on top at `mountPoint` (in
    /// this process's mount namespace), so that a daemon can mount there
    /// after lxcfs or swift-lxcfs was killed. A live FUSE mount (one that
    /// answers, or does not answer in time) and anything that is not FUSE
    /// stay.
    /// - Returns: one sentence per mount detached.
    public static func detachDead(at mountPoint: String) -> [String] {
        var done: [String] = []
        var path = mountPoint
        if let resolved = realpath(mountPoint, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        for _ in 0..<16 {
            guard let text = readWholeFile("/proc/self/mountinfo"),
                  let top = MountTable.topmost(at: path, in: MountInfo.entries(text)),
                  top.fsType.hasPrefix("fuse"), ConnectionProbe.probe(path) == .dead
            else { break }
            do {
                try Unmount.detach(path)
            } catch {
                done.append("cannot detach the dead \(top.fsType) mount (\(top.device)) at \(path): \(errnoText(error.rawValue))")
                break
            }
            done.append("detached a dead \(top.fsType) mount (\(top.source), \(top.device)) at \(path)")
        }
        return done
    }
}
