import CFuse3
import Logging
import LXCFSCore
import LXCFSMountInfo
import LXCFSSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Errors of mounting and serving.
public enum MountError: Error, CustomStringConvertible {
    /// libfuse rejected the options (the text names them).
    case badOptions(String)
    /// The kernel refused the mount at the path.
    case mountFailed(String)
    /// The kernel's FUSE_INIT could not be answered.
    case initFailed(String)

    public var description: String {
        switch self {
        case .badOptions(let o): return "libfuse rejected the mount options \(o)."
        case .mountFailed(let p): return "the kernel refused to mount the filesystem at \(p); is /dev/fuse available?"
        case .initFailed(let why): return why
        }
    }
}

/// `path` with its parent directory resolved (realpath(3)) and its last
/// component retained: the mount point itself is never stat'ed, since stat of
/// a FUSE mount's root waits for a server, and the caller may be that
/// server, about to resume.
public func resolvedMountPoint(_ path: String) -> String {
    guard path.hasPrefix("/"), path != "/" else { return path }
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return path }
    let parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    let name = String(trimmed[trimmed.index(after: slash)...])
    guard let r = realpath(parent, nil) else { return String(trimmed) }
    defer { free(r) }
    let base = String(cString: r)
    return (base == "/" ? "" : base) + "/" + name
}

extension MountInfo {
    /// The mount at `path` (realpath'd) that `/proc/self/mountinfo` lists
    /// last, the one on top, or `nil` when none is listed there. Reads only
    /// mountinfo, so it never waits on a FUSE server that does not answer.
    public static func top(at path: String) -> MountInfo.Entry? {
        let target = resolvedMountPoint(path)
        guard let bytes = HostRoot().read("/proc/self/mountinfo", sizeHint: 16384) else { return nil }
        return entries(bytes[...]).last { $0.mountPoint == target }
    }
}

/// Mounting and unmounting. libfuse parses the options and mounts
/// (`fuse_session_mount`, with fusermount3 when not root); the request loop
/// is `FUSEConnection`'s.
public struct FUSEMount: Sendable {
    /// The mount point (an existing directory).
    public let mountPoint: String
    /// Mount options passed to libfuse's `-o`, comma-separated: the
    /// defaults (`allow_other`, fsname `swift-lxcfs`, subtype `lxcfs`, so
    /// the type is `fuse.lxcfs`) and the user's.
    public let options: [String]

    /// - Parameters:
    ///   - mountPoint: the directory to mount on.
    ///   - extraOptions: user-supplied `-o` options, appended to the defaults.
    public init(mountPoint: String, extraOptions: [String] = []) {
        self.mountPoint = mountPoint
        self.options = ["allow_other", "fsname=swift-lxcfs", "subtype=lxcfs"] + extraOptions
    }

    /// Mounts and answers the kernel's FUSE_INIT.
    /// - Returns: the `/dev/fuse` descriptor (close-on-exec, blocking) and
    ///   what INIT agreed.
    /// - Throws: `MountError` when libfuse rejects the options, the mount
    ///   fails, or INIT cannot be answered (the mount is then undone).
    public func mount() throws -> (fd: Int32, parameters: FUSEInitParameters) {
        let argv = ["swift-lxcfs", "-o", options.joined(separator: ",")]
        var cArgs = argv.map { strdup($0) }
        defer { cArgs.forEach { free($0) } }
        let fd: Int32 = try cArgs.withUnsafeMutableBufferPointer { buf in
            var args = fuse_args(argc: Int32(buf.count), argv: buf.baseAddress, allocated: 0)
            var mounted: Int32 = 0
            guard let session = cfuse3_mount_session(&args, mountPoint, &mounted) else {
                throw MountError.badOptions(options.joined(separator: ","))
            }
            defer { fuse_session_destroy(session) }
            guard mounted == 1 else { throw MountError.mountFailed(mountPoint) }
            // The session closes its descriptor when destroyed; keep a copy.
            let fd = fcntl(fuse_session_fd(session), F_DUPFD_CLOEXEC, 3)
            guard fd >= 0 else {
                Self.unmount(mountPoint)
                throw MountError.mountFailed(mountPoint)
            }
            return fd
        }
        do {
            return (fd, try FUSEConnection.negotiateInit(fd: fd))
        } catch {
            close(fd)
            Self.unmount(mountPoint)
            throw MountError.initFailed("\(error)")
        }
    }

    /// Detaches the topmost mount at `mountPoint` (`umount2(MNT_DETACH)`,
    /// or `fusermount3 -u -z` when that is refused).
    public static func unmount(_ mountPoint: String) {
        Unmount.detachFUSE(mountPoint)
    }
}
