#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a pthread mutex of glibc's adaptive kind, which spins a
/// little before it sleeps on a plain futex.
///
/// For state that every FUSE request takes for a moment from many worker
/// threads (the handle store: an OPEN, a READ and a RELEASE each; the
/// render cache's maps of keys and readers). The
/// standard library's `Mutex` is a priority-inheritance futex on Linux: a
/// contended lock goes through the kernel's rt_mutex at once, and with 32
/// readers on 2 CPUs the handle store's lock took 42 % of the daemon's
/// samples in `Mutex._lockSlow` (docs/performance.md).
///
/// `@unchecked Sendable`: the compiler cannot see that the pthread mutex
/// guards `value`; every access to it is inside `withLock`.
package final class AdaptiveMutex<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    /// glibc's PTHREAD_MUTEX_ADAPTIVE_NP (a GNU extension Swift does not import).
    private static var adaptiveKind: Int32 { 3 }

    /// - Parameter value: the value the lock guards.
    package init(_ value: Value) {
        self.value = value
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Self.adaptiveKind)
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
