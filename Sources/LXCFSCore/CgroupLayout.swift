import LXCFSMountInfo
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One mounted cgroup hierarchy, as found in `/proc/self/mountinfo`.
package struct CgroupHierarchy: Sendable, Hashable {
    /// The controllers this hierarchy holds (`["cpu", "cpuacct"]`), plus a
    /// `name=...` entry for named v1 hierarchies; empty for the unified one.
    package let controllers: [String]
    /// Where the hierarchy is mounted, as a host path (octal escapes undone).
    package let mountPoint: String
    /// The cgroup that is the root of this mount (mountinfo field 4), `/` on
    /// a host; a deeper path inside a container's cgroup namespace.
    package let mountRoot: String
    /// True for the cgroup2 (unified) hierarchy.
    package let isUnified: Bool

    /// The folder of a cgroup in this hierarchy.
    ///
    /// Both `cgroupPath` and `mountRoot` are relative to the daemon's cgroup
    /// namespace, so a path below the mount root is placed by removing that
    /// root. Paths that climb out of the namespace (`/../../kubepods/x`,
    /// from a daemon in its own namespace) are placed the same way when the
    /// mount root climbs as far; otherwise their leading `..` are dropped, a
    /// guess that holds when the namespace root is a child of the mount
    /// root. The daemon avoids such guesses by joining the host's namespace
    /// at start (`CgroupNamespace.enterHostNamespace`).
    /// - Parameter cgroupPath: the path as `/proc/PID/cgroup` prints it.
    /// - Returns: a host path such as `/sys/fs/cgroup/memory/docker/abc`,
    ///   always at or below `mountPoint`.
    package func directory(of cgroupPath: String) -> String {
        // The common case, on every render: a hierarchy mounted at its root
        // and a plain absolute path. The same result as the general way
        // below, without splitting into components.
        if mountRoot == "/", Self.isPlain(cgroupPath) {
            if cgroupPath.utf8.count == 1 { return mountPoint }
            return mountPoint == "/" ? cgroupPath : mountPoint + cgroupPath
        }
        return placed(cgroupPath)
    }

    /// True for `/` and for an absolute path with no empty, `.` or `..`
    /// component and no trailing slash, such as `/docker/abc`.
    static func isPlain(_ path: String) -> Bool {
        var previous: UInt8 = 0
        var first = true
        for byte in path.utf8 {
            if first {
                guard byte == UInt8(ascii: "/") else { return false }
                first = false
            } else if previous == UInt8(ascii: "/"), byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".") {
                return false
            }
            previous = byte
        }
        return !first && (previous != UInt8(ascii: "/") || path.utf8.count == 1)
    }

    /// `directory(of:)` by components: resolves `.` and `..`, removes the
    /// mount root and drops `..` that climb above it.
    func placed(_ cgroupPath: String) -> String {
        var relative = CgroupNamespace.components(cgroupPath)
        let root = CgroupNamespace.components(mountRoot)
        if relative.starts(with: root) {
            relative.removeFirst(root.count)
        }
        while relative.first == ".." { relative.removeFirst() }
        if relative.isEmpty { return mountPoint }
        let tail = relative.joined(separator: "/")
        return mountPoint == "/" ? "/" + tail : mountPoint + "/" + tail
    }
}

/// The cgroup hierarchies of a host, discovered from `/proc/self/mountinfo`
/// (never hard-coded), and which one serves each controller.
///
/// Each controller is read from the v1 hierarchy that mounts it; the unified
/// (cgroup2) hierarchy serves a controller only when no v1 hierarchy holds
/// it. A host with only cgroup2 is pure v2; v1 controllers beside an empty
/// cgroup2 mount (hybrid) are read from v1.
package struct CgroupLayout: Sendable, Hashable {
    /// All cgroup hierarchies, in mountinfo order. Where several mounts
    /// share a mount point the last one wins: it hides the earlier ones (a
    /// container's own cgroup mounts under the host's, bound over them).
    package let hierarchies: [CgroupHierarchy]
    private let byController: [String: Int]
    private let unifiedIndex: Int?

    /// Builds the layout from the hierarchies found.
    package init(hierarchies: [CgroupHierarchy]) {
        self.hierarchies = hierarchies
        var map: [String: Int] = [:]
        var unified: Int?
        for (i, h) in hierarchies.enumerated() {
            if h.isUnified {
                if unified == nil { unified = i }
            } else {
                for c in h.controllers where map[c] == nil { map[c] = i }
            }
        }
        byController = map
        unifiedIndex = unified
    }

    /// Parses mountinfo text (see `MountInfo.entries`).
    package init(mountinfo bytes: ArraySlice<UInt8>) {
        var found: [CgroupHierarchy] = []
        var indexByPoint: [String: Int] = [:]
        for mount in MountInfo.entries(bytes) {
            let isV1 = mount.fsType == "cgroup"
            let isV2 = mount.fsType == "cgroup2"
            guard isV1 || isV2 else { continue }
            var controllers: [String] = []
            if isV1 {
                for o in mount.superOptions {
                    if Self.mountOptions.contains(o) || o.hasPrefix("release_agent=") { continue }
                    controllers.append(o)
                }
            }
            let hierarchy = CgroupHierarchy(controllers: controllers, mountPoint: mount.mountPoint, mountRoot: mount.root,
                                            isUnified: isV2)
            if let i = indexByPoint[mount.mountPoint] {
                found[i] = hierarchy
            } else {
                indexByPoint[mount.mountPoint] = found.count
                found.append(hierarchy)
            }
        }
        self.init(hierarchies: found)
    }

    /// Reads `/proc/self/mountinfo` through `files`.
    /// - Returns: the layout; an empty one when mountinfo cannot be read.
    package static func discover(_ files: any KernelFileReader) -> CgroupLayout {
        guard let bytes = files.read("/proc/self/mountinfo", sizeHint: 16384) else {
            return CgroupLayout(hierarchies: [])
        }
        return CgroupLayout(mountinfo: bytes[...])
    }

    /// Superblock options of a v1 cgroup mount that are not controllers.
    static let mountOptions: Set<String> = ["rw", "ro", "xattr", "noprefix", "clone_children",
                                            "cpuset_v2_mode", "nsdelegate", "favordynmods"]

    /// The hierarchy that serves a controller: its v1 hierarchy, else the
    /// unified one, else `nil`.
    /// - Parameter controller: a controller name such as `memory` or `cpuset`.
    package func hierarchy(for controller: String) -> CgroupHierarchy? {
        if let i = byController[controller] { return hierarchies[i] }
        if let u = unifiedIndex { return hierarchies[u] }
        return nil
    }

    /// The unified (cgroup2) hierarchy, if mounted.
    package var unified: CgroupHierarchy? { unifiedIndex.map { hierarchies[$0] } }
}

/// A process's cgroup membership, from `/proc/PID/cgroup`: one path per v1
/// hierarchy (`N:ctrl1,ctrl2:/path`) and one for the unified hierarchy
/// (`0::/path`).
///
/// Keeps the file's bytes and, from one pass at parsing, where each v1
/// line's controllers and path are, so that a render builds only the one or
/// two paths it needs and finds each without scanning the text again.
package struct CgroupMembership: Sendable, Hashable {
    /// One v1 line: the byte ranges of its controller list and its path.
    struct Entry: Sendable, Hashable {
        let controllers: Range<Int>
        let path: Range<Int>
    }

    /// The text of `/proc/PID/cgroup`.
    let bytes: [UInt8]
    /// The v1 lines, in file order.
    let entries: [Entry]
    /// The unified hierarchy path, with a trailing `init.scope` leaf removed.
    package let unifiedPath: String?

    /// Parses `/proc/PID/cgroup`.
    package init(parsing bytes: ArraySlice<UInt8>) {
        // A copy of exactly the text: `Array(slice)` of a whole array keeps
        // its buffer, and the reader's is 8 KiB (`processCgroupCapacity`).
        // Memberships key the render cache and the per-container budgets,
        // a thousand containers' at once, so each must hold only its text.
        self.bytes = bytes.withUnsafeBufferPointer { Array($0) }
        var unified: String?
        var entries: [Entry] = []
        // One allocation: a v1 host has some 12 hierarchies.
        entries.reserveCapacity(16)
        self.bytes.withUnsafeBufferPointer { text in
            ProcessCgroup.forEachLine(text) { line in
                if line.controllers.isEmpty {
                    if line.hierarchyID.count == 1, text[line.start] == UInt8(ascii: "0") {
                        unified = Self.dropInitScope(String(decoding: UnsafeBufferPointer(rebasing: text[line.path]), as: UTF8.self))
                    }
                } else {
                    entries.append(Entry(controllers: line.controllers, path: line.path))
                }
                return true
            }
        }
        self.entries = entries
        unifiedPath = unified
        var hasher = Hasher()
        self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        digest = hasher.finalize()
    }

    /// A hash of `bytes`, taken once: memberships key the render cache
    /// and the per-container budgets on every request, and hashing the
    /// text byte by byte each time cost some 20,000 instructions.
    private let digest: Int

    // Everything else is parsed from `bytes`.
    package static func == (a: CgroupMembership, b: CgroupMembership) -> Bool {
        a.digest == b.digest && a.bytes == b.bytes
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(digest)
    }

    /// Path per v1 controller (and per `name=...`), as the kernel prints it.
    package var v1Paths: [String: String] {
        var v1: [String: String] = [:]
        for e in entries {
            let p = String(decoding: bytes[e.path], as: UTF8.self)
            for c in bytes[e.controllers].split(separator: ByteParser.comma) {
                v1[String(decoding: c, as: UTF8.self)] = p
            }
        }
        return v1
    }

    /// A v2 leaf named `init.scope` counts as its parent.
    static func dropInitScope(_ path: String) -> String {
        if path == "/init.scope" { return "/" }
        if path.hasSuffix("/init.scope") { return String(path.dropLast("/init.scope".count)) }
        return path
    }

    /// The path of this process in `hierarchy`.
    /// - Returns: `nil` when `/proc/PID/cgroup` has no line for it.
    package func path(in hierarchy: CgroupHierarchy) -> String? {
        cgroupBackend(of: hierarchy).path(of: self, in: hierarchy)
    }

    /// The path of the v1 hierarchy line whose controller list holds `controller`;
    /// the last such line wins, as when the lines are read into a map.
    func v1Path(_ controller: String) -> String? {
        var name = controller
        guard !name.isEmpty else { return nil }
        let found: Range<Int>? = name.withUTF8 { want in
            bytes.withUnsafeBufferPointer { text in
                var found: Range<Int>?
                for e in entries {
                    var start = e.controllers.lowerBound
                    while start < e.controllers.upperBound {
                        var end = start
                        while end < e.controllers.upperBound, text[end] != ByteParser.comma { end += 1 }
                        if end - start == want.count, memcmp(text.baseAddress! + start, want.baseAddress!, want.count) == 0 {
                            found = e.path
                            break
                        }
                        start = end + 1
                    }
                }
                return found
            }
        }
        return found.map { String(decoding: bytes[$0], as: UTF8.self) }
    }
}
