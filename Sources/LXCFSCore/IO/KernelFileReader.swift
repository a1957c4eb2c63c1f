import SystemPackage

/// Reads the kernel files a render needs (procfs, sysfs, cgroupfs) under a
/// host root. Injected into `ContainerView`; two implementations:
/// `DirectFileReader` (open, read, close each time) and
/// `CachedDescriptorReader` (descriptors cached per worker thread and read
/// again with `pread` at offset 0, which makes the kernel regenerate the
/// file). Every read returns `nil` instead of throwing, because a missing or
/// vanished file (an exited process, a deleted cgroup) is an ordinary event
/// that callers answer with host values.
public protocol KernelFileReader: Sendable {
    /// The folder every path is read under.
    var root: HostRoot { get }

    /// Reads a whole file.
    /// - Parameters:
    ///   - path: an absolute host path, resolved under `root`.
    ///   - sizeHint: the first buffer size in bytes; the buffer grows as needed.
    /// - Returns: the file's bytes, or `nil` when it cannot be opened or read.
    func read(_ path: String, sizeHint: Int) -> [UInt8]?

    /// A process's `/proc/PID/cgroup`.
    /// - Parameter pid: the process's host pid.
    /// - Returns: the file's bytes, or `nil` when the process is gone.
    func readProcessCgroup(_ pid: HostPID) -> [UInt8]?
}

extension KernelFileReader {
    /// Reads a file that holds one integer, such as `cpu.cfs_quota_us`.
    /// - Returns: the first whitespace-separated word as an integer, or `nil`
    ///   when the file is missing or the word is not a decimal integer (`max`).
    package func readInteger(_ path: String) -> Int64? {
        guard let bytes = read(path, sizeHint: 64) else { return nil }
        return ByteParser.firstInteger(bytes[...])
    }
}

/// Opens, reads to the end and closes every file on every read. Used for
/// fixture roots (whose files a test may replace between reads) and for
/// one-shot renders.
package struct DirectFileReader: KernelFileReader {
    package let root: HostRoot

    package init(root: HostRoot) {
        self.root = root
    }

    package func read(_ path: String, sizeHint: Int) -> [UInt8]? {
        try? FileReading.readOnce(root.resolve(path), sizeHint: sizeHint).get()
    }

    package func readProcessCgroup(_ pid: HostPID) -> [UInt8]? {
        read("/proc/\(pid)/cgroup", sizeHint: 1024)
    }
}

/// The reading steps both readers share, on swift-system's `FileDescriptor`
/// (which retries EINTR and reports failures as `Errno`).
enum FileReading {
    /// Opens `fullPath` read-only (close-on-exec).
    static func open(_ fullPath: String) -> Result<FileDescriptor, Errno> {
        fullPath.withCString { path in
            Result { try FileDescriptor.open(path, .readOnly, options: [.closeOnExec]) }
                .mapError { $0 as? Errno ?? .ioError }
        }
    }

    /// Opens, reads to the end and closes.
    static func readOnce(_ fullPath: String, sizeHint: Int) -> Result<[UInt8], Errno> {
        open(fullPath).flatMap { fd in
            defer { try? fd.close() }
            return readToEnd(fd, sizeHint: sizeHint)
        }
    }

    /// Reads a descriptor from its offset to EOF into an array that starts at
    /// `sizeHint` bytes (uninitialised, so the common case costs one
    /// allocation) and doubles while it fills up. A short read is not the
    /// end: a kernel `seq_file` printed record by record gives at most one
    /// page (or its largest record) per call.
    static func readToEnd(_ fd: FileDescriptor, sizeHint: Int) -> Result<[UInt8], Errno> {
        let first = max(sizeHint, 64)
        var failure: Errno?
        var buffer = [UInt8](unsafeUninitializedCapacity: first) { raw, count in
            count = fill(fd, UnsafeMutableRawBufferPointer(raw), &failure)
        }
        if let failure { return .failure(failure) }
        guard buffer.count == first else { return .success(buffer) }
        var filled = first
        repeat {
            buffer.append(contentsOf: repeatElement(0, count: buffer.count))
            let n = buffer.withUnsafeMutableBytes { raw in
                fill(fd, UnsafeMutableRawBufferPointer(rebasing: raw[filled...]), &failure)
            }
            if let failure { return .failure(failure) }
            filled += n
        } while filled == buffer.count
        buffer.removeSubrange(filled...)
        return .success(buffer)
    }

    /// Reads until `buffer` is full or a read returns 0.
    /// - Returns: the bytes read; sets `failure` when a read fails.
    private static func fill(_ fd: FileDescriptor, _ buffer: UnsafeMutableRawBufferPointer, _ failure: inout Errno?) -> Int {
        var count = 0
        while count < buffer.count {
            do {
                let n = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                if n == 0 { break }
                count += n
            } catch {
                failure = error as? Errno ?? .ioError
                break
            }
        }
        return count
    }

    /// Reads from offset 0 with `pread` into a new array of `capacity`
    /// bytes: one call, or with `toEnd` more at the following offsets until
    /// one returns 0.
    ///
    /// One `pread` gives the whole of a `seq_file` whose text is printed in
    /// one go (`single_open`: `/proc/meminfo`, `/proc/stat`,
    /// `/proc/PID/cgroup`, a cgroup's `memory.stat` or limit), but a file
    /// printed record by record (`/proc/cpuinfo` one CPU at a time,
    /// `/proc/diskstats`, `/proc/swaps`, a cgroup's `tasks`) gives at most
    /// one buffer of the kernel's (a page, or the largest record) per call:
    /// those need `toEnd`. Each `pread` at offset 0 makes the kernel
    /// regenerate the file.
    /// - Returns: the bytes read (`capacity` of them when the buffer filled,
    ///   so the file may go on), or the error of a failed `pread`.
    static func readFromStart(_ fd: FileDescriptor, capacity: Int, toEnd: Bool = false) -> Result<[UInt8], Errno> {
        var failure: Errno?
        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { raw, count in
            var total = 0
            while total < capacity {
                do {
                    let n = try fd.read(fromAbsoluteOffset: Int64(total),
                                        into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(raw)[total...]))
                    total += n
                    if n == 0 || !toEnd { break }
                } catch {
                    failure = error as? Errno ?? .ioError
                    break
                }
            }
            count = total
        }
        if let failure { return .failure(failure) }
        return .success(bytes)
    }
}
