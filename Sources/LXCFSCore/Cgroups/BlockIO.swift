import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A block device number, as cgroup files (`MAJ:MIN`) and the first two
/// columns of `/proc/diskstats` print it.
package struct DeviceNumber: Hashable, Sendable, Comparable {
    package let major: UInt32
    package let minor: UInt32

    package init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// Parses `MAJ:MIN`.
    /// - Returns: `nil` for anything else (such as the final `Total` line).
    package init?(parsing word: ArraySlice<UInt8>) {
        guard let colon = ByteParser.firstIndex(of: ByteParser.colon, in: word),
              let ma = ByteParser.unsigned(word[..<colon]), let mi = ByteParser.unsigned(word[(colon + 1)...]),
              ma <= UInt64(UInt32.max), mi <= UInt64(UInt32.max) else { return nil }
        self.init(major: UInt32(ma), minor: UInt32(mi))
    }

    package static func < (a: DeviceNumber, b: DeviceNumber) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }
}

/// The I/O a cgroup (and its descendants) has done on one block device.
/// Counts are requests (v1: as the chosen blkio policy counts them, bios for
/// the throttle policy); sizes are bytes; times are nanoseconds.
package struct BlockIOStat: Sendable, Equatable {
    package var reads: UInt64 = 0
    package var writes: UInt64 = 0
    package var discards: UInt64 = 0
    package var readsMerged: UInt64 = 0
    package var writesMerged: UInt64 = 0
    package var discardsMerged: UInt64 = 0
    package var readBytes: UInt64 = 0
    package var writeBytes: UInt64 = 0
    package var discardBytes: UInt64 = 0
    /// Service plus queue wait time of reads (v1 CFQ/BFQ debug counters only).
    package var readNanoseconds: UInt64 = 0
    /// Service plus queue wait time of writes.
    package var writeNanoseconds: UInt64 = 0
    /// Service plus queue wait time of discards.
    package var discardNanoseconds: UInt64 = 0
    /// Service time of all requests.
    package var busyNanoseconds: UInt64 = 0

    package init() {}

    /// True when the cgroup did no I/O on the device.
    package var isIdle: Bool {
        reads == 0 && writes == 0 && discards == 0 && readsMerged == 0 && writesMerged == 0
            && readBytes == 0 && writeBytes == 0 && discardBytes == 0
    }
}

/// A `/proc/pressure/*` resource and the cgroup file that holds it.
package enum PressureResource: String, Sendable, CaseIterable {
    case cpu, io, memory

    /// The v2 cgroup file, such as `cpu.pressure`.
    package var cgroupFile: String { rawValue + ".pressure" }

    /// The controller whose hierarchy holds the file (`blkio` names io's
    /// hierarchy: on v1 it is blkio's, which has no pressure file).
    var controller: String {
        switch self {
        case .cpu: return "cpu"
        case .io: return "blkio"
        case .memory: return "memory"
        }
    }
}

/// A cgroup whose tasks are counted for the load average: the reader's
/// cgroup in the hierarchy of the cpu controller.
package struct LoadavgCgroup: Hashable, Sendable {
    /// The cgroup's folder, as a host path.
    package let directory: String
    /// The file of its thread ids, such as `/tasks` (v1) or `/cgroup.threads` (v2).
    package let threadsFile: String

    package init(directory: String, threadsFile: String) {
        self.directory = directory
        self.threadsFile = threadsFile
    }
}

/// v1 blkio file names known to be absent from a hierarchy, each believed
/// for `lifetime` (10 s: a scheduler module loaded later brings its files).
/// A v1 controller gives every cgroup of its hierarchy the same files, so a
/// name missing from one cgroup is missing from all: the counters of a
/// blkio policy that is not there (`blkio.io_serviced` without CFQ,
/// `blkio.bfq.io_merged` without `CONFIG_BFQ_CGROUP_DEBUG`) then cost no
/// failed path walk on each `/proc/diskstats` read. The root cgroup is a
/// scope of its own (a v1 file may be made for children only). Not for v2,
/// where a cgroup's files depend on the controllers its parent enables.
/// Shared by all threads, behind one mutex.
package final class AbsentCgroupFileNames: Sendable {
    struct Name: Hashable {
        let scope: String
        let name: String
    }

    /// How long an absence is believed, in nanoseconds.
    package let lifetime: UInt64
    private let clock: @Sendable () -> UInt64
    private let seen = Mutex<[Name: UInt64]>([:])

    /// - Parameters:
    ///   - lifetime: nanoseconds an absence is believed.
    ///   - clock: monotonic nanoseconds (CLOCK_MONOTONIC_COARSE by default).
    package init(lifetime: UInt64 = 10_000_000_000, clock: @escaping @Sendable () -> UInt64 = MonotonicClock.nanoseconds) {
        self.lifetime = lifetime
        self.clock = clock
    }

    /// True when `name` was found absent in `scope` less than `lifetime` ago.
    func isAbsent(_ scope: String, _ name: String) -> Bool {
        snapshot().isAbsent(scope, name)
    }

    /// What is known now, taken once per render (one lock, not one per name).
    struct Snapshot {
        let seen: [Name: UInt64]
        let now: UInt64
        let lifetime: UInt64

        func isAbsent(_ scope: String, _ name: String) -> Bool {
            guard let when = seen[Name(scope: scope, name: name)] else { return false }
            return now &- when < lifetime
        }
    }

    func snapshot() -> Snapshot {
        Snapshot(seen: seen.withLock { $0 }, now: clock(), lifetime: lifetime)
    }

    /// Remembers that `name` is absent from `scope` now.
    func learn(_ scope: String, _ name: String) {
        let now = clock()
        seen.withLock { seen in
            if seen.count >= 4096 { seen = seen.filter { now &- $0.value < lifetime } }
            seen[Name(scope: scope, name: name)] = now
        }
    }

    /// How many names are remembered now.
    package var count: Int { seen.withLock { $0.count } }
}

/// The v1 blkio counters of one cgroup: the first family of rwstat files
/// that counts a device gives its line.
struct BlkioV1 {
    let files: any KernelFileReader
    let absentNames: AbsentCgroupFileNames?
    /// The absent names as known at the start of this read.
    let known: AbsentCgroupFileNames.Snapshot?

    init(files: any KernelFileReader, absentNames: AbsentCgroupFileNames?) {
        self.files = files
        self.absentNames = absentNames
        known = absentNames?.snapshot()
    }

    /// The v1 blkio counter families, most exact first: CFQ's own counters
    /// (kernels before 5.0), BFQ's (present when BFQ schedules the device),
    /// and the throttle policy's (counted on devices with a throttle rule).
    /// Within each family the recursive file is preferred.
    static let blkioFamilies = ["blkio.io_", "blkio.bfq.io_", "blkio.throttle.io_"]

    /// The v1 rwstat counters read per family, in `blkioNames` order.
    enum BlkioCounter: Int, CaseIterable {
        case serviced, serviceBytes, merged, serviceTime, waitTime
        var suffix: String {
            ["serviced", "service_bytes", "merged", "service_time", "wait_time"][rawValue]
        }
    }

    /// Each family's file names, recursive first, by `BlkioCounter`:
    /// `blkioNames[family][counter]` is (`blkio.io_serviced_recursive`, `blkio.io_serviced`).
    static let blkioNames: [[(recursive: String, plain: String)]] = blkioFamilies.map { family in
        BlkioCounter.allCases.map { (family + $0.suffix + "_recursive", family + $0.suffix) }
    }

    /// - Parameters:
    ///   - dir: the cgroup's folder (host path).
    ///   - hierarchy: the blkio hierarchy's mount point, whose file names are
    ///     remembered when absent.
    func read(_ dir: String, hierarchy: String) -> [DeviceNumber: BlockIOStat]? {
        var result: [DeviceNumber: BlockIOStat] = [:]
        var anyFile = false
        // The root cgroup is set apart: a v1 file may be made for children only.
        let scope = dir == hierarchy ? hierarchy + "/" : hierarchy + "/*/"
        let folder = dir + "/"
        for names in Self.blkioNames {
            func rwstat(_ c: BlkioCounter) -> [DeviceNumber: CgroupReader.RWStat]? {
                self.rwstat(folder, names[c.rawValue], scope: scope)
            }
            guard let serviced = rwstat(.serviced) else { continue }
            anyFile = true
            let bytes = rwstat(.serviceBytes) ?? [:]
            let merged = rwstat(.merged) ?? [:]
            let service = rwstat(.serviceTime) ?? [:]
            let wait = rwstat(.waitTime) ?? [:]
            for (dev, ops) in serviced where result[dev] == nil {
                var s = BlockIOStat()
                s.reads = ops.read
                s.writes = ops.write
                s.discards = ops.discard
                let b = bytes[dev] ?? CgroupReader.RWStat(), m = merged[dev] ?? CgroupReader.RWStat()
                let st = service[dev] ?? CgroupReader.RWStat(), w = wait[dev] ?? CgroupReader.RWStat()
                s.readBytes = b.read
                s.writeBytes = b.write
                s.discardBytes = b.discard
                s.readsMerged = m.read
                s.writesMerged = m.write
                s.discardsMerged = m.discard
                s.readNanoseconds = st.read &+ w.read
                s.writeNanoseconds = st.write &+ w.write
                s.discardNanoseconds = st.discard &+ w.discard
                s.busyNanoseconds = st.total
                // A family that lists a device without I/O (BFQ on a device it
                // does not schedule) gives way to the next family.
                if !s.isIdle { result[dev] = s }
            }
        }
        return anyFile ? result : nil
    }

    /// Reads a v1 rwstat file, the recursive variant first.
    /// - Parameters:
    ///   - folder: the cgroup's folder with a trailing `/`.
    ///   - names: the file's recursive and plain names.
    ///   - scope: names the hierarchy (and root or child cgroup) in
    ///     `HostRoot.isAbsent`.
    func rwstat(_ folder: String, _ names: (recursive: String, plain: String),
                scope: String) -> [DeviceNumber: CgroupReader.RWStat]? {
        for name in [names.recursive, names.plain] {
            if let bytes = readV1File(folder, name, scope: scope) { return CgroupReader.parseRWStat(bytes[...]) }
        }
        return nil
    }

    /// Reads `folder + name` unless the name is known to be absent from
    /// the hierarchy (`scope`); a failed open with ENOENT in a folder that
    /// exists teaches that (see `AbsentCgroupFileNames`).
    func readV1File(_ folder: String, _ name: String, scope: String) -> [UInt8]? {
        if let known, known.isAbsent(scope, name) { return nil }
        let path = folder + name
        if let bytes = files.read(path, sizeHint: 1024) { return bytes }
        // Only "no such file" in a folder that exists teaches absence, not
        // EMFILE, ENOMEM or a cgroup removed meanwhile.
        if let absentNames, files.root.accessError(path) == ENOENT, files.root.accessError(folder) == nil {
            absentNames.learn(scope, name)
        }
        return nil
    }

}

extension CgroupReader {
    /// One device's line set in a v1 rwstat file (`MAJ:MIN Read N`, `Write`,
    /// `Discard`, `Total`); 0 where a line is missing.
    struct RWStat: Equatable {
        var read: UInt64 = 0
        var write: UInt64 = 0
        var discard: UInt64 = 0
        var total: UInt64 = 0
    }

    /// Parses a v1 blkio rwstat file: lines of exactly `MAJ:MIN OP N`.
    static func parseRWStat(_ bytes: ArraySlice<UInt8>) -> [DeviceNumber: CgroupReader.RWStat] {
        var out: [DeviceNumber: CgroupReader.RWStat] = [:]
        ByteParser.forEachLine(bytes) { line in
            var i = line.startIndex
            guard let first = ByteParser.nextWord(line, from: &i), let op = ByteParser.nextWord(line, from: &i),
                  let value = ByteParser.nextWord(line, from: &i), ByteParser.nextWord(line, from: &i) == nil,
                  let dev = DeviceNumber(parsing: first), let v = ByteParser.unsigned(value) else { return }
            switch op.count {
            case 4 where ByteParser.equals(op, "Read"): out[dev, default: CgroupReader.RWStat()].read = v
            case 5 where ByteParser.equals(op, "Write"): out[dev, default: CgroupReader.RWStat()].write = v
            case 5 where ByteParser.equals(op, "Total"): out[dev, default: CgroupReader.RWStat()].total = v
            case 7 where ByteParser.equals(op, "Discard"): out[dev, default: CgroupReader.RWStat()].discard = v
            default: break
            }
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
}
