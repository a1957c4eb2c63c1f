import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` again while it fails with EINTR (a signal arrived during
/// the system call): the one place the OS edge retries an interrupted call.
/// - Throws: the first other `Errno`.
package func retryingOnInterrupt<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
    while true {
        do {
            return try body()
        } catch {
            if error == .interrupted { continue }
            throw error
        }
    }
}

extension Errno {
    /// The calling thread's `errno`, as an `Errno`.
    package static var current: Errno { Errno(rawValue: errno) }
}

/// Runs a system call that returns -1 with `errno` on failure, retrying on EINTR.
/// - Returns: its non-negative result.
/// - Throws: its `Errno`.
package func systemCall<T: SignedInteger>(_ call: () -> T) throws(Errno) -> T {
    try retryingOnInterrupt { () throws(Errno) -> T in
        let result = call()
        if result < 0 { throw Errno.current }
        return result
    }
}
