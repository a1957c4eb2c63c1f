import LXCFSMountInfo
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One mount namespace on the host and the processes in it.
public struct MountNamespace: Sendable, Equatable {
    /// The inode of `/proc/PID/ns/mnt` (the `N` of `mnt:[N]`).
    public let inode: UInt64
    /// Host pids of the processes in it, ascending.
    public var pids: [Int32]

    /// How the report names it, as `readlink /proc/PID/ns/mnt` does.
    public var name: String { "mnt:[\(inode)]" }
}

/// Finding mount namespaces from `/proc/*/ns/mnt`.
public enum MountNamespaces {
    /// Every mount namespace with a process in it, each once, in the order
    /// of its lowest pid. Processes that exit while `/proc` is listed are
    /// skipped; so are kernel threads, which share pid 1's namespace anyway.
    public static func scan(proc: String = "/proc") -> [MountNamespace] {
        guard let dir = opendir(proc) else { return [] }
        defer { closedir(dir) }
        var pids: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = Int32(name), pid > 0 { pids.append(pid) }
        }
        pids.sort()
        var order: [UInt64] = []
        var byInode: [UInt64: [Int32]] = [:]
        for pid in pids {
            guard let inode = namespaceInode(pid: pid, proc: proc) else { continue }
            if byInode[inode] == nil { order.append(inode) }
            byInode[inode, default: []].append(pid)
        }
        return order.map { MountNamespace(inode: $0, pids: byInode[$0]!) }
    }

    /// The inode of process `pid`'s mount namespace, or `nil` when it
    /// exited or cannot be seen.
    public static func namespaceInode(pid: Int32, proc: String = "/proc") -> UInt64? {
        var st = stat()
        guard stat("\(proc)/\(pid)/ns/mnt", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// The inode of this process's own mount namespace.
    public static func ownInode() -> UInt64? {
        var st = stat()
        guard stat("/proc/self/ns/mnt", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }
}

/// Container ids as container engines name their cgroups.
public enum ContainerID {
    /// The container id in a `/proc/PID/cgroup` text, or `nil` when no
    /// cgroup path names one. A path component names one when, without a
    /// `docker-`, `cri-containerd-`, `crio-` or `libpod-` prefix and a
    /// `.scope` suffix, it is 64 hexadecimal digits: `docker-ID.scope`
    /// (systemd driver), `/docker/ID` or `/PARENT/ID` (cgroupfs driver),
    /// `/kubepods/.../cri-containerd-ID.scope`, `crio-ID.scope`,
    /// `libpod-ID.scope`. The deepest such component wins.
    public static func find(inCgroupText text: String) -> String? {
        var found: String?
        for (_, _, path) in ProcessCgroup.entries(text) {
            var deepest: String?
            for component in path.split(separator: "/") {
                if let id = id(ofComponent: String(component)) { deepest = id }
            }
            if let deepest { found = deepest; break }
        }
        return found
    }

    static func id(ofComponent component: String) -> String? {
        var name = Substring(component)
        if name.hasSuffix(".scope") { name = name.dropLast(6) }
        for prefix in ["docker-", "cri-containerd-", "crio-", "libpod-"] where name.hasPrefix(prefix) {
            name = name.dropFirst(prefix.count)
            break
        }
        guard name.utf8.count == 64, name.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { return nil }
        return String(name)
    }
}
