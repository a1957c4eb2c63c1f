import LXCFSLifecycle
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The reattach step: finds the mounts of dead lxcfs-type connections in
/// every mount namespace and replaces each with a bind of the same path in
/// the live mount (see README.md, "Repairing containers").
public struct Reattach: Sendable {
    /// The environment variable that limits the step to namespaces with a
    /// process in a cgroup whose path contains one of its comma-separated
    /// strings (so that tests on a shared host touch only their own).
    public static let scopeVariable = "SWIFT_LXCFS_REATTACH_CGROUPS"
    /// The environment variable that, set to 1, forces the older kernels'
    /// placement (detach, then move) instead of MOVE_MOUNT_BENEATH.
    public static let noBeneathVariable = "SWIFT_LXCFS_REATTACH_NO_BENEATH"
    /// Test hook: when set to a path, the step creates that file after the
    /// find step and waits (at most 60 s) until it is removed before replacing.
    public static let pauseVariable = "SWIFT_LXCFS_REATTACH_PAUSE"
    /// How many pids of one namespace are tried when they exit one after another.
    static let pidsTried = 8

    /// The live daemon's mount point.
    public let mountPoint: String
    /// Find and report only.
    public let dryRun: Bool
    /// How clones are put in place.
    public let mode: PlacementMode
    /// Cgroup path substrings that limit the namespaces looked at, or `nil` for all.
    public let cgroupScope: [String]?
    /// Mount points of other instances whose dead connections are taken
    /// over too (`--reattach-from`); see `ConnectionOwner`.
    public let reattachFrom: [String]

    /// - Parameters:
    ///   - mountPoint: the live daemon's mount point.
    ///   - dryRun: find and report only.
    ///   - mode: `nil` takes `beneath` unless `SWIFT_LXCFS_REATTACH_NO_BENEATH=1`.
    ///   - cgroupScope: `nil` takes `SWIFT_LXCFS_REATTACH_CGROUPS` when set.
    ///   - reattachFrom: see `reattachFrom`.
    public init(mountPoint: String, dryRun: Bool, mode: PlacementMode? = nil, cgroupScope: [String]? = nil,
                reattachFrom: [String] = []) {
        self.mountPoint = mountPoint
        self.dryRun = dryRun
        self.reattachFrom = reattachFrom
        self.mode = mode ?? (Self.environment(Self.noBeneathVariable) == "1" ? .detachFirst : .beneath)
        self.cgroupScope = cgroupScope ?? Self.environment(Self.scopeVariable).map {
            $0.split(separator: ",").map(String.init).filter { !$0.isEmpty }
        }
    }

    /// Runs the step, writing the report a line at a time to `emit`.
    /// - Returns: true when every mount of a dead connection that readers
    ///   see was replaced (with `dryRun`: could be replaced).
    /// - Throws: `ReattachError` when no FUSE filesystem is mounted at `mountPoint`.
    public func run(emit: (String) -> Void) throws -> Bool {
        let finding = try Finder(mountPoint: mountPoint, cgroupScope: cgroupScope, reattachFrom: reattachFrom).find()
        for other in finding.others {
            let state: String
            switch other.liveness {
            case .answers: state = "answers"
            case .noAnswer: state = "does not answer within \(Int(ConnectionProbe.timeout)) s but is held by a server"
            case .unknown(let why): state = "could not be probed (\(why))"
            case .dead: state = "is dead"
            }
            emit("fuse.lxcfs connection \(other.device) (\(other.source)) \(state): its \(other.mounts) mounts are left alone")
        }
        for foreign in finding.foreign {
            let places = foreign.mountPoints.joined(separator: ", ")
            emit("fuse.lxcfs connection \(foreign.device) (\(foreign.source)) is dead and belongs to another instance at \(places) (not served here, not named by --reattach-from): its \(foreign.mounts) mounts are left alone")
        }
        pauseForTests()
        var replaced = 0, left = 0, gone = 0, hidden = 0
        for ns in finding.namespaces {
            var header = "\(ns.namespace.name) pid \(ns.pid)"
            if let id = ns.containerID { header += " container \(id)" }
            emit("\(header): \(ns.stale.count) mounts of a dead lxcfs connection")
            var results: [Int: HelperResult] = [:]
            var namespaceProblem: String?
            let toReplace = ns.stale.filter { $0.verdict == .replace }.map { HelperItem($0.mount) }
            if !dryRun && !toReplace.isEmpty {
                (results, namespaceProblem) = replace(toReplace, in: ns, live: finding.live)
            }
            for s in ns.stale {
                let m = s.mount
                let name = m.mountPoint
                switch s.verdict {
                case .replace:
                    if dryRun {
                        emit("  would replace \(name) (\(m.root) of \(m.device)) with \(finding.live.path(of: m.root))")
                        replaced += 1
                    } else {
                        switch results[m.id] {
                        case .replaced(let how)?:
                            emit("  replaced \(name) with \(finding.live.path(of: m.root)) (\(how))")
                            replaced += 1
                        case .alreadyLive?:
                            emit("  replaced \(name): a live bind is already there (propagated from a peer mount)")
                            replaced += 1
                        case .gone?:
                            emit("  gone \(name): no longer mounted")
                            gone += 1
                        case .failed(let why)?:
                            emit("  left \(name): \(why)")
                            left += 1
                        case nil:
                            if let problem = namespaceProblem, problem.hasPrefix("gone:") {
                                emit("  gone \(name): the namespace is gone (\(problem.dropFirst(6)))")
                                gone += 1
                            } else {
                                emit("  left \(name): \(namespaceProblem ?? "the helper reported nothing")")
                                left += 1
                            }
                        }
                    }
                case .unserved(let why):
                    emit("  left \(name): \(m.root) is not served at \(finding.live.mountPoint) (\(why))")
                    left += 1
                case .hasMountsInside(let n):
                    emit("  left \(name): \(n) other mounts sit inside it")
                    left += 1
                case .covered:
                    emit("  left \(name): covered by another mount, no reader sees it")
                    hidden += 1
                case .mountPointDeleted:
                    emit("  left \(name): its mount point was deleted")
                    hidden += 1
                }
            }
        }
        let total = finding.namespaces.reduce(0) { $0 + $1.stale.count }
        var summary = dryRun ? "reattach --dry-run: " : "reattach: "
        summary += "\(finding.namespaces.count) of \(finding.namespacesLookedAt) mount namespaces "
        summary += dryRun ? "have" : "had"
        summary += " \(total) mounts of dead lxcfs connections; "
        summary += dryRun ? "\(replaced) would be replaced, \(left) would be left" : "\(replaced) replaced, \(left) left, \(gone) gone"
        if hidden > 0 { summary += ", \(hidden) hidden" }
        summary += "; \(finding.healthyBinds) healthy binds left alone"
        if dryRun { summary += "; nothing was changed" }
        emit(summary)
        return left == 0
    }

    /// Runs the helper for one namespace, trying its next pid when the
    /// entered one has exited.
    func replace(_ items: [HelperItem], in ns: NamespaceFinding, live: LiveMount) -> ([Int: HelperResult], String?) {
        var pids = [ns.pid] + ns.namespace.pids.filter { $0 != ns.pid }
        pids = Array(pids.prefix(Self.pidsTried))
        var last = "gone: its processes exited"
        for pid in pids {
            let args = NamespaceHelper.arguments(live: live, pid: pid, inode: ns.namespace.inode, mode: mode, items: items)
            let (outcome, output) = Subprocess.run(args, timeout: 60)
            let (results, problem) = NamespaceHelper.parse(output)
            switch outcome {
            case .exited(NamespaceHelper.namespaceGone):
                last = "gone: \(problem ?? "process \(pid) exited")"
                continue
            case .exited(0):
                return (results, nil)
            case .exited(let code):
                return (results, problem ?? "the helper exited with status \(code)")
            case .signaled(let s):
                return (results, "the helper was ended by signal \(s)")
            case .timedOut:
                return (results, "the helper did not finish within 60 s")
            case .notStarted(let why):
                return (results, "the helper could not start: \(why)")
            }
        }
        return ([:], last)
    }

    func pauseForTests() {
        guard let path = Self.environment(Self.pauseVariable), !path.isEmpty else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
        for _ in 0..<6000 {
            if access(path, F_OK) != 0 { return }
            usleep(10_000)
        }
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
