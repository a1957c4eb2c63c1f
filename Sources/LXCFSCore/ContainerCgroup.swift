#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The container's cgroup of a reader, per hierarchy: the cgroup every view
/// (limits, headroom, swap, cpuset, CFS quota, CPU time, load, I/O,
/// pressure, `memory.stat` lines) is computed from.
///
/// The rule (../shared/cases/README.md, "The view is the container's, not
/// the single process's"), applied to each line of `/proc/PID/cgroup` on its
/// own, since v1 controllers can sit at different paths:
/// - the reader shares the host's pid namespace: its own cgroup;
/// - otherwise the cgroup of the init of its pid namespace (pid 1 there),
///   with a trailing `init.scope` dropped (on v1 and v2 alike, as lxcfs's
///   `prune_init_slice` does), provided the reader's own cgroup is that
///   cgroup or lies below it: limits set inside the container (systemd
///   services, nested containers) are then not the container's;
/// - otherwise (the reader's cgroup is not below its init's, as in a
///   Kubernetes pod whose containers share one pid namespace and whose init
///   is the pause container in a sibling cgroup) its own cgroup. Here
///   swift-lxcfs departs from lxcfs, which takes the init's cgroup for every
///   reader in the namespace.
public enum ContainerCgroup {
    /// Why a hierarchy's container cgroup was chosen.
    public enum Reason: Sendable, Equatable {
        /// The reader is in the host's pid namespace (or its namespace or
        /// init cannot be read): its own cgroup.
        case noInit
        /// The init's `/proc/PID/cgroup` cannot be read (it exited): the reader's own cgroup.
        case initCgroupUnreadable
        /// The init has no line for this hierarchy: the reader's own cgroup.
        case initNotInHierarchy
        /// The reader's cgroup is the init's cgroup (`init.scope` dropped)
        /// or below it: the init's. `initPath` is the init's line as printed.
        case atOrBelowInit(initPath: String)
        /// The reader's cgroup is not at or below the init's (`initPath`,
        /// `init.scope` dropped): the reader's own.
        case notBelowInit(initPath: String)
    }

    /// The choice made for one hierarchy.
    public struct Choice: Sendable, Equatable {
        /// The hierarchy as `/proc/PID/cgroup` names it: `ID:CONTROLLERS`,
        /// such as `5:memory` or `0:` for the unified one.
        public let hierarchy: String
        /// The reader's own path, as printed.
        public let readerPath: String
        /// The path the views use.
        public let path: String
        public let reason: Reason
    }

    /// The outcome for one reader.
    public struct Resolution: Sendable {
        /// The reader's membership with each path replaced by its container
        /// cgroup: what every getter of `CgroupReader` is given.
        public let membership: CgroupMembership
        /// The init's host pid, when one was found.
        public let initPid: Int32?
        /// One entry per line of the reader's `/proc/PID/cgroup`; empty
        /// unless asked for (`explain`).
        public let choices: [Choice]
    }

    /// Applies the rule, line by line.
    /// - Parameters:
    ///   - reader: the reader's own membership.
    ///   - initPid: the host pid of its pid namespace's init; `nil` for a
    ///     reader in the host's pid namespace (or whose init is unknown).
    ///   - initCgroup: the init's `/proc/PID/cgroup` bytes; `nil` when unreadable.
    ///   - explain: fills `choices` (for `render --debug`); off on the hot path.
    /// - Returns: the container's membership; `reader` itself (no copy) when
    ///   no path changes.
    public static func resolve(reader: CgroupMembership, initPid: Int32?, initCgroup: [UInt8]?,
                               explain: Bool = false) -> Resolution {
        guard let initPid, let initCgroup else {
            let reason: Reason = initPid == nil ? .noInit : .initCgroupUnreadable
            return Resolution(membership: reader, initPid: initPid,
                              choices: explain ? ownChoices(reader, reason) : [])
        }
        // The init's lines, in order: the kernel prints every process's
        // hierarchies in the same order, so line k of the reader is looked
        // for at line k of the init first.
        typealias Entry = (id: ArraySlice<UInt8>, controllers: ArraySlice<UInt8>, path: ArraySlice<UInt8>)
        var initEntries: [Entry] = []
        initEntries.reserveCapacity(16)
        CgroupMembership.forEachEntry(initCgroup[...]) { id, controllers, path in
            initEntries.append((id, controllers, path))
            return true
        }
        var out: [UInt8] = []   // filled from the first changed line on
        var changed = false
        var choices: [Choice] = []
        var k = 0
        let bytes = reader.bytes
        CgroupMembership.forEachEntry(bytes[...]) { id, controllers, path in
            defer { k += 1 }
            var match: Entry?
            if k < initEntries.count, sameHierarchy(initEntries[k], id, controllers) {
                match = initEntries[k]
            } else {
                match = initEntries.first { sameHierarchy($0, id, controllers) }
            }
            var chosen = path
            var reason = Reason.initNotInHierarchy
            if let match {
                let initPath = withoutInitScope(match.path)
                if isAtOrBelow(path, initPath) {
                    chosen = initPath
                    if explain { reason = .atOrBelowInit(initPath: String(decoding: match.path, as: UTF8.self)) }
                } else if explain {
                    reason = .notBelowInit(initPath: String(decoding: initPath, as: UTF8.self))
                }
            }
            let differs = !same(chosen, path)
            if differs, !changed {
                changed = true
                out.reserveCapacity(bytes.count)
                out.append(contentsOf: bytes[..<id.startIndex])
            }
            if changed {
                out.append(contentsOf: id)
                out.append(ByteParser.colon)
                out.append(contentsOf: controllers)
                out.append(ByteParser.colon)
                out.append(contentsOf: chosen)
                out.append(ByteParser.newline)
            }
            if explain {
                choices.append(Choice(hierarchy: String(decoding: id, as: UTF8.self) + ":" + String(decoding: controllers, as: UTF8.self),
                                      readerPath: String(decoding: path, as: UTF8.self),
                                      path: String(decoding: chosen, as: UTF8.self), reason: reason))
            }
            return true
        }
        let membership = changed ? CgroupMembership(parsing: out[...]) : reader
        return Resolution(membership: membership, initPid: initPid, choices: choices)
    }

    static func ownChoices(_ reader: CgroupMembership, _ reason: Reason) -> [Choice] {
        var choices: [Choice] = []
        CgroupMembership.forEachEntry(reader.bytes[...]) { id, controllers, path in
            let p = String(decoding: path, as: UTF8.self)
            choices.append(Choice(hierarchy: String(decoding: id, as: UTF8.self) + ":" + String(decoding: controllers, as: UTF8.self),
                                  readerPath: p, path: p, reason: reason))
            return true
        }
        return choices
    }

    static func sameHierarchy(_ e: (id: ArraySlice<UInt8>, controllers: ArraySlice<UInt8>, path: ArraySlice<UInt8>),
                              _ id: ArraySlice<UInt8>, _ controllers: ArraySlice<UInt8>) -> Bool {
        same(e.id, id) && same(e.controllers, controllers)
    }

    /// True when two byte runs are equal.
    static func same(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 }
        }
    }

    /// A path with a trailing `init.scope` leaf removed (`/init.scope` is `/`).
    static func withoutInitScope(_ path: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let leaf = "/init.scope".utf8
        guard path.count >= leaf.count, path.suffix(leaf.count).elementsEqual(leaf) else { return path }
        if path.count == leaf.count { return path.prefix(1) }
        return path.dropLast(leaf.count)
    }

    /// True when cgroup path `path` is `top` or lies below it.
    static func isAtOrBelow(_ path: ArraySlice<UInt8>, _ top: ArraySlice<UInt8>) -> Bool {
        if top.count == 1, top.first == UInt8(ascii: "/") { return path.first == UInt8(ascii: "/") }
        guard path.count >= top.count, same(path.prefix(top.count), top) else { return false }
        return path.count == top.count || path[path.startIndex + top.count] == UInt8(ascii: "/")
    }
}

extension ContainerCgroup.Reason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .noInit: return "no init of another pid namespace (the reader is in the host's pid namespace, or its namespace cannot be read): the reader's own cgroup"
        case .initCgroupUnreadable: return "the init's /proc/PID/cgroup cannot be read: the reader's own cgroup"
        case .initNotInHierarchy: return "the init has no line for this hierarchy: the reader's own cgroup"
        case .atOrBelowInit(let p):
            return "the reader's cgroup is at or below the init's (\(p)\(p.hasSuffix("/init.scope") ? ", init.scope dropped" : "")): the init's"
        case .notBelowInit(let p):
            return "the reader's cgroup is not at or below the init's (\(p)), as in a pod sharing one pid namespace: the reader's own cgroup"
        }
    }
}

extension ContainerView {
    /// The container's cgroup of reader `pid` in every hierarchy (see
    /// `ContainerCgroup`), from its own membership: finds the init of its
    /// pid namespace (cached per namespace by `PidNamespaceResolver`) and
    /// reads that init's `/proc/PID/cgroup`. A reader in the host's pid
    /// namespace costs one link read.
    /// - Parameters:
    ///   - own: the reader's own membership.
    ///   - explain: fills the result's `choices` (`render --debug`).
    public func containerCgroup(of pid: Int32, own: CgroupMembership, explain: Bool = false) -> ContainerCgroup.Resolution {
        guard let initProcess = namespaces.initProcess(of: pid) else {
            return ContainerCgroup.resolve(reader: own, initPid: nil, initCgroup: nil, explain: explain)
        }
        let initCgroup = initProcess.pid == pid ? own.bytes : root.readProcessCgroup(initProcess.pid)
        return ContainerCgroup.resolve(reader: own, initPid: initProcess.pid, initCgroup: initCgroup, explain: explain)
    }

    /// One line per hierarchy naming the container cgroup chosen for `pid`
    /// and why, for `render --debug`.
    /// - Returns: the lines, or one line saying the process has no cgroup.
    public func explainContainerCgroup(of pid: Int32) -> [String] {
        guard let bytes = root.readProcessCgroup(pid) else { return ["pid \(pid): no /proc/\(pid)/cgroup, host values"] }
        let r = containerCgroup(of: pid, own: CgroupMembership(parsing: bytes[...]), explain: true)
        let head = r.initPid.map { "pid \(pid): init of its pid namespace is host pid \($0)" }
            ?? "pid \(pid): no init of another pid namespace"
        return [head] + r.choices.map { c in
            "container cgroup \(c.hierarchy): \(c.path) (reader's \(c.readerPath)): \(c.reason)"
        }
    }
}
