#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One entry of a host directory.
package struct HostDirectoryEntry: Sendable, Hashable {
    /// The entry's name (never `.` or `..`).
    package let name: String
    /// True for a directory (as `d_type` says; `DT_UNKNOWN` is looked up with `lstat`).
    package let isDirectory: Bool
}

extension HostRoot {
    /// The entries of a host directory, without `.` and `..`, in the order
    /// the kernel returns them.
    /// - Parameter path: an absolute host path, resolved under this root.
    /// - Returns: `nil` when the directory cannot be opened.
    package func entries(of path: String) -> [HostDirectoryEntry]? {
        let full = resolve(path)
        guard let dir = opendir(full) else { return nil }
        defer { closedir(dir) }
        var result: [HostDirectoryEntry] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var isDir = ent.pointee.d_type == UInt8(DT_DIR)
            if ent.pointee.d_type == UInt8(DT_UNKNOWN) {
                var st = stat()
                isDir = lstat(full + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            }
            result.append(HostDirectoryEntry(name: name, isDirectory: isDir))
        }
        return result
    }

    /// The names of the subdirectories of a host directory (child cgroups).
    /// - Returns: an empty list when the directory cannot be read.
    package func subdirectories(of path: String) -> [String] {
        (entries(of: path) ?? []).filter(\.isDirectory).map(\.name)
    }

    /// `lstat(2)` of a host path.
    /// - Returns: the status, or the errno value on failure.
    package func status(_ path: String) -> Result<HostFileStatus, HostErrno> {
        var st = stat()
        if lstat(resolve(path), &st) == 0 { return .success(HostFileStatus(st)) }
        return .failure(HostErrno(code: errno))
    }

    /// The target of a host symbolic link, unchanged.
    /// - Returns: the target, or the errno value on failure (`EINVAL` for a non-link).
    package func linkTarget(_ path: String) -> Result<String, HostErrno> {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(resolve(path), &buf, buf.count - 1)
        guard n >= 0 else { return .failure(HostErrno(code: errno)) }
        return .success(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// The target text of a symbolic link, such as `pid:[4026531836]` for
    /// `/proc/PID/ns/pid`. Where the path is a plain file (fixture roots keep
    /// link targets as file contents), its first line.
    /// - Returns: the text, or `nil` when the path does not exist.
    package func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink(resolve(path), &buf, buf.count - 1)
        if n > 0 {
            return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard errno == EINVAL, let bytes = read(path, sizeHint: 64) else { return nil }
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }

    /// True when a host path exists.
    package func exists(_ path: String) -> Bool {
        access(resolve(path), F_OK) == 0
    }
}

/// What `lstat(2)` says of a host file, in Swift values.
package struct HostFileStatus: Sendable, Hashable {
    /// A time of the file: seconds and nanoseconds since the epoch (CLOCK_REALTIME).
    package struct Time: Sendable, Hashable {
        package var seconds: Int64
        package var nanoseconds: Int64
    }
    /// Bytes (`st_size`).
    package var size: Int64
    /// The file type and permission bits (`st_mode`, such as `S_IFREG | 0o444`).
    package var mode: UInt32
    /// Hard links (`st_nlink`).
    package var links: UInt64
    /// Last access, modification and status change (`st_atim`, `st_mtim`, `st_ctim`).
    package var accessed: Time
    package var modified: Time
    package var changed: Time
    /// Whether the file is a directory (`S_IFDIR`).
    package var isDirectory: Bool { mode & UInt32(S_IFMT) == UInt32(S_IFDIR) }

    init(_ st: stat) {
        func time(_ t: timespec) -> Time { Time(seconds: Int64(t.tv_sec), nanoseconds: Int64(t.tv_nsec)) }
        size = Int64(st.st_size)
        mode = UInt32(st.st_mode)
        links = UInt64(st.st_nlink)
        accessed = time(st.st_atim)
        modified = time(st.st_mtim)
        changed = time(st.st_ctim)
    }
}

/// An errno value from a failed host file system call.
package struct HostErrno: Error, Sendable, Hashable {
    /// The `errno` code, such as `ENOENT`.
    package let code: Int32
}
