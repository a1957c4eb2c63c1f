#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A block device number, as cgroup files (`MAJ:MIN`) and the first two
/// columns of `/proc/diskstats` print it.
public struct DeviceNumber: Hashable, Sendable, Comparable {
    public let major: UInt32
    public let minor: UInt32

    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// Parses `MAJ:MIN`.
    /// - Returns: `nil` for anything else (such as the final `Total` line).
    public init?(parsing word: ArraySlice<UInt8>) {
        let parts = word.split(separator: ByteParser.colon, omittingEmptySubsequences: false)
        guard parts.count == 2, let ma = ByteParser.unsigned(parts[0]), let mi = ByteParser.unsigned(parts[1]),
              ma <= UInt64(UInt32.max), mi <= UInt64(UInt32.max) else { return nil }
        self.init(major: UInt32(ma), minor: UInt32(mi))
    }

    public static func < (a: DeviceNumber, b: DeviceNumber) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }
}

/// The I/O a cgroup (and its descendants) has done on one block device.
/// Counts are requests (v1: as the chosen blkio policy counts them, bios for
/// the throttle policy); sizes are bytes; times are nanoseconds.
public struct BlockIOStat: Sendable, Equatable {
    public var reads: UInt64 = 0
    public var writes: UInt64 = 0
    public var discards: UInt64 = 0
    public var readsMerged: UInt64 = 0
    public var writesMerged: UInt64 = 0
    public var discardsMerged: UInt64 = 0
    public var readBytes: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var discardBytes: UInt64 = 0
    /// Service plus queue wait time of reads (v1 CFQ/BFQ debug counters only).
    public var readNanoseconds: UInt64 = 0
    /// Service plus queue wait time of writes.
    public var writeNanoseconds: UInt64 = 0
    /// Service plus queue wait time of discards.
    public var discardNanoseconds: UInt64 = 0
    /// Service time of all requests.
    public var busyNanoseconds: UInt64 = 0

    public init() {}

    /// True when the cgroup did no I/O on the device.
    public var isIdle: Bool {
        reads == 0 && writes == 0 && discards == 0 && readsMerged == 0 && writesMerged == 0
            && readBytes == 0 && writeBytes == 0 && discardBytes == 0
    }
}

/// A `/proc/pressure/*` resource and the cgroup file that holds it.
public enum PressureResource: String, Sendable, CaseIterable {
    case cpu, io, memory

    /// The v2 cgroup file, such as `cpu.pressure`.
    public var cgroupFile: String { rawValue + ".pressure" }
}

/// A cgroup whose tasks are counted for the load average: the reader's
/// cgroup in the hierarchy of the cpu controller.
public struct TaskGroup: Hashable, Sendable {
    /// The cgroup's folder, as a host path.
    public let directory: String
    /// True on the unified hierarchy (tasks from `cgroup.threads`); false on
    /// v1 (tasks from `tasks`).
    public let unified: Bool

    public init(directory: String, unified: Bool) {
        self.directory = directory
        self.unified = unified
    }
}

extension CgroupReader {
    /// The v1 blkio counter families, most exact first: CFQ's own counters
    /// (kernels before 5.0), BFQ's (present when BFQ schedules the device),
    /// and the throttle policy's (counted on devices with a throttle rule).
    /// Within each family the recursive file is preferred.
    static let blkioFamilies = ["blkio.io_", "blkio.bfq.io_", "blkio.throttle.io_"]

    /// Per-device I/O of a process's cgroup, including its descendants: v1
    /// blkio `*io_serviced`, `*io_service_bytes`, `*io_merged`,
    /// `*io_service_time`, `*io_wait_time` (the first family that names the
    /// device), or v2 `io.stat` (`rbytes wbytes rios wios dbytes dios`).
    /// - Returns: `nil` when no blkio or io file can be read.
    public func blockIO(_ membership: CgroupMembership) -> [DeviceNumber: BlockIOStat]? {
        if let h = layout.v1Hierarchy(for: "blkio") {
            guard let path = membership.path(in: h) else { return nil }
            let dir = h.directory(of: path)
            return blkioV1(dir, hierarchy: h.mountPoint)
        }
        guard let u = layout.unified, let path = membership.unifiedPath else { return nil }
        guard let bytes = root.read(u.directory(of: path) + "/io.stat", sizeHint: 1024) else { return nil }
        return Self.parseIOStat(bytes[...])
    }

    /// - Parameters:
    ///   - dir: the cgroup's folder (host path).
    ///   - hierarchy: the blkio hierarchy's mount point, whose file names are
    ///     remembered when absent.
    func blkioV1(_ dir: String, hierarchy: String) -> [DeviceNumber: BlockIOStat]? {
        var result: [DeviceNumber: BlockIOStat] = [:]
        var anyFile = false
        // The root cgroup is kept apart: a v1 file may be made for children only.
        let names = dir == hierarchy ? hierarchy + "/" : hierarchy + "/*/"
        func rwstat(_ family: String, _ counter: String) -> [DeviceNumber: [RWOp: UInt64]]? {
            self.rwstat(dir, family, counter, absentKey: names)
        }
        for family in Self.blkioFamilies {
            guard let serviced = rwstat(family, "serviced") else { continue }
            anyFile = true
            let bytes = rwstat(family, "service_bytes") ?? [:]
            let merged = rwstat(family, "merged") ?? [:]
            let service = rwstat(family, "service_time") ?? [:]
            let wait = rwstat(family, "wait_time") ?? [:]
            for (dev, ops) in serviced where result[dev] == nil {
                var s = BlockIOStat()
                s.reads = ops[.read] ?? 0
                s.writes = ops[.write] ?? 0
                s.discards = ops[.discard] ?? 0
                let b = bytes[dev] ?? [:], m = merged[dev] ?? [:], st = service[dev] ?? [:], w = wait[dev] ?? [:]
                s.readBytes = b[.read] ?? 0
                s.writeBytes = b[.write] ?? 0
                s.discardBytes = b[.discard] ?? 0
                s.readsMerged = m[.read] ?? 0
                s.writesMerged = m[.write] ?? 0
                s.discardsMerged = m[.discard] ?? 0
                s.readNanoseconds = (st[.read] ?? 0) &+ (w[.read] ?? 0)
                s.writeNanoseconds = (st[.write] ?? 0) &+ (w[.write] ?? 0)
                s.discardNanoseconds = (st[.discard] ?? 0) &+ (w[.discard] ?? 0)
                s.busyNanoseconds = st[.total] ?? 0
                // A family that lists a device without I/O (BFQ on a device it
                // does not schedule) gives way to the next family.
                if !s.isIdle { result[dev] = s }
            }
        }
        return anyFile ? result : nil
    }

    enum RWOp: Hashable { case read, write, discard, total }

    /// Reads a v1 rwstat file (`MAJ:MIN Read N` ... lines), recursive variant first.
    /// - Parameter absentKey: prefixes the file name in `HostRoot.isAbsent`.
    func rwstat(_ dir: String, _ family: String, _ counter: String,
                absentKey: String) -> [DeviceNumber: [RWOp: UInt64]]? {
        for name in [family + counter + "_recursive", family + counter] {
            if let bytes = readV1File(dir, name, absentKey: absentKey) { return Self.parseRWStat(bytes[...]) }
        }
        return nil
    }

    /// Reads `dir/name` unless the name is known to be absent from the
    /// hierarchy; a failed open in a folder that exists teaches that, for
    /// 10 s (a scheduler module loaded later brings its files). A v1
    /// controller gives every cgroup of its hierarchy the same files, so a
    /// name missing from one cgroup is missing from all: the counters of a
    /// blkio policy that is not there (`blkio.io_serviced` without CFQ,
    /// `blkio.bfq.io_merged` without `CONFIG_BFQ_CGROUP_DEBUG`) then cost no
    /// failed path walk on each `/proc/diskstats` read. Not for v2, where a
    /// cgroup's files depend on the controllers its parent enables.
    func readV1File(_ dir: String, _ name: String, absentKey: String) -> [UInt8]? {
        let key = absentKey + name
        if root.isAbsent(key) { return nil }
        let path = dir + "/" + name
        if let bytes = root.read(path, sizeHint: 1024) { return bytes }
        // Only "no such file" in a folder that exists teaches absence, not
        // EMFILE, ENOMEM or a cgroup removed meanwhile.
        if path.withCString({ access($0, F_OK) }) != 0, errno == ENOENT,
           dir.withCString({ access($0, F_OK) }) == 0 {
            root.learnAbsent(key)
        }
        return nil
    }

    /// Parses a v1 blkio rwstat file.
    static func parseRWStat(_ bytes: ArraySlice<UInt8>) -> [DeviceNumber: [RWOp: UInt64]] {
        var out: [DeviceNumber: [RWOp: UInt64]] = [:]
        for line in ByteParser.lines(bytes) {
            let w = ByteParser.words(line)
            guard w.count == 3, let dev = DeviceNumber(parsing: w[0]), let v = ByteParser.unsigned(w[2]) else { continue }
            let op: RWOp
            if ByteParser.equals(w[1], "Read") { op = .read }
            else if ByteParser.equals(w[1], "Write") { op = .write }
            else if ByteParser.equals(w[1], "Discard") { op = .discard }
            else if ByteParser.equals(w[1], "Total") { op = .total }
            else { continue }
            out[dev, default: [:]][op] = v
        }
        return out
    }

    /// Parses v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`.
    static func parseIOStat(_ bytes: ArraySlice<UInt8>) -> [DeviceNumber: BlockIOStat] {
        var out: [DeviceNumber: BlockIOStat] = [:]
        for line in ByteParser.lines(bytes) {
            let w = ByteParser.words(line)
            guard let first = w.first, let dev = DeviceNumber(parsing: first) else { continue }
            var s = BlockIOStat()
            for kv in w.dropFirst() {
                guard let eq = kv.firstIndex(of: UInt8(ascii: "=")),
                      let v = ByteParser.unsigned(kv[(eq + 1)...]) else { continue }
                let key = kv[..<eq]
                if ByteParser.equals(key, "rbytes") { s.readBytes = v }
                else if ByteParser.equals(key, "wbytes") { s.writeBytes = v }
                else if ByteParser.equals(key, "dbytes") { s.discardBytes = v }
                else if ByteParser.equals(key, "rios") { s.reads = v }
                else if ByteParser.equals(key, "wios") { s.writes = v }
                else if ByteParser.equals(key, "dios") { s.discards = v }
            }
            out[dev] = s
        }
        return out
    }

    /// The pressure stall file of a process's cgroup: v2 `cpu.pressure`,
    /// `io.pressure` or `memory.pressure`, read where the resource's
    /// controller (cpu, io, memory) is on the unified hierarchy.
    /// - Returns: the file's bytes; `nil` where the controller is on v1 or
    ///   the file cannot be read (callers use the host's `/proc/pressure` file).
    public func pressure(_ resource: PressureResource, _ membership: CgroupMembership) -> [UInt8]? {
        let controller: String
        switch resource {
        case .cpu: controller = "cpu"
        case .memory: controller = "memory"
        case .io:
            if layout.v1Hierarchy(for: "blkio") != nil { return nil }
            controller = "io"
        }
        guard let h = layout.hierarchy(for: controller), h.isUnified,
              let path = membership.path(in: h) else { return nil }
        guard let bytes = root.read(h.directory(of: path) + "/" + resource.cgroupFile, sizeHint: 256),
              !bytes.isEmpty else { return nil }
        return bytes
    }

    /// The v1 `memory.kmem.slabinfo` of a process's memory cgroup.
    /// - Returns: the file's bytes; `nil` on v2, when missing, or when empty
    ///   (newer kernels leave it empty).
    public func kmemSlabinfo(_ membership: CgroupMembership) -> [UInt8]? {
        guard let h = layout.v1Hierarchy(for: "memory"), let path = membership.path(in: h),
              let bytes = root.read(h.directory(of: path) + "/memory.kmem.slabinfo", sizeHint: 16384),
              ByteParser.words(bytes[...]).count > 0 else { return nil }
        return bytes
    }

    /// The cgroup whose tasks make a process's load average: its cgroup in
    /// the cpu controller's hierarchy (v1), or its unified cgroup (v2).
    /// - Returns: `nil` when the process has no such cgroup.
    public func taskGroup(_ membership: CgroupMembership) -> TaskGroup? {
        guard let h = layout.hierarchy(for: "cpu"), let path = membership.path(in: h) else { return nil }
        return TaskGroup(directory: h.directory(of: path), unified: h.isUnified)
    }

    /// The host thread ids in a cgroup and its descendants: v1 `tasks`, v2
    /// `cgroup.threads`, walked down at most `maxDepth` levels.
    /// - Returns: `nil` when the cgroup's own file cannot be read (the cgroup is gone).
    public func threads(of group: TaskGroup, maxDepth: Int = 16) -> [Int32]? {
        let file = group.unified ? "/cgroup.threads" : "/tasks"
        guard let own = root.read(group.directory + file, sizeHint: 1024) else { return nil }
        var tids: [Int32] = []
        func collect(_ bytes: [UInt8]) {
            for w in ByteParser.words(bytes[...]) {
                if let v = ByteParser.integer(w), v > 0, v <= Int64(Int32.max) { tids.append(Int32(v)) }
            }
        }
        collect(own)
        var pending: [(String, Int)] = root.subdirectories(of: group.directory).map { (group.directory + "/" + $0, 1) }
        while let (dir, depth) = pending.popLast() {
            if let bytes = root.read(dir + file, sizeHint: 1024) { collect(bytes) }
            if depth < maxDepth {
                pending.append(contentsOf: root.subdirectories(of: dir).map { (dir + "/" + $0, depth + 1) })
            }
        }
        return tids
    }
}
