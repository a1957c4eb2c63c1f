import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The folder every host file is read under: `/` on a real host, a fixture
/// folder in tests and in `swift-lxcfs render --root`.
///
/// Reads go straight to `open(2)`/`read(2)` into one buffer: no Foundation
/// and no path normalisation on the hot path. On the real host, the
/// host-wide kernel files (`KeptOpenFiles.paths`) stay open and are re-read
/// with one `pread(2)` at offset 0. Every reader returns `nil` instead of
/// throwing, because a missing or vanished file (an exited process, a
/// deleted cgroup) is an ordinary event that callers answer with host values.
public struct HostRoot: Sendable, Hashable {
    /// The root folder without a trailing slash; empty for `/`.
    public let prefix: String
    /// The kept-open host files; `nil` under a fixture root, whose files a
    /// test may replace between reads.
    let kept: KeptOpenFiles?
    /// The cgroup files each worker thread keeps open; `nil` under a fixture root.
    let cgroupFiles: ThreadKeptFiles?
    /// v1 cgroup file names this kernel does not create; `nil` under a
    /// fixture root, where a test may add files between reads.
    let absentNames: AbsentFileNames?

    /// - Parameter path: the root folder, `/` for the real host.
    public init(_ path: String = "/") {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        prefix = (p == "/" || p.isEmpty) ? "" : p
        kept = prefix.isEmpty ? KeptOpenFiles() : nil
        cgroupFiles = prefix.isEmpty ? ThreadKeptFiles() : nil
        absentNames = prefix.isEmpty ? AbsentFileNames() : nil
    }

    public static func == (a: HostRoot, b: HostRoot) -> Bool { a.prefix == b.prefix }
    public func hash(into hasher: inout Hasher) { hasher.combine(prefix) }

    /// True when this root is the real host's `/`.
    public var isHost: Bool { prefix.isEmpty }

    /// The path of a host path under this root.
    /// - Parameter path: an absolute host path, such as `/proc/meminfo`.
    public func resolve(_ path: String) -> String { prefix + path }

    /// Reads a whole file.
    ///
    /// - Parameters:
    ///   - path: an absolute host path, resolved under this root.
    ///   - sizeHint: the first buffer size in bytes; the buffer grows as needed.
    /// - Returns: the file's bytes, or `nil` when it cannot be opened or read.
    public func read(_ path: String, sizeHint: Int = 4096) -> [UInt8]? {
        if let kept, let bytes = kept.read(path, sizeHint: sizeHint) { return bytes }
        if let cgroupFiles, path.utf8.starts(with: "/sys/fs/cgroup/".utf8) {
            return cgroupFiles.read(path, sizeHint: sizeHint)
        }
        let fd: Int32 = prefix.isEmpty
            ? path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            : resolve(path).withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return Self.readAll(fd, sizeHint: sizeHint)
    }

    /// Reads an open descriptor to EOF into an array that starts at
    /// `sizeHint` bytes (uninitialised, so the common case costs one
    /// allocation) and doubles while it fills up.
    /// - Returns: the bytes, or `nil` when a read fails.
    static func readAll(_ fd: Int32, sizeHint: Int) -> [UInt8]? {
        let first = max(sizeHint, 64)
        var failed = false
        var buffer = [UInt8](unsafeUninitializedCapacity: first) { raw, count in
            count = fill(fd, raw.baseAddress!, raw.count, &failed)
        }
        if failed { return nil }
        guard buffer.count == first else { return buffer }
        var filled = first
        repeat {
            buffer.append(contentsOf: repeatElement(0, count: buffer.count))
            let n = buffer.withUnsafeMutableBytes { raw in
                fill(fd, raw.baseAddress! + filled, raw.count - filled, &failed)
            }
            if failed { return nil }
            filled += n
        } while filled == buffer.count
        buffer.removeSubrange(filled...)
        return buffer
    }

    /// Reads a file that holds one integer, such as `memory.limit_in_bytes`.
    /// - Returns: the first whitespace-separated word as an integer, or `nil`
    ///   when the file is missing or the word is not a decimal integer (`max`).
    public func readInteger(_ path: String) -> Int64? {
        guard let bytes = read(path, sizeHint: 64) else { return nil }
        return ByteParser.firstInteger(bytes[...])
    }

    /// The target text of a symbolic link, such as `pid:[4026531836]` for
    /// `/proc/PID/ns/pid`. Where the path is a plain file (fixture roots keep
    /// link targets as file contents), its first line.
    /// - Returns: the text, or `nil` when the path does not exist.
    public func readLink(_ path: String) -> String? {
        let full = resolve(path)
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(full, &buf, buf.count - 1)
        if n > 0 {
            return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard errno == EINVAL, let bytes = read(path, sizeHint: 64) else { return nil }
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }
}

/// Reads from `fd` until `capacity` bytes are in or `read(2)` returns 0;
/// sets `failed` when a read fails (other than EINTR).
/// - Returns: the bytes read.
private func fill(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ capacity: Int, _ failed: inout Bool) -> Int {
    var count = 0
    while count < capacity {
        let n = read(fd, base + count, capacity - count)
        if n > 0 {
            count += n
        } else if n == 0 {
            break
        } else if errno != EINTR {
            failed = true
            break
        }
    }
    return count
}

/// Host-wide kernel files (procfs and sysfs `seq_file`s) held open for the
/// life of the daemon and re-read with one `pread(2)` at offset 0, which
/// makes the kernel generate the file afresh: one system call instead of
/// open, read, read and close, and no path walk.
///
/// A `pread` that fills its whole buffer might have been cut short, so it is
/// not used: the caller falls back to a normal read and the buffer for the
/// next time is doubled. One `pread` is atomic against other threads on the
/// same descriptor (the kernel holds the `seq_file` lock for its duration).
///
/// The files in `sharedPaths` are read at most once per `sharedLifetime`
/// (one clock tick, 10 ms, by default): reads within that time get the same bytes.
/// These are the host's own figures, the same for every reader, that a
/// render only copies or uses as the fallback (host memory, CPU lines,
/// cpuinfo, disks, swap devices, online CPUs); the kernel prints their
/// times in ticks and nothing that reads them looks twice within one. It
/// spares the kernel's generation of the file, the most costly part of a
/// render (cpuinfo asks every CPU for its frequency), and the `seq_file`
/// lock that serialises readers of one descriptor. Every per-cgroup file,
/// and `/proc/uptime` and `/proc/loadavg`, is read afresh on each render.
final class KeptOpenFiles: Sendable {
    /// The files kept open: host-wide, never replaced, never per process.
    static let paths: Set<String> = [
        "/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/proc/uptime", "/proc/loadavg",
        "/proc/swaps", "/proc/diskstats", "/sys/devices/system/cpu/online",
    ]

    /// The kept files whose bytes are shared between reads for up to `sharedLifetime`.
    static let sharedPaths: Set<String> = [
        "/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/proc/swaps", "/proc/diskstats",
        "/sys/devices/system/cpu/online",
    ]

    /// How long the bytes of a `sharedPaths` file are reused, in
    /// nanoseconds of CLOCK_MONOTONIC: one clock tick (USER_HZ 100).
    let sharedLifetime: UInt64

    /// - Parameter sharedLifetime: nanoseconds the bytes of a `sharedPaths`
    ///   file are reused; 0 reads every time.
    init(sharedLifetime: UInt64 = 10_000_000) {
        self.sharedLifetime = sharedLifetime
    }

    /// A kept descriptor and the buffer size, in bytes, to read it with.
    /// A descriptor whose `pread` failed is never used again but stays open,
    /// so that no other thread's `pread` can land on a reused number.
    struct Entry {
        var fd: Int32
        var capacity: Int
        var failed = false
        /// The last bytes read, for a `sharedPaths` file.
        var shared: [UInt8]?
        /// When `shared` was read, in nanoseconds of CLOCK_MONOTONIC.
        var sharedAt: UInt64 = 0
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    private let table = Mutex<[String: Entry]>([:])

    deinit {
        table.withLock { t in
            for e in t.values { close(e.fd) }
        }
    }

    /// The file's current contents, or `nil` when `path` is not kept open or
    /// the kept descriptor cannot give the whole file in one `pread` (the
    /// caller then reads it the ordinary way).
    func read(_ path: String, sizeHint: Int) -> [UInt8]? {
        guard path.utf8.count < 40, Self.paths.contains(path) else { return nil }
        let isShared = Self.sharedPaths.contains(path)
        let now = isShared ? Self.monotonicNow() : 0
        var fresh: [UInt8]?
        let found: Entry? = table.withLock { t in
            if let e = t[path] {
                if isShared, let bytes = e.shared, now &- e.sharedAt < sharedLifetime { fresh = bytes }
                return e
            }
            let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else { return nil }
            let e = Entry(fd: fd, capacity: max(sizeHint, 256))
            t[path] = e
            return e
        }
        if let fresh { return fresh }
        guard let entry = found, !entry.failed else { return nil }
        var n = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: entry.capacity) { raw, count in
            repeat {
                n = pread(entry.fd, raw.baseAddress!, raw.count, 0)
            } while n < 0 && errno == EINTR
            count = max(n, 0)
        }
        if n >= 0, n < entry.capacity {
            if isShared {
                // Keep the newest bytes when threads race to refresh.
                table.withLock { t in
                    guard var e = t[path], e.fd == entry.fd, now > e.sharedAt else { return }
                    e.shared = bytes
                    e.sharedAt = now
                    t[path] = e
                }
            }
            return bytes
        }
        table.withLock { t in
            guard var e = t[path], e.fd == entry.fd else { return }
            if n < 0 {
                e.failed = true
            } else {
                e.capacity *= 2
                t[path] = e
            }
        }
        return nil
    }
}

/// Cgroup files (under `/sys/fs/cgroup/`) kept open by each thread that
/// reads them, and re-read with one `pread(2)` at offset 0, like
/// `KeptOpenFiles` but per thread, so that a descriptor is closed and
/// replaced without any other thread holding it. A `pread` that fails (the
/// kernel answers ENODEV once the cgroup is removed, even if one of the same
/// name is made again) or fills its buffer closes the descriptor and the
/// file is read the ordinary way.
///
/// Each thread keeps at most `perThread` descriptors (256, fewer when the
/// open-file limit is low) and closes them all when that is reached, and all
/// threads together keep at most half the open-file limit, so the daemon's
/// memory and descriptors stay bounded however many cgroups and threads
/// exist; a thread's descriptors are closed when the thread ends.
final class ThreadKeptFiles: @unchecked Sendable {
    /// One thread's descriptors by path.
    final class Files {
        let owner: ThreadKeptFiles
        var fds: [String: Int32] = [:]
        init(owner: ThreadKeptFiles) { self.owner = owner }
        func closeAll() {
            for fd in fds.values { close(fd) }
            owner.total.subtract(fds.count, ordering: .relaxed)
            fds.removeAll(keepingCapacity: true)
        }
        func remove(_ path: String) {
            if let fd = fds.removeValue(forKey: path) {
                close(fd)
                owner.total.subtract(1, ordering: .relaxed)
            }
        }
        deinit { closeAll() }
    }

    private let key: pthread_key_t
    /// The most descriptors one thread keeps.
    let perThread: Int
    /// The most descriptors all threads together keep: half the open-file
    /// limit, whatever number of threads libfuse starts.
    let allThreads: Int
    /// Descriptors kept now, over all threads.
    let total = Atomic<Int>(0)

    init() {
        var k = pthread_key_t()
        pthread_key_create(&k) { files in
            if let files { Unmanaged<Files>.fromOpaque(files).release() }
        }
        key = k
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let soft = limit.rlim_cur == rlim_t.max ? 1 << 20 : Int(clamping: limit.rlim_cur)
        // Leave room for the daemon's own files and up to 64 worker threads.
        perThread = max(0, min(256, (soft - 256) / 64))
        allThreads = soft / 2
    }

    /// This thread's descriptors, made on first use.
    private func files() -> Files {
        if let raw = pthread_getspecific(key) { return Unmanaged<Files>.fromOpaque(raw).takeUnretainedValue() }
        let files = Files(owner: self)
        pthread_setspecific(key, Unmanaged.passRetained(files).toOpaque())
        return files
    }

    /// Reads a whole cgroup file.
    /// - Returns: its bytes, or `nil` when it cannot be opened or read.
    func read(_ path: String, sizeHint: Int) -> [UInt8]? {
        let capacity = max(sizeHint, 64)
        let files = perThread > 0 ? files() : nil
        if let files, let fd = files.fds[path] {
            var n = 0
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { raw, count in
                repeat {
                    n = pread(fd, raw.baseAddress!, capacity, 0)
                } while n < 0 && errno == EINTR
                count = max(n, 0)
            }
            if n >= 0, n < capacity { return bytes }
            files.remove(path)
        }
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        let bytes = HostRoot.readAll(fd, sizeHint: sizeHint)
        // Keep it when one pread of the same size will give the whole file next time.
        if let files, let bytes, bytes.count < capacity {
            if files.fds.count >= perThread { files.closeAll() }
            if total.add(1, ordering: .relaxed).newValue <= allThreads {
                files.fds[path] = fd
                return bytes
            }
            total.subtract(1, ordering: .relaxed)
        }
        close(fd)
        return bytes
    }
}

/// Names of v1 cgroup files that this kernel does not create in a hierarchy,
/// learned from an open that failed in a cgroup folder that exists, and
/// forgotten after `lifetime` (a scheduler module loaded later brings its
/// files). A v1 controller gives every cgroup of its hierarchy the same
/// files, so a name missing from one cgroup is missing from all: the
/// blkio counters of a scheduler that is not in use (`blkio.io_serviced`
/// without CFQ, `blkio.bfq.io_merged` without `CONFIG_BFQ_CGROUP_DEBUG`)
/// then cost no failed path walk on each `/proc/diskstats` read. Not for
/// v2, where a cgroup's files depend on the controllers its parent enables.
final class AbsentFileNames: Sendable {
    /// How long a name is taken as absent, in nanoseconds.
    static let lifetime: UInt64 = 10_000_000_000
    /// Name (with the hierarchy's folder) to the CLOCK_MONOTONIC time, in
    /// nanoseconds, when its absence was seen.
    private let seen = Mutex<[String: UInt64]>([:])

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// True when `key` was seen absent less than `lifetime` ago.
    func contains(_ key: String) -> Bool {
        guard let when = seen.withLock({ $0[key] }) else { return false }
        return Self.now() &- when < Self.lifetime
    }

    /// Records that `key` is absent now.
    func insert(_ key: String) {
        let now = Self.now()
        seen.withLock { $0[key] = now }
    }
}
