import LXCFSMountInfo
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The mount this daemon serves: the topmost FUSE mount at its mount point
/// in this process's mount namespace.
public struct LiveMount: Sendable, Equatable {
    /// The mount point, with symbolic links resolved.
    public let mountPoint: String
    /// `major:minor` of its FUSE connection: every mount with this device
    /// number, in any namespace, is a bind of the live connection.
    public let device: String
    /// Its mount ID in this namespace.
    public let id: Int

    /// The path in this namespace of `root` (a mountinfo root field, such
    /// as `/proc/meminfo`) inside the live mount.
    public func path(of root: String) -> String {
        root == "/" ? mountPoint : mountPoint + root
    }
}

/// What is to become of one mount of a dead lxcfs-type connection.
public enum StaleVerdict: Sendable, Equatable {
    /// Replace it with a bind of the same path in the live mount.
    case replace
    /// The live mount has no such path (errno text): left as it is.
    case unserved(String)
    /// Another mount sits on top of it, so no reader sees it: left as it is.
    case covered
    /// Other mounts sit on paths inside it (count); a detach would take
    /// them too: left as it is.
    case hasMountsInside(Int)
    /// Its mount point was deleted: left as it is.
    case mountPointDeleted

    /// True when leaving it means a reader still gets ENOTCONN.
    public var leavesReadersBroken: Bool {
        switch self {
        case .replace, .unserved, .hasMountsInside: return true
        case .covered, .mountPointDeleted: return false
        }
    }
}

/// One mount of a dead connection and its verdict.
public struct StaleMount: Sendable, Equatable {
    /// The mount as its namespace's mountinfo lists it.
    public let mount: MountInfo.Entry
    /// What the step does with it.
    public let verdict: StaleVerdict
}

/// One namespace that holds mounts of a dead lxcfs-type connection.
public struct NamespaceFinding: Sendable, Equatable {
    /// The namespace and its processes.
    public let namespace: MountNamespace
    /// The pid whose mountinfo was read.
    public let pid: Int32
    /// The container id from that pid's `/proc/PID/cgroup`, when it names one.
    public let containerID: String?
    /// Its mounts of dead lxcfs-type connections, in mountinfo order.
    public let stale: [StaleMount]
}

/// A connection of type `fuse.lxcfs` that is not the live one and was found alive.
public struct OtherConnection: Sendable, Equatable {
    /// Its `major:minor`.
    public let device: String
    /// The mount source its mounts show (`lxcfs`, `swift-lxcfs`).
    public let source: String
    /// What its probe found.
    public let liveness: Liveness
    /// How many of its mounts the namespaces looked at hold.
    public let mounts: Int
}

/// Everything the find step saw.
public struct Finding: Sendable, Equatable {
    /// The daemon's own mount.
    public let live: LiveMount
    /// How many mount namespaces were looked at.
    public let namespacesLookedAt: Int
    /// The namespaces with mounts of a dead connection.
    public let namespaces: [NamespaceFinding]
    /// Mounts of the live connection outside the live mount itself: left alone.
    public let healthyBinds: Int
    /// Other lxcfs-type connections that answer (or do not answer in time): left alone.
    public let others: [OtherConnection]
    /// Dead connections of other instances (mounted at paths neither
    /// served nor named by `--reattach-from`): left alone.
    public let foreign: [ForeignConnection]
}

/// Why the step cannot run at all.
public struct ReattachError: Error, CustomStringConvertible, Sendable {
    /// One sentence, ending with a period.
    public let description: String
}

/// The find step: every mount namespace once, its mounts of `fuse.lxcfs`
/// connections other than the live one, each connection probed once.
public struct Finder: Sendable {
    /// The daemon's mount point.
    public let mountPoint: String
    /// When set, only namespaces with a process whose `/proc/PID/cgroup`
    /// contains one of these strings are looked at (tests on a shared host).
    public let cgroupScope: [String]?
    /// Mount points of other instances whose dead connections are taken
    /// over too (`--reattach-from`), such as lxcfs's `/var/lib/lxcfs`.
    public let reattachFrom: [String]

    /// - Parameters:
    ///   - mountPoint: the daemon's mount point, absolute.
    ///   - cgroupScope: see `cgroupScope`; `nil` looks at every namespace.
    ///   - reattachFrom: see `reattachFrom`.
    public init(mountPoint: String, cgroupScope: [String]? = nil, reattachFrom: [String] = []) {
        self.mountPoint = mountPoint
        self.cgroupScope = cgroupScope
        self.reattachFrom = reattachFrom
    }

    /// `path` absolute with its folder's symbolic links resolved; the last
    /// component is kept as it is, since a dead FUSE mount point cannot be
    /// looked up (ENOTCONN).
    static func resolved(_ path: String) -> String {
        let trimmed = ConnectionOwner.normalized(path)
        guard trimmed != "/", let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        let folder = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        guard let real = realpath(folder, nil) else { return trimmed }
        defer { free(real) }
        let base = String(cString: real)
        return (base == "/" ? "" : base) + String(trimmed[slash...])
    }

    /// The live mount at `mountPoint`.
    /// - Throws: `ReattachError` when no FUSE filesystem is mounted there,
    ///   or it does not answer.
    public func liveMount() throws -> LiveMount {
        var path = mountPoint
        if let resolved = realpath(mountPoint, nil) {
            path = String(cString: resolved)
            free(resolved)
        }
        guard let text = readWholeFile("/proc/self/mountinfo"),
              let top = MountTable.topmost(at: path, in: MountInfo.entries(text)), top.fsType.hasPrefix("fuse")
        else { throw ReattachError(description: "no swift-lxcfs is mounted at \(mountPoint).") }
        // The daemon's own mount must answer (a child process with a
        // timeout, as for any other connection).
        switch ConnectionProbe.probe(path) {
        case .answers: break
        case .dead: throw ReattachError(description: "the mount at \(mountPoint) is dead (ENOTCONN); start swift-lxcfs there first.")
        case .noAnswer: throw ReattachError(description: "the mount at \(mountPoint) does not answer.")
        case .unknown(let why): throw ReattachError(description: "the mount at \(mountPoint) cannot be opened: \(why).")
        }
        return LiveMount(mountPoint: path, device: top.device, id: top.id)
    }

    /// Finds the namespaces with mounts of dead lxcfs-type connections.
    /// Only other connections are probed (in a child process each, with a
    /// timeout); the live one is never touched.
    /// - Throws: `ReattachError` when no FUSE filesystem is mounted at `mountPoint`.
    public func find() throws -> Finding {
        let live = try liveMount()
        let own = MountNamespaces.ownInode()
        var namespaces = MountNamespaces.scan()
        if let scope = cgroupScope {
            namespaces = namespaces.compactMap { ns in
                let inScope = ns.pids.filter { pid in
                    guard let text = readWholeFile("/proc/\(pid)/cgroup") else { return false }
                    return scope.contains { text.contains($0) }
                }
                return inScope.isEmpty ? nil : MountNamespace(inode: ns.inode, pids: inScope)
            }
        }
        // One mount table per namespace, from the first pid that still exists.
        var tables: [(MountNamespace, Int32, [MountInfo.Entry])] = []
        for ns in namespaces {
            for pid in ns.pids {
                if let text = readWholeFile("/proc/\(pid)/mountinfo") {
                    tables.append((ns, pid, MountInfo.entries(text)))
                    break
                }
            }
        }
        var healthy = 0
        var probeTarget: [String: String] = [:]
        var sources: [String: String] = [:]
        var mountCount: [String: Int] = [:]
        for (ns, pid, table) in tables {
            for m in table {
                if m.device == live.device {
                    if !(ns.inode == own && m.id == live.id) { healthy += 1 }
                    continue
                }
                guard m.isLXCFSType else { continue }
                mountCount[m.device, default: 0] += 1
                sources[m.device] = m.source
                if probeTarget[m.device] == nil, !MountTable.isCovered(m, in: table), !m.mountPoint.hasSuffix(" (deleted)") {
                    probeTarget[m.device] = "/proc/\(pid)/root" + (m.mountPoint == "/" ? "/" : m.mountPoint)
                }
            }
        }
        // Whose each connection is, from this namespace's mount points.
        let ownTable = readWholeFile("/proc/self/mountinfo").map(MountInfo.entries) ?? []
        let claimed = ([live.mountPoint] + reattachFrom.map(Self.resolved)).map(ConnectionOwner.normalized)
        var owners: [String: ConnectionOwner] = [:]
        for device in mountCount.keys {
            owners[device] = ConnectionOwner.of(device: device, ownTable: ownTable, claimedPaths: claimed)
        }
        var liveness: [String: Liveness] = [:]
        for device in mountCount.keys.sorted() {
            if let path = probeTarget[device] {
                liveness[device] = ConnectionProbe.probe(path)
            } else {
                liveness[device] = .unknown("each of its mounts is covered by another mount")
            }
        }
        var found: [NamespaceFinding] = []
        for (ns, pid, table) in tables {
            let stale = table.filter {
                $0.isLXCFSType && $0.device != live.device && liveness[$0.device] == .dead && owners[$0.device]?.isAdopted == true
            }
            guard !stale.isEmpty else { continue }
            let cgroup = readWholeFile("/proc/\(pid)/cgroup") ?? ""
            found.append(NamespaceFinding(namespace: ns, pid: pid, containerID: ContainerID.find(inCgroupText: cgroup),
                                          stale: stale.map { StaleMount(mount: $0, verdict: verdict(for: $0, in: table, live: live)) }))
        }
        let others = liveness.filter { $0.value != .dead }.keys.sorted().map {
            OtherConnection(device: $0, source: sources[$0] ?? "", liveness: liveness[$0]!, mounts: mountCount[$0] ?? 0)
        }
        let foreign: [ForeignConnection] = liveness.filter { $0.value == .dead }.keys.sorted().compactMap { device in
            guard case .otherInstance(let paths)? = owners[device] else { return nil }
            return ForeignConnection(device: device, source: sources[device] ?? "", mountPoints: paths,
                                     mounts: mountCount[device] ?? 0)
        }
        return Finding(live: live, namespacesLookedAt: tables.count, namespaces: found, healthyBinds: healthy,
                       others: others, foreign: foreign)
    }

    func verdict(for mount: MountInfo.Entry, in table: [MountInfo.Entry], live: LiveMount) -> StaleVerdict {
        if mount.mountPoint.hasSuffix(" (deleted)") { return .mountPointDeleted }
        if MountTable.isCovered(mount, in: table) { return .covered }
        let inside = MountTable.mounts(inside: mount, in: table)
        if !inside.isEmpty { return .hasMountsInside(inside.count) }
        var st = stat()
        if lstat(live.path(of: mount.root), &st) != 0 { return .unserved(errnoText(errno)) }
        return .replace
    }
}
