import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's reader: each worker thread caches descriptors of the files
/// it reads and reads them again with `pread(2)` at offset 0, which makes
/// the kernel regenerate the file: no open, close or path walk, and never
/// bytes older than the read. The descriptors are the calling thread's
/// own, reached through a pthread key without a lock: none is shared
/// between threads (the kernel serialises `pread`s of one `seq_file`
/// descriptor on its mutex).
///
/// - **Host-wide kernel files** (`hostPaths`: procfs and sysfs `seq_file`s)
///   stay open for the thread's life; those printed record by record
///   (`recordPaths`) are read with `pread`s to the end.
/// - **Cgroup files** (under `/sys/fs/cgroup/`) are cached after the first
///   read and read again with one `pread`. A `pread` that fails (the kernel
///   answers ENODEV once the cgroup is removed, even if one of the same
///   name is made again) or fills its buffer closes the descriptor, and the
///   file is read the ordinary way. Each thread caches at most
///   `cgroupFilesPerThread` of them (256, fewer when the open-file limit is
///   low); when that is reached one descriptor is evicted per new file, the
///   least recently read first (`DescriptorCache`, a clock).
/// - **`/proc/PID/cgroup`** of processes that read again
///   (`readProcessCgroup`), at most `processesPerThread`, evicted the same way.
///
/// All the descriptors of all threads stay within `descriptorBudget` (half
/// the open-file limit). A thread's descriptors are closed when it ends.
public final class CachedDescriptorReader: KernelFileReader, Sendable {
    public let root: HostRoot

    /// The host-wide files held open.
    static let hostPaths: [String] = [
        "/proc/meminfo", "/proc/stat", "/proc/cpuinfo", "/proc/uptime", "/proc/loadavg",
        "/proc/swaps", "/proc/diskstats", "/sys/devices/system/cpu/online",
    ]

    /// The host-wide files the kernel prints record by record: read to the
    /// end (see `FileReading.readFromStart`).
    static let recordPaths: Set<String> = ["/proc/cpuinfo", "/proc/diskstats", "/proc/swaps"]

    /// Each host-wide file's place in `hostPaths` (one hash per read).
    static let hostIndex: [String: Int] = Dictionary(uniqueKeysWithValues: hostPaths.enumerated().map { ($1, $0) })

    /// Cgroup files the kernel prints record by record: read the ordinary
    /// way, never cached, as they are read seldom (the loadavg sampler's
    /// task lists, slabinfo).
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

    /// The buffer, in bytes, a cached `/proc/PID/cgroup` is read with (a
    /// longer file is read the ordinary way each time).
    static let processCgroupCapacity = 8192

    /// A host-wide file of one thread.
    struct HostFile {
        /// The descriptor; `nil` after a failed `pread` or when none could
        /// be held (the file is then read the ordinary way).
        var fd: FileDescriptor?
        /// The buffer size, in bytes, to `pread` it with.
        var capacity: Int
        /// Printed record by record: read to the end.
        let toEnd: Bool
    }

    /// One thread's descriptors.
    final class ThreadDescriptors {
        let owner: CachedDescriptorReader
        var cgroupFiles: DescriptorCache<String>
        var processCgroups: DescriptorCache<HostPID>
        /// By `hostIndex`; `nil` before the first read.
        var host = [HostFile?](repeating: nil, count: CachedDescriptorReader.hostPaths.count)

        init(owner: CachedDescriptorReader) {
            self.owner = owner
            cgroupFiles = DescriptorCache(limit: owner.cgroupFilesPerThread)
            processCgroups = DescriptorCache(limit: owner.processesPerThread)
        }

        deinit {
            owner.release(cgroupFiles.removeAll() + processCgroups.removeAll())
            for f in host {
                if let fd = f?.fd {
                    try? fd.close()
                    owner.release(1)
                }
            }
        }
    }

    private let key: pthread_key_t
    /// False when `pthread_key_create` failed: nothing is cached then.
    private let keyCreated: Bool
    /// The most cgroup descriptors one thread caches.
    public let cgroupFilesPerThread: Int
    /// The most `/proc/PID/cgroup` descriptors one thread caches.
    public let processesPerThread: Int
    /// The most descriptors all threads together keep: half the open-file
    /// limit by default, whatever number of threads libfuse starts.
    public let descriptorBudget: Int
    /// Descriptors held now, over all threads.
    let total = Atomic<Int>(0)

    /// - Parameters:
    ///   - root: the folder every path is read under (`/` in the daemon).
    ///   - cgroupFilesPerThread: overrides the per-thread bound on cached
    ///     cgroup files (default from the open-file limit: `(soft − 768) / 64`, at most 256).
    ///   - processesPerThread: overrides the bound on cached `/proc/PID/cgroup` (default a quarter of that, at most 64).
    ///   - descriptorBudget: overrides the bound over all threads (default half the soft open-file limit).
    public init(root: HostRoot = HostRoot(), cgroupFilesPerThread: Int? = nil, processesPerThread: Int? = nil,
                descriptorBudget: Int? = nil) {
        self.root = root
        var k = pthread_key_t()
        keyCreated = pthread_key_create(&k) { files in
            if let files { Unmanaged<ThreadDescriptors>.fromOpaque(files).release() }
        } == 0
        key = k
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let soft = limit.rlim_cur == rlim_t.max ? 1 << 20 : Int(clamping: limit.rlim_cur)
        // Leave room for the daemon's own files and up to 64 worker threads
        // (each also keeps up to 8 host files).
        let perThread = cgroupFilesPerThread ?? max(0, min(256, (soft - 768) / 64))
        self.cgroupFilesPerThread = perThread
        self.processesPerThread = processesPerThread ?? min(64, perThread / 4)
        self.descriptorBudget = descriptorBudget ?? soft / 2
    }

    /// This thread's descriptors, made on first use; `nil` when the
    /// open-file limit leaves no room to keep any.
    private func descriptors() -> ThreadDescriptors? {
        guard cgroupFilesPerThread > 0, keyCreated else { return nil }
        if let raw = pthread_getspecific(key) { return Unmanaged<ThreadDescriptors>.fromOpaque(raw).takeUnretainedValue() }
        let files = ThreadDescriptors(owner: self)
        pthread_setspecific(key, Unmanaged.passRetained(files).toOpaque())
        return files
    }

    /// Takes one descriptor from the budget.
    /// - Returns: false (and takes none) when the budget is spent.
    func reserve() -> Bool {
        if total.add(1, ordering: .relaxed).newValue <= descriptorBudget { return true }
        total.subtract(1, ordering: .relaxed)
        return false
    }

    /// Gives `count` descriptors back to the budget.
    func release(_ count: Int) {
        if count > 0 { total.subtract(count, ordering: .relaxed) }
    }

    public func read(_ path: String, sizeHint: Int) -> [UInt8]? {
        if path.utf8.count < 40, let i = Self.hostIndex[path], let files = descriptors() {
            return readHost(i, sizeHint: sizeHint, files)
        }
        let full = root.resolve(path)
        guard path.utf8.starts(with: "/sys/fs/cgroup/".utf8), !Self.isRecordCgroupFile(path),
              let files = descriptors() else {
            return try? FileReading.readOnce(full, sizeHint: sizeHint).get()
        }
        return files.cgroupFiles.read(path, capacity: max(sizeHint, 64), owner: self) { FileReading.open(full) }
    }

    /// Reads `/proc/PID/cgroup` through this thread's cached descriptor for
    /// `pid`. Each `pread` makes the kernel print the process's cgroups
    /// again, so a process moved to another cgroup shows at once. The
    /// descriptor holds the process itself, not its number: once it has
    /// exited the kernel answers ESRCH (never another process's cgroups,
    /// even after the number is reused), and the file is opened again by
    /// path. Spares the open and close (and the path walk through /proc)
    /// for a process that reads again, such as `top`.
    public func readProcessCgroup(_ pid: HostPID) -> [UInt8]? {
        // The path is built only when the file must be opened.
        let full = { [root] in root.resolve("/proc/\(pid)/cgroup") }
        guard let files = descriptors(), files.processCgroups.limit > 0 else {
            return try? FileReading.readOnce(full(), sizeHint: Self.processCgroupCapacity).get()
        }
        return files.processCgroups.read(pid, capacity: Self.processCgroupCapacity, owner: self) { FileReading.open(full()) }
    }

    /// Reads a host-wide file through this thread's descriptor, opened on
    /// first use. A `pread` that fills the buffer might have been cut short:
    /// the file is read the ordinary way and the buffer doubled for next
    /// time; one that fails closes the descriptor for good.
    func readHost(_ i: Int, sizeHint: Int, _ files: ThreadDescriptors) -> [UInt8]? {
        let path = Self.hostPaths[i]
        if files.host[i] == nil {
            var fd: FileDescriptor?
            if reserve() {
                fd = try? FileReading.open(root.resolve(path)).get()
                if fd == nil { release(1) }
            }
            files.host[i] = HostFile(fd: fd, capacity: max(sizeHint, 256), toEnd: Self.recordPaths.contains(path))
        }
        let f = files.host[i]!
        if let fd = f.fd {
            switch FileReading.readFromStart(fd, capacity: f.capacity, toEnd: f.toEnd) {
            case .success(let bytes) where bytes.count < f.capacity:
                // Next time, a buffer of twice the size (a power of two) is
                // enough: the first size hint is made for large hosts.
                let fit = max(256, 1 << (Int.bitWidth - (2 * bytes.count).leadingZeroBitCount))
                if fit < f.capacity { files.host[i]!.capacity = fit }
                return bytes
            case .success:
                files.host[i]!.capacity = f.capacity * 2
            case .failure:
                try? fd.close()
                release(1)
                files.host[i]!.fd = nil
            }
        }
        return try? FileReading.readOnce(root.resolve(path), sizeHint: files.host[i]!.capacity).get()
    }

    // MARK: what a thread holds, for tests

    /// Whether the calling thread holds a cached descriptor for the cgroup file `path`.
    func isCached(_ path: String) -> Bool { descriptors()?.cgroupFiles.contains(path) ?? false }

    /// The cgroup files the calling thread holds descriptors for.
    var cachedCgroupFiles: Set<String> { Set(descriptors()?.cgroupFiles.keys ?? []) }

    /// The buffer size the calling thread reads the host-wide file `path` with.
    func hostCapacity(_ path: String) -> Int? { Self.hostIndex[path].flatMap { descriptors()?.host[$0]?.capacity } }
}

/// A bounded table of one thread's cached descriptors, by key. When it is
/// full, each new descriptor evicts one old one, chosen by the clock
/// algorithm: a hand sweeps the slots, sparing (once) each that was read
/// since the hand last passed, so the least recently read go first and no
/// request ever closes more than one descriptor.
struct DescriptorCache<Key: Hashable> {
    struct Slot {
        var key: Key
        var fd: FileDescriptor
        /// Read since the hand last passed.
        var referenced: Bool
    }

    private var index: [Key: Int] = [:]
    private var slots: [Slot] = []
    private var hand = 0
    /// The most descriptors held.
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { slots.count }
    var keys: [Key] { slots.map(\.key) }
    func contains(_ key: Key) -> Bool { index[key] != nil }

    /// The file's bytes through the cached descriptor for `key`, read again
    /// with one `pread` at offset 0; else opened with `open` and read to
    /// the end, and cached when one `pread` of `capacity` bytes will give
    /// the whole file next time. A `pread` that fails or fills its buffer
    /// closes the descriptor.
    /// - Returns: the bytes, or `nil` when the file cannot be opened or read.
    mutating func read(_ key: Key, capacity: Int, owner: CachedDescriptorReader,
                       open: () -> Result<FileDescriptor, Errno>) -> [UInt8]? {
        if let i = index[key] {
            slots[i].referenced = true
            if case .success(let bytes) = FileReading.readFromStart(slots[i].fd, capacity: capacity),
               bytes.count < capacity {
                return bytes
            }
            try? remove(at: i).close()
            owner.release(1)
        }
        guard case .success(let fd) = open() else { return nil }
        let bytes = try? FileReading.readToEnd(fd, sizeHint: capacity).get()
        if limit > 0, let bytes, bytes.count < capacity {
            if slots.count >= limit {
                try? evictOne().close()
                owner.release(1)
            }
            if owner.reserve() {
                insert(key, fd)
                return bytes
            }
        }
        try? fd.close()
        return bytes
    }

    /// Adds a slot; the table must have room.
    mutating func insert(_ key: Key, _ fd: FileDescriptor) {
        index[key] = slots.count
        slots.append(Slot(key: key, fd: fd, referenced: false))
    }

    /// Removes the slot the clock hand chooses and returns its descriptor.
    mutating func evictOne() -> FileDescriptor {
        while slots[hand].referenced {
            slots[hand].referenced = false
            hand = (hand + 1) % slots.count
        }
        return remove(at: hand)
    }

    /// Removes slot `i` (the last slot takes its place) and returns its descriptor.
    mutating func remove(at i: Int) -> FileDescriptor {
        let fd = slots[i].fd
        index[slots[i].key] = nil
        let last = slots.count - 1
        if i != last {
            slots[i] = slots[last]
            index[slots[i].key] = i
        }
        slots.removeLast()
        if hand >= slots.count { hand = 0 }
        return fd
    }

    /// Closes every descriptor.
    /// - Returns: how many were closed.
    mutating func removeAll() -> Int {
        for s in slots { try? s.fd.close() }
        let n = slots.count
        slots.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
        hand = 0
        return n
    }
}
