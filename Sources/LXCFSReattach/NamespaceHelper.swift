import LXCFSLifecycle
import LXCFSMountInfo
import LXCFSSystem
import SystemPackage
import CLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the helper puts a clone in place.
public enum PlacementMode: String, Sendable {
    /// `move_mount(MOVE_MOUNT_BENEATH)` under the stale mount, then detach
    /// the stale one (Linux 6.5+): a reader never sees the file below.
    /// Falls back to `detachFirst` when the kernel answers EINVAL.
    case beneath
    /// Detach the stale mount, then `move_mount` the clone (older kernels).
    case detachFirst = "detach-first"
}

/// One mount the helper is to replace.
public struct HelperItem: Sendable, Equatable {
    /// The stale mount's ID (checked again inside the namespace).
    public let id: Int
    /// Its mount point, relative to the target process's root.
    public let mountPoint: String
    /// Its root inside the filesystem: the path to clone in the live mount.
    public let root: String
    /// Its per-mount options, which the clone takes.
    public let options: [String]

    /// The item for a stale mount.
    public init(_ m: MountInfo.Entry) {
        id = m.id; mountPoint = m.mountPoint; root = m.root; options = m.options
    }

    init(id: Int, mountPoint: String, root: String, options: [String]) {
        self.id = id; self.mountPoint = mountPoint; self.root = root; self.options = options
    }

    var arguments: [String] { [String(id), mountPoint, root, options.joined(separator: ",")] }
}

/// The short-lived helper that enters one mount namespace: a re-exec of
/// this binary, single-threaded as `setns(CLONE_NEWNS)` requires, so the
/// daemon's own threads never change namespace.
///
/// It clones each live file or directory in its parent's namespace
/// (`open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`), gives the clone the stale
/// mount's per-mount flags and private propagation (`mount_setattr`),
/// enters the target namespace and the target process's root, and puts
/// the clone in place.
public enum NamespaceHelper {
    /// The hidden subcommand.
    public static let subcommand = "__reattach-ns"
    /// Exit status when the namespace is gone (its process exited); the caller tries another pid.
    public static let namespaceGone: Int32 = 3

    /// The arguments for one run: the live mount point and device, the pid
    /// and namespace inode to enter, the mode, then four per item.
    public static func arguments(live: LiveMount, pid: Int32, inode: UInt64, mode: PlacementMode,
                                 items: [HelperItem]) -> [String] {
        [subcommand, live.mountPoint, live.device, String(pid), String(inode), mode.rawValue] + items.flatMap(\.arguments)
    }

    /// Parses the helper's output (`HelperReport` lines) into a result per
    /// mount ID, and the namespace-level failure's sentence when there is one.
    package static func parse(_ output: String) -> (results: [Int: HelperResult], namespace: String?) {
        let (results, problem) = HelperReport.parse(output)
        return (results, problem?.sentence)
    }

    /// The helper's body (argv after the subcommand); returns its exit status.
    public static func main(_ args: [String]) -> Int32 {
        guard args.count >= 5, (args.count - 5) % 4 == 0, let pid = Int32(args[2]), let inode = UInt64(args[3]),
              let mode = PlacementMode(rawValue: args[4])
        else {
            say(.namespace(.failed("bad helper arguments")))
            return 2
        }
        let liveMountPoint = args[0], liveDevice = args[1]
        var items: [HelperItem] = []
        var i = 5
        while i + 3 < args.count {
            guard let id = Int(args[i]) else { break }
            items.append(HelperItem(id: id, mountPoint: args[i + 1], root: args[i + 2],
                                    options: args[i + 3].split(separator: ",").map(String.init)))
            i += 4
        }
        // Everything of the target is opened before entering it; the
        // descriptors hold the namespace and the root even if the process exits now.
        let nsFD: FileDescriptor
        do throws(Errno) {
            nsFD = FileDescriptor(rawValue: try systemCall { open("/proc/\(pid)/ns/mnt", O_RDONLY | O_CLOEXEC) })
        } catch {
            say(.namespace(.gone("process \(pid) exited (\(errnoText(error.rawValue)))")))
            return namespaceGone
        }
        var st = stat()
        guard fstat(nsFD.rawValue, &st) == 0, UInt64(st.st_ino) == inode else {
            say(.namespace(.gone("process \(pid) is no longer in mnt:[\(inode)]")))
            return namespaceGone
        }
        let rootFD: FileDescriptor
        let mountinfoFD: FileDescriptor
        do throws(Errno) {
            rootFD = FileDescriptor(rawValue: try systemCall {
                open("/proc/\(pid)/root", CLINUX_O_PATH | O_DIRECTORY | O_CLOEXEC)
            })
            mountinfoFD = FileDescriptor(rawValue: try systemCall { open("/proc/\(pid)/mountinfo", O_RDONLY | O_CLOEXEC) })
        } catch {
            say(.namespace(.gone("process \(pid) exited (\(errnoText(error.rawValue)))")))
            return namespaceGone
        }
        var clones: [Int: FileDescriptor] = [:]
        for item in items {
            let source = item.root == "/" ? liveMountPoint : liveMountPoint + item.root
            let fd: FileDescriptor
            do throws(Errno) {
                fd = FileDescriptor(rawValue: try systemCall {
                    clinux_open_tree(AT_FDCWD, source, CLINUX_OPEN_TREE_CLONE | CLINUX_OPEN_TREE_CLOEXEC | CLINUX_AT_RECURSIVE)
                })
            } catch {
                say(.item(id: item.id, .failed("cannot clone \(source): \(errnoText(error.rawValue))")))
                continue
            }
            if let problem = setFlags(of: fd, like: item.options) {
                say(.item(id: item.id, .failed(problem)))
                try? fd.close()
                continue
            }
            clones[item.id] = fd
        }
        guard clinux_setns(nsFD.rawValue, CLINUX_CLONE_NEWNS) == 0 else {
            say(.namespace(.failed("cannot enter mnt:[\(inode)]: \(errnoText(errno))")))
            return 4
        }
        guard fchdir(rootFD.rawValue) == 0, chroot(".") == 0, chdir("/") == 0 else {
            say(.namespace(.failed("cannot enter the root of process \(pid): \(errnoText(errno))")))
            return 4
        }
        for item in items {
            guard let clone = clones[item.id] else { continue }
            say(.item(id: item.id, place(clone, item: item, mode: mode, liveDevice: liveDevice, mountinfo: mountinfoFD)))
        }
        return 0
    }

    /// Puts `clone` in place of the stale mount `item` in the current namespace.
    static func place(_ clone: FileDescriptor, item: HelperItem, mode: PlacementMode, liveDevice: String,
                      mountinfo: FileDescriptor) -> HelperResult {
        let table = currentTable(mountinfo)
        guard let stale = table.first(where: { $0.id == item.id }) else {
            if MountTable.topmost(at: item.mountPoint, in: table)?.device == liveDevice {
                return .alreadyLive
            }
            return .gone
        }
        if MountTable.isCovered(stale, in: table) { return .failed("another mount now covers it") }
        let path = item.mountPoint
        var how = mode.rawValue
        var placed = false
        if mode == .beneath {
            if clinux_move_mount(clone.rawValue, "", AT_FDCWD, path, CLINUX_MOVE_MOUNT_F_EMPTY_PATH | CLINUX_MOVE_MOUNT_BENEATH) == 0 {
                do {
                    try Unmount.detach(path)
                } catch {
                    return .failed("the clone is beneath, but the stale mount does not detach: \(errnoText(error.rawValue))")
                }
                placed = true
            } else if errno == EINVAL {
                how = "detach-first (beneath: \(errnoText(EINVAL)))"
            } else {
                return .failed("cannot mount beneath \(path): \(errnoText(errno))")
            }
        }
        if !placed {
            do {
                try Unmount.detach(path)
            } catch {
                return .failed("cannot detach the stale mount at \(path): \(errnoText(error.rawValue))")
            }
            guard clinux_move_mount(clone.rawValue, "", AT_FDCWD, path, CLINUX_MOVE_MOUNT_F_EMPTY_PATH) == 0 else {
                return .failed("detached the stale mount, but cannot mount the clone at \(path): \(errnoText(errno))")
            }
        }
        let after = MountTable.topmost(at: path, in: currentTable(mountinfo))
        guard after?.device == liveDevice else {
            return .failed("after the move the top mount at \(path) is \(after.map { "\($0.fsType) \($0.device)" } ?? "none")")
        }
        return .replaced(how)
    }

    /// Gives a detached clone the stale mount's `ro`, `nosuid`, `nodev`,
    /// `noexec` and atime flags, and private propagation.
    /// - Returns: a sentence when a flag that matters (read-only) cannot be set.
    static func setFlags(of fd: FileDescriptor, like options: [String]) -> String? {
        let flags: [(String, UInt64)] = [("ro", UInt64(CLINUX_MOUNT_ATTR_RDONLY)), ("nosuid", UInt64(CLINUX_MOUNT_ATTR_NOSUID)),
                                         ("nodev", UInt64(CLINUX_MOUNT_ATTR_NODEV)), ("noexec", UInt64(CLINUX_MOUNT_ATTR_NOEXEC)),
                                         ("nodiratime", UInt64(CLINUX_MOUNT_ATTR_NODIRATIME))]
        var set: UInt64 = 0, clear: UInt64 = 0
        for (name, bit) in flags {
            if options.contains(name) { set |= bit } else { clear |= bit }
        }
        clear |= UInt64(CLINUX_MOUNT_ATTR__ATIME)
        if options.contains("noatime") {
            set |= UInt64(CLINUX_MOUNT_ATTR_NOATIME)
        } else if options.contains("strictatime") || !options.contains("relatime") {
            set |= UInt64(CLINUX_MOUNT_ATTR_STRICTATIME)
        }
        let flagsAt = UInt32(CLINUX_AT_EMPTY_PATH | CLINUX_AT_RECURSIVE)
        if clinux_mount_setattr(fd.rawValue, "", flagsAt, set, clear, UInt64(CLINUX_MS_PRIVATE)) == 0 { return nil }
        let first = errno
        // Without the propagation change (a kernel that refuses it on a detached mount).
        if clinux_mount_setattr(fd.rawValue, "", flagsAt, set, clear, 0) == 0 { return nil }
        if options.contains("ro") {
            return "cannot make the clone read-only like the stale mount: \(errnoText(first))"
        }
        return nil
    }

    static func currentTable(_ fd: FileDescriptor) -> [MountInfo.Entry] {
        guard lseek(fd.rawValue, 0, SEEK_SET) == 0, let text = readAll(fd.rawValue) else { return [] }
        return MountInfo.entries(text)
    }

    /// Writes one report line to standard output.
    static func say(_ report: HelperReport) {
        let line = report.line
        _ = line.withCString { write(1, $0, strlen($0)) }
    }
}
