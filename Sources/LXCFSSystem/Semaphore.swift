#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A counting semaphore (POSIX `sem_t`, private to the process): one
/// thread sleeps in `wait` until another `signal`s. Never destroyed: its
/// owners live as long as the daemon (the fair share's dispatcher).
// Unchecked: `sem_t` lives behind a pointer that sem_post/sem_wait make safe across threads.
package final class Semaphore: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    /// A semaphore whose count starts at `count`.
    package init(count: UInt32 = 0) {
        sem_init(semaphore, 0, count)
    }

    /// Adds one to the count, waking a waiter (`sem_post(3)`).
    package func signal() {
        sem_post(semaphore)
    }

    /// Sleeps until the count is above 0, then takes one (`sem_wait(3)`;
    /// a signal may end the wait early, as it did before).
    package func wait() {
        sem_wait(semaphore)
    }

    /// Sleeps the calling thread for `microseconds` (`usleep(3)`).
    package static func sleep(microseconds: UInt32) {
        usleep(useconds_t(microseconds))
    }
}
