import CFuse3
import Logging
import LXCFSCore
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

    public var description: String {
        switch self {
        case .badOptions(let o): return "libfuse rejected the mount options \(o)."
        case .mountFailed(let p): return "the kernel refused to mount the filesystem at \(p); is /dev/fuse available?"
        }
    }
}

/// Mounts a `ContainerFilesystem` and serves FUSE requests until SIGTERM,
/// SIGINT or SIGHUP, then unmounts.
public struct FUSEMount {
    /// The mount point (an existing, empty directory).
    public let mountPoint: String
    /// Mount options passed to libfuse's `-o`, comma-separated.
    public let options: [String]
    /// Worker threads kept idle between bursts of requests.
    public let maxIdleThreads: UInt32
    /// Whether each worker thread reads requests from its own clone of
    /// `/dev/fuse` (libfuse's `clone_fd`), so that concurrent readers do not
    /// queue on one descriptor.
    public let cloneFD: Bool

    /// - Parameters:
    ///   - mountPoint: the directory to mount on.
    ///   - extraOptions: user-supplied `-o` options, appended to the defaults.
    public init(mountPoint: String, extraOptions: [String] = [], maxIdleThreads: UInt32 = 16, cloneFD: Bool = true) {
        self.mountPoint = mountPoint
        self.options = ["allow_other", "fsname=swift-lxcfs", "subtype=lxcfs"] + extraOptions
        self.maxIdleThreads = maxIdleThreads
        self.cloneFD = cloneFD
    }

    /// Mounts, calls `ready` once the mount is in place, serves requests
    /// until a termination signal, then unmounts.
    /// - Throws: `MountError` when libfuse rejects the options or the mount fails.
    /// - Returns: libfuse's loop result (0 after a clean signal-driven exit).
    public func run(filesystem: ContainerFilesystem, logger: Logger, ready: () -> Void = {}) throws -> Int32 {
        // Before any worker thread: with an arena per worker thread the
        // daemon's anonymous memory crept up by some 20 KiB per 100,000
        // reads on this 2-CPU machine (docs/performance.md). Allocations up
        // to 1 KiB come from glibc's per-thread cache without the arena's
        // lock; the larger ones (file buffers, rendered files) take it for
        // the allocation only. On 2 CPUs malloc stays under 1 % of the
        // daemon's profile; not measured on a many-core host.
        _ = cfuse3_single_malloc_arena()
        var ops = ContainerFilesystem.operations()
        let argv = ["swift-lxcfs", "-o", options.joined(separator: ",")]
        var cArgs = argv.map { strdup($0) }
        defer { cArgs.forEach { free($0) } }
        var args = fuse_args(argc: Int32(cArgs.count), argv: nil, allocated: 0)
        let context = Unmanaged.passRetained(filesystem)
        defer { context.release() }
        return try cArgs.withUnsafeMutableBufferPointer { buf -> Int32 in
            args.argv = buf.baseAddress
            guard let fuse = cfuse3_new(&args, &ops, context.toOpaque()) else {
                throw MountError.badOptions(options.joined(separator: ","))
            }
            defer { fuse_destroy(fuse) }
            guard fuse_mount(fuse, mountPoint) == 0 else { throw MountError.mountFailed(mountPoint) }
            defer { fuse_unmount(fuse) }
            let session = fuse_get_session(fuse)
            _ = fuse_set_signal_handlers(session)
            defer { fuse_remove_signal_handlers(session) }
            logger.info("serving", metadata: ["mountpoint": "\(mountPoint)", "options": "\(options.joined(separator: ","))"])
            ready()
            let result = cfuse3_loop_mt(fuse, cloneFD ? 1 : 0, maxIdleThreads)
            logger.info("unmounting", metadata: ["mountpoint": "\(mountPoint)"])
            return result
        }
    }
}
