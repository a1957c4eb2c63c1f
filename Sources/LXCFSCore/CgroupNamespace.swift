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
/// the daemon joins the namespace of the host's init (`/proc/1/ns/cgroup`),
/// where every path is absolute, whenever it can see host pids and may call
/// setns(2).
public enum CgroupNamespace {
    /// What `enterInitNamespace` did.
    public enum Outcome: Sendable, Equatable {
        /// The process already shares pid 1's cgroup namespace.
        case shared
        /// The calling thread joined pid 1's namespace; both names, such as `cgroup:[4026531835]`.
        case entered(from: String, to: String)
        /// The namespace could not be joined; the sentence says why.
        case failed(String)
    }

    /// `CLONE_NEWCGROUP` from `<sched.h>`.
    static let cloneNewCgroup: Int32 = 0x0200_0000

    /// setns(2), looked up at run time: the C library declares it only under
    /// `_GNU_SOURCE`, which the Swift module of the C library does not set.
    static var setnsFunction: (@convention(c) (Int32, Int32) -> Int32)? {
        guard let symbol = dlsym(nil, "setns") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }

    /// Joins the cgroup namespace of pid 1 when it differs from this
    /// process's own.
    ///
    /// Namespaces belong to threads: call this on the main thread before any
    /// other thread (the FUSE workers) is started, so that every thread
    /// created afterwards inherits the namespace.
    /// - Parameter procRoot: where `proc` is mounted, `/proc` on a host.
    /// - Returns: what happened; never throws, since a daemon that stays in
    ///   its own namespace still serves readers inside that namespace.
    public static func enterInitNamespace(procRoot: String = "/proc") -> Outcome {
        let root = HostRoot()
        guard let own = root.readLink(procRoot + "/self/ns/cgroup") else {
            return .failed("\(procRoot)/self/ns/cgroup cannot be read (no cgroup namespace support)")
        }
        guard let initNamespace = root.readLink(procRoot + "/1/ns/cgroup") else {
            return .failed("\(procRoot)/1/ns/cgroup cannot be read (pid 1 is not visible or not ours to inspect)")
        }
        if own == initNamespace { return .shared }
        let fd = open(procRoot + "/1/ns/cgroup", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return .failed("cannot open \(procRoot)/1/ns/cgroup: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard let setns = Self.setnsFunction else {
            return .failed("the C library has no setns(2)")
        }
        guard setns(fd, cloneNewCgroup) == 0 else {
            return .failed("setns into \(initNamespace) failed: \(String(cString: strerror(errno)))")
        }
        return .entered(from: own, to: initNamespace)
    }

    /// Splits a cgroup path into components, resolving `.` and `..` where a
    /// parent is known; `..` that climb above the start are kept in front.
    /// - Parameter path: a path as `/proc/PID/cgroup` or mountinfo print it,
    ///   such as `/../../kubepods/pod1`.
    /// - Returns: the components, such as `["..", "..", "kubepods", "pod1"]`.
    public static func components(_ path: String) -> [Substring] {
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
