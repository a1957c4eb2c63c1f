#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LXCFSMountInfo

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
package enum ContainerCgroup {
    /// Why a hierarchy's container cgroup was chosen.
    package enum Reason: Sendable, Equatable {
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
    package struct Choice: Sendable, Equatable {
        /// The hierarchy as `/proc/PID/cgroup` names it: `ID:CONTROLLERS`,
        /// such as `5:memory` or `0:` for the unified one.
        package let hierarchy: String
        /// The reader's own path, as printed.
        package let readerPath: String
        /// The path the views use.
        package let path: String
        /// Why that path.
        package let reason: Reason
    }

    /// The outcome for one reader.
    package struct Resolution: Sendable {
        /// The reader's membership with each path replaced by its container
        /// cgroup: what every getter of `CgroupReader` is given.
        package let membership: CgroupMembership
        /// The init's host pid, when one was found.
        package let initPid: Int32?
        /// One entry per line of the reader's `/proc/PID/cgroup`; empty
        /// unless asked for (`explain`).
        package let choices: [Choice]
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
    package static func resolve(reader: CgroupMembership, initPid: Int32?, initCgroup: [UInt8]?,
                               explain: Bool = false) -> Resolution {
        guard let initPid, let initCgroup else {
            let reason: Reason = initPid == nil ? .noInit : .initCgroupUnreadable
            return Resolution(membership: reader, initPid: initPid,
                              choices: explain ? ownChoices(reader, reason) : [])
        }
        let bytes = reader.bytes
        var choices: [Choice] = []
        let out: [UInt8]? = bytes.withUnsafeBufferPointer { r in
            initCgroup.withUnsafeBufferPointer { i in
                // The common case (a reader in the init's own cgroups, no
                // init.scope): nothing changes, nothing is copied.
                if !explain, r.count == i.count, r.count > 0, memcmp(r.baseAddress!, i.baseAddress!, r.count) == 0,
                   !contains(r, initScope) {
                    return nil
                }
                return choose(r, i, explain ? { choices.append($0) } : nil)
            }
        }
        let membership = out.map { CgroupMembership(parsing: $0[...]) } ?? reader
        return Resolution(membership: membership, initPid: initPid, choices: choices)
    }

    static let initScope: [UInt8] = Array("/init.scope".utf8)

    /// True when `needle` occurs in `b`.
    static func contains(_ b: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let base = b.baseAddress, !needle.isEmpty else { return false }
        return needle.withUnsafeBufferPointer { n in
            var at = 0
            while b.count - at >= n.count, let hit = memchr(base + at, Int32(n[0]), b.count - at - n.count + 1) {
                let k = UnsafePointer(hit.assumingMemoryBound(to: UInt8.self)) - base
                if memcmp(base + k, n.baseAddress!, n.count) == 0 { return true }
                at = k + 1
            }
            return false
        }
    }

    /// The rule over the reader's lines `r` and the init's lines `i`.
    /// - Returns: the new file's bytes; `nil` when no path changes.
    static func choose(_ r: UnsafeBufferPointer<UInt8>, _ i: UnsafeBufferPointer<UInt8>,
                       _ record: ((Choice) -> Void)?) -> [UInt8]? {
        let readerLines = ProcessCgroup.lines(r), initLines = ProcessCgroup.lines(i)
        guard let rb = r.baseAddress else { return nil }
        var out: [UInt8]?
        for (k, line) in readerLines.enumerated() {
            // The kernel prints every process's hierarchies in the same
            // order: line k of the init is tried first.
            func sameName(_ l: ProcessCgroup.Line) -> Bool {
                l.nameCount == line.nameCount && memcmp(i.baseAddress! + l.start, rb + line.start, line.nameCount) == 0
            }
            let match = k < initLines.count && sameName(initLines[k]) ? initLines[k] : initLines.first(where: sameName)
            let path = line.path
            var chosen: (buffer: UnsafeBufferPointer<UInt8>, range: Range<Int>) = (r, path)
            var reason = Reason.initNotInHierarchy
            if let m = match {
                var top = m.path
                let raw = top
                if top.count >= initScope.count,
                   initScope.withUnsafeBufferPointer({ memcmp(i.baseAddress! + top.upperBound - $0.count, $0.baseAddress!, $0.count) }) == 0 {
                    // `/init.scope` is `/`; `/a/init.scope` is `/a`.
                    top = top.lowerBound..<max(top.lowerBound + 1, top.upperBound - initScope.count)
                }
                if isAtOrBelow(rb + path.lowerBound, path.count, i.baseAddress! + top.lowerBound, top.count) {
                    chosen = (i, top)
                    if record != nil { reason = .atOrBelowInit(initPath: text(i, raw)) }
                } else if record != nil {
                    reason = .notBelowInit(initPath: text(i, top))
                }
            }
            let differs = chosen.range.count != path.count
                || memcmp(chosen.buffer.baseAddress! + chosen.range.lowerBound, rb + path.lowerBound, path.count) != 0
            if differs, out == nil {
                var prefix: [UInt8] = []
                prefix.reserveCapacity(r.count)
                prefix.append(contentsOf: UnsafeBufferPointer(rebasing: r[0..<line.start]))
                out = prefix
            }
            if out != nil {
                out!.append(contentsOf: UnsafeBufferPointer(rebasing: r[line.start...line.secondColon]))
                out!.append(contentsOf: UnsafeBufferPointer(rebasing: chosen.buffer[chosen.range]))
                out!.append(ByteParser.newline)
            }
            if let record {
                record(Choice(hierarchy: text(r, line.start..<line.secondColon), readerPath: text(r, path),
                              path: text(chosen.buffer, chosen.range), reason: reason))
            }
        }
        return out
    }

    static func text(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
    }

    static func ownChoices(_ reader: CgroupMembership, _ reason: Reason) -> [Choice] {
        reader.bytes.withUnsafeBufferPointer { r in
            ProcessCgroup.lines(r).map { line in
                let p = text(r, line.path)
                return Choice(hierarchy: text(r, line.start..<line.secondColon), readerPath: p, path: p, reason: reason)
            }
        }
    }

    /// True when the cgroup path at `path` (`count` bytes) is the one at
    /// `top` or lies below it (a prefix counts only up to a `/`).
    static func isAtOrBelow(_ path: UnsafePointer<UInt8>, _ count: Int, _ top: UnsafePointer<UInt8>, _ topCount: Int) -> Bool {
        if topCount == 1, top[0] == UInt8(ascii: "/") { return count > 0 && path[0] == UInt8(ascii: "/") }
        guard count >= topCount, memcmp(path, top, topCount) == 0 else { return false }
        return count == topCount || path[topCount] == UInt8(ascii: "/")
    }
}

extension ContainerCgroup.Reason: CustomStringConvertible {
    package var description: String {
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
    package func containerCgroup(of pid: Int32, own: CgroupMembership, explain: Bool = false) -> ContainerCgroup.Resolution {
        containerCgroup(ofReader: HostPID(pid), own: own, explain: explain)
    }

    func containerCgroup(ofReader pid: HostPID, own: CgroupMembership, explain: Bool = false) -> ContainerCgroup.Resolution {
        guard let initProcess = namespaces.initProcess(of: pid) else {
            return ContainerCgroup.resolve(reader: own, initPid: nil, initCgroup: nil, explain: explain)
        }
        let initCgroup = initProcess.pid == pid ? own.bytes : files.readProcessCgroup(initProcess.pid)
        return ContainerCgroup.resolve(reader: own, initPid: initProcess.pid.rawValue, initCgroup: initCgroup, explain: explain)
    }

    /// One line per hierarchy naming the container cgroup chosen for `pid`
    /// and why, for `render --debug`.
    /// - Returns: the lines, or one line saying the process has no cgroup.
    package func explainContainerCgroup(of pid: Int32) -> [String] {
        guard let bytes = files.readProcessCgroup(HostPID(pid)) else { return ["pid \(pid): no /proc/\(pid)/cgroup, host values"] }
        let r = containerCgroup(of: pid, own: CgroupMembership(parsing: bytes[...]), explain: true)
        let head = r.initPid.map { "pid \(pid): init of its pid namespace is host pid \($0)" }
            ?? "pid \(pid): no init of another pid namespace"
        return [head] + r.choices.map { c in
            "container cgroup \(c.hierarchy): \(c.path) (reader's \(c.readerPath)): \(c.reason)"
        }
    }
}
