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
/// and no path normalisation on the hot path. On the real host, each worker
/// thread keeps the host-wide kernel files, the cgroup files and the
/// readers' `/proc/PID/cgroup` open and re-reads them with `pread(2)` at
/// offset 0 (`ThreadKeptFiles`). Every reader returns `nil` instead of
/// throwing, because a missing or vanished file (an exited process, a
/// deleted cgroup) is an ordinary event that callers answer with host values.
public struct HostRoot: Sendable, Hashable {
    /// The root folder without a trailing slash; empty for `/`.
    public let prefix: String
    /// The host-wide and cgroup files each worker thread keeps open; `nil`
    /// under a fixture root, whose files a test may replace between reads.
    let threadFiles: ThreadKeptFiles?

    /// - Parameter path: the root folder, `/` for the real host.
    public init(_ path: String = "/") {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        prefix = (p == "/" || p.isEmpty) ? "" : p
        threadFiles = prefix.isEmpty ? ThreadKeptFiles() : nil
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
        if let threadFiles {
            if let kept = threadFiles.readHost(path, sizeHint: sizeHint) { return kept }
            if path.utf8.starts(with: "/sys/fs/cgroup/".utf8) { return threadFiles.read(path, sizeHint: sizeHint) }
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

    /// A process's `/proc/PID/cgroup`, through a kept descriptor on the
    /// real host (see `ThreadKeptFiles.readProcessCgroup`).
    /// - Returns: the file's bytes, or `nil` when the process is gone.
    public func readProcessCgroup(_ pid: Int32) -> [UInt8]? {
        if let threadFiles { return threadFiles.readProcessCgroup(pid) }
        return read("/proc/\(pid)/cgroup", sizeHint: 1024)
    }

    /// Whether a v1 cgroup file name was recently found absent in `scope`
    /// (its hierarchy, as the caller names it); always false under a fixture root.
    func isAbsent(_ scope: String, _ name: String) -> Bool {
        threadFiles?.isAbsent(AbsentName(scope: scope, name: name)) ?? false
    }

    /// Remembers, on the real host, that a v1 cgroup file name is absent in `scope`.
    func learnAbsent(_ scope: String, _ name: String) {
        threadFiles?.learnAbsent(AbsentName(scope: scope, name: name))
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
/// sets `failed` when a read fails (other than EINTR). A short read is not
/// the end: a kernel `seq_file` printed record by record gives at most one
/// page (or its largest record) per call.
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

/// A v1 cgroup file name in a hierarchy (`scope`), as remembered absent.
struct AbsentName: Hashable {
    let scope: String
    let name: String
}

/// The files each worker thread keeps open, and what it remembers of them.
/// The descriptors are the calling thread's own, reached through a pthread
/// key without a lock: none is shared between threads (the kernel
/// serialises `pread`s of one `seq_file` descriptor on its mutex).
///
/// - **Host-wide kernel files** (`hostPaths`: procfs and sysfs `seq_file`s)
///   stay open for the thread's life and are re-read with `pread(2)` at
///   offset 0 (one call; to the end for `recordPaths`), which makes the
///   kernel generate the file again on every read: no open, close or path
///   walk, and never bytes older than the read.
/// - **Cgroup files** (under `/sys/fs/cgroup/`) are kept open after the
///   first read and re-read with one `pread` at offset 0. A `pread` that
///   fails (the kernel answers ENODEV once the cgroup is removed, even if
///   one of the same name is made again) or fills its buffer closes the
///   descriptor and the file is read the ordinary way. Each thread keeps at
///   most `perThread` of them (256, fewer when the open-file limit is low)
///   and closes them all when that is reached. All the descriptors of all
///   threads (host, cgroup and `/proc/PID/cgroup` files) stay within half
///   the open-file limit (`allThreads`).
/// - **`/proc/PID/cgroup`** of processes that read again (`readProcessCgroup`).
/// - **Absent v1 file names** (`isAbsent`, `learnAbsent`) are remembered for
///   `absentLifetime` (10 s).
///
/// A `pread` that fills its whole buffer might have been cut short, so it is
/// not used: the file is read the ordinary way and the buffer for the next
/// time is doubled. A thread's descriptors are closed when the thread ends.
final class ThreadKeptFiles: @unchecked Sendable {
    /// The host-wide files kept open.
    static let hostPaths: Set<String> = [
        "/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/proc/uptime", "/proc/loadavg",
        "/proc/swaps", "/proc/diskstats", "/sys/devices/system/cpu/online",
    ]

    /// The host-wide files the kernel prints record by record: read to
    /// the end (see `pread0`).
    static let recordPaths: Set<String> = ["/proc/cpuinfo", "/proc/diskstats", "/proc/swaps"]

    /// Cgroup files the kernel prints record by record (see `pread0`): read
    /// the ordinary way, never kept, as they are read seldom (the loadavg
    /// sampler's task lists, slabinfo).
    static let recordCgroupFiles: [String] = ["tasks", "cgroup.procs", "cgroup.threads", "memory.kmem.slabinfo"]

    /// Whether `path`'s last component is one of `recordCgroupFiles`
    /// (compared as UTF-8 bytes from the end, with no allocation).
    static func isRecordCgroupFile(_ path: String) -> Bool {
        let u = path.utf8
        return recordCgroupFiles.contains { name in
            let n = name.utf8
            return u.count > n.count && u.reversed().starts(with: n.reversed())
                && u.dropLast(n.count).last == UInt8(ascii: "/")
        }
    }

    /// How long an absent file name is believed, in nanoseconds.
    static let absentLifetime: UInt64 = 10_000_000_000

    /// A kept host-wide file of one thread.
    struct HostFile {
        /// The descriptor; -1 after a failed `pread` or when none could be
        /// kept (the file is then read the ordinary way), -2 before the first open.
        var fd: Int32
        /// The buffer size, in bytes, to `pread` it with.
        var capacity: Int
    }

    /// Descriptors one thread keeps, by key: at most `limit`, all closed
    /// when that is reached; each counted in the owner's `total`.
    struct KeptDescriptors<Key: Hashable> {
        var fds: [Key: Int32] = [:]
        let limit: Int

        /// The file's bytes through the kept descriptor for `key`, re-read
        /// with one `pread` at offset 0; else opened with `open` and read
        /// to the end, and kept when one `pread` of `capacity` bytes will
        /// give the whole file next time. A `pread` that fails or fills its
        /// buffer closes the descriptor.
        /// - Returns: the bytes, or `nil` when the file cannot be opened or read.
        mutating func read(_ key: Key, capacity: Int, owner: ThreadKeptFiles, open: () -> Int32) -> [UInt8]? {
            if let fd = fds[key] {
                let (bytes, n) = ThreadKeptFiles.pread0(fd, capacity)
                if n >= 0, n < capacity { return bytes }
                fds[key] = nil
                close(fd)
                owner.total.subtract(1, ordering: .relaxed)
            }
            let fd = open()
            guard fd >= 0 else { return nil }
            let bytes = HostRoot.readAll(fd, sizeHint: capacity)
            if limit > 0, let bytes, bytes.count < capacity {
                if fds.count >= limit { closeAll(owner) }
                if owner.total.add(1, ordering: .relaxed).newValue <= owner.allThreads {
                    fds[key] = fd
                    return bytes
                }
                owner.total.subtract(1, ordering: .relaxed)
            }
            close(fd)
            return bytes
        }

        mutating func closeAll(_ owner: ThreadKeptFiles) {
            for fd in fds.values { close(fd) }
            owner.total.subtract(fds.count, ordering: .relaxed)
            fds.removeAll(keepingCapacity: true)
        }
    }

    /// One thread's files.
    final class Files {
        let owner: ThreadKeptFiles
        /// Kept cgroup files by path.
        var cgroupFiles: KeptDescriptors<String>
        /// Kept `/proc/PID/cgroup` descriptors by pid.
        var processCgroups: KeptDescriptors<Int32>
        /// Kept host-wide files by path.
        var host: [String: HostFile] = [:]
        /// Absent v1 file names and when their absence was seen (CLOCK_MONOTONIC ns).
        var absent: [AbsentName: UInt64] = [:]
        init(owner: ThreadKeptFiles) {
            self.owner = owner
            cgroupFiles = KeptDescriptors(limit: owner.perThread)
            processCgroups = KeptDescriptors(limit: owner.processesPerThread)
        }
        deinit {
            cgroupFiles.closeAll(owner)
            processCgroups.closeAll(owner)
            for f in host.values where f.fd >= 0 {
                close(f.fd)
                owner.total.subtract(1, ordering: .relaxed)
            }
        }
    }

    private let key: pthread_key_t
    /// False when `pthread_key_create` failed: nothing is kept then.
    private let keyCreated: Bool
    /// The most cgroup descriptors one thread keeps.
    let perThread: Int
    /// The most cgroup descriptors all threads together keep: half the
    /// open-file limit, whatever number of threads libfuse starts.
    let allThreads: Int
    /// Cgroup and `/proc/PID/cgroup` descriptors kept now, over all threads.
    let total = Atomic<Int>(0)
    init() {
        var k = pthread_key_t()
        keyCreated = pthread_key_create(&k) { files in
            if let files { Unmanaged<Files>.fromOpaque(files).release() }
        } == 0
        key = k
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let soft = limit.rlim_cur == rlim_t.max ? 1 << 20 : Int(clamping: limit.rlim_cur)
        // Leave room for the daemon's own files and up to 64 worker threads
        // (each also keeps up to 8 host files).
        perThread = max(0, min(256, (soft - 768) / 64))
        processesPerThread = min(64, perThread / 4)
        allThreads = soft / 2
    }

    static func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// This thread's files, made on first use; `nil` when the open-file
    /// limit leaves no room to keep any.
    private func files() -> Files? {
        guard perThread > 0, keyCreated else { return nil }
        if let raw = pthread_getspecific(key) { return Unmanaged<Files>.fromOpaque(raw).takeUnretainedValue() }
        let files = Files(owner: self)
        pthread_setspecific(key, Unmanaged.passRetained(files).toOpaque())
        return files
    }

    /// One `pread` at offset 0 into a new array of `capacity` bytes; with
    /// `toEnd`, more `pread`s at the following offsets until one returns 0.
    ///
    /// One `pread` gives the whole of a `seq_file` whose text is printed
    /// in one go (`single_open`: `/proc/meminfo`, `/proc/stat`,
    /// `/proc/PID/cgroup`, a cgroup's `memory.stat` or limit), but a file
    /// printed record by record (`/proc/cpuinfo` one CPU at a time,
    /// `/proc/diskstats`, `/proc/swaps`, a cgroup's `tasks`) gives at most
    /// one buffer of the kernel's (a page, or the largest record) per call:
    /// those need `toEnd`. The descriptor is this thread's own, so the
    /// `seq_file` continues from where the last call stopped.
    /// - Returns: the bytes and the count read (-1 when a `pread` failed;
    ///   `capacity` when the buffer filled, so the file may go on).
    static func pread0(_ fd: Int32, _ capacity: Int, toEnd: Bool = false) -> ([UInt8], Int) {
        var total = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { raw, count in
            while total < capacity {
                var n = 0
                repeat {
                    n = pread(fd, raw.baseAddress! + total, capacity - total, off_t(total))
                } while n < 0 && errno == EINTR
                if n < 0 { total = -1; break }
                total += n
                if n == 0 || !toEnd { break }
            }
            count = max(total, 0)
        }
        return (bytes, total)
    }

    /// Reads a host-wide kernel file through this thread's kept descriptor.
    /// - Returns: its bytes; `nil` when `path` is not in `hostPaths` (the
    ///   caller reads it the ordinary way) or cannot be read.
    func readHost(_ path: String, sizeHint: Int) -> [UInt8]?? {
        guard path.utf8.count < 40, Self.hostPaths.contains(path), let files = files() else { return .none }
        if files.host[path]?.fd ?? -2 == -2 {
            // Counted with the cgroup descriptors, within half the open-file limit.
            var fd: Int32 = -1
            if total.add(1, ordering: .relaxed).newValue <= allThreads {
                fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            }
            if fd < 0 { total.subtract(1, ordering: .relaxed) }
            let capacity = max(files.host[path]?.capacity ?? 0, sizeHint, 256)
            files.host[path, default: HostFile(fd: fd, capacity: capacity)].fd = fd
            files.host[path]!.capacity = capacity
        }
        let f = files.host[path]!
        var result: [UInt8]?
        if f.fd >= 0 {
            let (bytes, n) = Self.pread0(f.fd, f.capacity, toEnd: Self.recordPaths.contains(path))
            if n >= 0, n < f.capacity {
                result = bytes
                // Next time, a buffer of twice the size (a power of two) is
                // enough: the first size hint is made for large hosts.
                let fit = max(256, 1 << (Int.bitWidth - (2 * n).leadingZeroBitCount))
                if fit < f.capacity { files.host[path]!.capacity = fit }
            } else if n < 0 {
                close(f.fd)
                total.subtract(1, ordering: .relaxed)
                files.host[path]!.fd = -1
            } else {
                files.host[path]!.capacity *= 2
            }
        }
        if result == nil {
            let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC) }
            guard fd >= 0 else { return .some(nil) }
            result = HostRoot.readAll(fd, sizeHint: f.capacity)
            close(fd)
        }
        return .some(result)
    }

    /// Reads a whole cgroup file, through this thread's kept descriptor.
    /// - Returns: its bytes, or `nil` when it cannot be opened or read.
    func read(_ path: String, sizeHint: Int) -> [UInt8]? {
        let opener = { path.withCString { open($0, O_RDONLY | O_CLOEXEC) } }
        guard let files = files(), !Self.isRecordCgroupFile(path) else {
            return Self.readOnce(opener, sizeHint: sizeHint)
        }
        return files.cgroupFiles.read(path, capacity: max(sizeHint, 64), owner: self, open: opener)
    }

    /// Opens with `open`, reads to the end and closes.
    static func readOnce(_ open: () -> Int32, sizeHint: Int) -> [UInt8]? {
        let fd = open()
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return HostRoot.readAll(fd, sizeHint: sizeHint)
    }

    /// The most `/proc/PID/cgroup` descriptors one thread keeps: 64, fewer
    /// when the open-file limit is low.
    let processesPerThread: Int
    /// The buffer, in bytes, a kept `/proc/PID/cgroup` is read with (a
    /// longer file is read the ordinary way each time).
    static let processCgroupCapacity = 8192

    /// Reads `/proc/PID/cgroup` through this thread's kept descriptor for
    /// `pid`. Each `pread` makes the kernel print the process's cgroups
    /// afresh, so a process moved to another cgroup shows at once. The
    /// descriptor holds the process itself, not its number: once it has
    /// exited the kernel answers ESRCH (never another process's cgroups,
    /// even after the number is reused), and the file is opened again by
    /// path. Spares the open and close (and the path walk through /proc)
    /// for a process that reads again, such as `top`. At most
    /// `processesPerThread` are kept; all are closed when that is reached.
    /// - Returns: the file's bytes, or `nil` when it cannot be read (the
    ///   process is gone).
    func readProcessCgroup(_ pid: Int32) -> [UInt8]? {
        let opener = { "/proc/\(pid)/cgroup".withCString { open($0, O_RDONLY | O_CLOEXEC) } }
        guard let files = files() else { return Self.readOnce(opener, sizeHint: Self.processCgroupCapacity) }
        return files.processCgroups.read(pid, capacity: Self.processCgroupCapacity, owner: self, open: opener)
    }

    /// True when this thread saw `name` absent less than `absentLifetime` ago.
    func isAbsent(_ name: AbsentName) -> Bool {
        guard let files = files(), let when = files.absent[name] else { return false }
        return Self.monotonicNow() &- when < Self.absentLifetime
    }

    /// Records that `name` is absent now.
    func learnAbsent(_ name: AbsentName) {
        files()?.absent[name] = Self.monotonicNow()
    }
}
