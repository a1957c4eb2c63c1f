import CLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's cgroup namespace (cgroup_namespaces(7)).
///
/// The kernel prints the paths of `/proc/PID/cgroup` and the cgroup roots in
/// `/proc/self/mountinfo` relative to the *reading* process's cgroup
/// namespace: a daemon in a pod with its own namespace sees another pod's
/// reader as `0::/../../kubepods/...`. Those paths can only be placed in the
/// hierarchy when the daemon knows where its namespace root is. So at start
/// the daemon joins the host's namespace, where every path is absolute,
/// whenever it can see host pids and may call setns(2).
package enum CgroupNamespace {
    /// What `enterHostNamespace` did.
    package enum Outcome: Sendable, Equatable {
        /// No visible process is in another namespace: the daemon already
        /// shares the host's (or cannot see outside its own).
        case shared
        /// The calling thread joined the namespace of process `pid`; both
        /// names, such as `cgroup:[4026531835]`.
        case entered(from: String, to: String, pid: Int32)
        /// A namespace other than the daemon's was found but could not be
        /// joined; the sentence says why.
        case failed(String)
    }


    /// The processes whose namespace is taken for the host's, best first:
    /// pid 1, then this process's ancestors from the outermost inwards (a
    /// sandbox may hide pid 1's namespace while the daemon's launcher, such
    /// as `unshare --cgroup` or a container runtime's shim, is visible).
    /// - Parameter procRoot: where `proc` is mounted.
    static func candidates(procRoot: String) -> [Int32] {
        let files = DirectFileReader(root: HostRoot())
        var chain: [Int32] = []
        var pid = getppid()
        while pid > 1, chain.count < 64 {
            chain.append(pid)
            guard let bytes = files.read("\(procRoot)/\(pid)/stat", sizeHint: 512),
                  let stat = ProcessStat(parsing: bytes[...]) else { break }
            pid = stat.parentPid.rawValue
        }
        return [1] + chain.reversed()
    }

    /// Joins the host's cgroup namespace when it differs from this
    /// process's own: that of the first of pid 1 and this process's
    /// ancestors (outermost first) whose namespace can be read.
    ///
    /// Namespaces belong to threads: call this on the main thread before any
    /// other thread (the FUSE workers) is started, so that every thread
    /// created afterwards inherits the namespace.
    /// - Parameter procRoot: where `proc` is mounted, `/proc` on a host.
    /// - Returns: what happened; never throws, since a daemon that stays in
    ///   its own namespace still serves readers inside that namespace.
    package static func enterHostNamespace(procRoot: String = "/proc") -> Outcome {
        let root = HostRoot()
        guard let own = root.readLink(procRoot + "/self/ns/cgroup") else {
            return .failed("\(procRoot)/self/ns/cgroup cannot be read (no cgroup namespace support)")
        }
        for pid in candidates(procRoot: procRoot) {
            guard let theirs = root.readLink("\(procRoot)/\(pid)/ns/cgroup") else { continue }
            if theirs == own { return .shared }
            let fd = open("\(procRoot)/\(pid)/ns/cgroup", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                return .failed("cannot open \(procRoot)/\(pid)/ns/cgroup: \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            guard clinux_setns(fd, CLINUX_CLONE_NEWCGROUP) == 0 else {
                return .failed("setns into \(theirs) (pid \(pid)'s) failed: \(String(cString: strerror(errno)))")
            }
            return .entered(from: own, to: theirs, pid: pid)
        }
        return .shared
    }

    /// Splits a cgroup path into components, resolving `.` and `..` where a
    /// parent is known; `..` that climb above the start stay in front.
    /// - Parameter path: a path as `/proc/PID/cgroup` or mountinfo print it,
    ///   such as `/../../kubepods/pod1`.
    /// - Returns: the components, such as `["..", "..", "kubepods", "pod1"]`.
    package static func components(_ path: String) -> [Substring] {
        var out: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == "..", let last = out.last, last != ".." {
                out.removeLast()
            } else {
                out.append(part)
            }
        }
        return out
    }
}
