#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The folder every host file is read under: `/` on a real host, a fixture
/// folder in tests and in `swift-lxcfs render --root`. A plain path: how
/// files under it are read is a `KernelFileReader`'s job.
public struct HostRoot: Sendable, Hashable {
    /// The root folder without a trailing slash; empty for `/`.
    package let prefix: String

    /// - Parameter path: the root folder, `/` for the real host.
    public init(_ path: String = "/") {
        var p = path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        prefix = (p == "/" || p.isEmpty) ? "" : p
    }

    /// True when this root is the real host's `/`.
    package var isHost: Bool { prefix.isEmpty }

    /// The path of a host path under this root.
    /// - Parameter path: an absolute host path, such as `/proc/meminfo`.
    package func resolve(_ path: String) -> String { prefix.isEmpty ? path : prefix + path }

    /// Reads a whole file once (open, read to the end, close), for callers
    /// off the render path (start-up, the sysfs passthrough). Renders read
    /// through the view's `KernelFileReader`.
    /// - Parameters:
    ///   - path: an absolute host path, resolved under this root.
    ///   - sizeHint: the first buffer size in bytes; the buffer grows as needed.
    /// - Returns: the file's bytes, or `nil` when it cannot be opened or read.
    package func read(_ path: String, sizeHint: Int = 4096) -> [UInt8]? {
        try? FileReading.readOnce(resolve(path), sizeHint: sizeHint).get()
    }

    /// Why `path` cannot be reached, as `access(2)` says.
    /// - Returns: `nil` when it exists, else the errno value (`ENOENT`...).
    func accessError(_ path: String) -> Int32? {
        resolve(path).withCString { access($0, F_OK) } == 0 ? nil : errno
    }
}
