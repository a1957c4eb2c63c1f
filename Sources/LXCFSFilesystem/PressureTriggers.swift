import CLinux
import FUSEProtocol
import Logging
import LXCFSSystem
import LXCFSCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// PSI triggers through the mount (`--enable-psi-poll`, lxcfs 7.0's flag).
//
// A process opens <mount>/proc/pressure/{cpu,io,memory} for writing and
// writes a trigger (`some 150000 1000000`). The daemon registers it on the
// pressure file of the reader's container cgroup (v2): it opens that file
// O_RDWR|O_NONBLOCK and writes the trigger; the kernel's answer (EINVAL for
// what it refuses) becomes the reply. A FUSE POLL on the open file answers
// with the trigger's events, and when the kernel's trigger fires later the
// daemon sends FUSE_NOTIFY_POLL with the kernel's poll handle (kh), so the
// reader's poll(2) or epoll wakes and polls again, and sees POLLPRI.
//
// The kernel reports a trigger's event once: the poll that sees it clears
// it (psi_trigger_poll: cmpxchg(&t->event, 1, 0)). One waiter thread
// watches every registered descriptor with epoll (its poll is the one that
// sees and clears the event), keeps the event as pending for the handle,
// and the next FUSE POLL on the handle reports it and clears it. The thread
// exists only while a trigger exists: the first registration starts it,
// the last release stops it through its eventfd and joins it.
//
// One trigger per open file, as the kernel has it: a second write on the
// same handle gets EBUSY. Release closes the cgroup descriptor, which
// removes the kernel's trigger.

/// The open files that may hold a trigger, their registrations and the
/// waiter thread. All state is behind one lock; writes and releases are rare.
final class PressureTriggers: Sendable {
    /// Whether `--enable-psi-poll` is on.
    let enabled: Bool
    let logger: Logger

    /// One open file of a pressure file opened for writing.
    struct Entry {
        /// The container cgroup's pressure file, a host path.
        let target: String
        /// Whether the opener had CAP_SYS_RESOURCE (the kernel's rule for
        /// windows that are not whole multiples of 2 s).
        let privileged: Bool
        /// The registered descriptor of `target`, -1 before the trigger is written.
        var fd: Int32 = -1
        /// The kernel's poll handle of the open file, once a POLL asked to be notified.
        var kh: UInt64?
        /// An event the waiter saw and no POLL reported yet.
        var pending = false
        /// The trigger's cgroup is gone (the descriptor reports EPOLLERR).
        var dead = false
    }

    /// The waiter thread, its epoll instance and the eventfd that stops it.
    // Unchecked: `thread` is set once by the starter before the waiter runs, joined by the stopper.
    final class Waiter: @unchecked Sendable {
        let epfd: Int32
        let wake: Int32
        let stopping = Atomic<Bool>(false)
        var thread: pthread_t?
        init?(logger: Logger) {
            epfd = clinux_epoll_create()
            wake = clinux_eventfd()
            guard epfd >= 0, wake >= 0, clinux_epoll_add(epfd, wake, CLINUX_EPOLLIN, Waiter.wakeData) == 0 else {
                logger.error("cannot start the PSI trigger waiter: \(String(cString: strerror(errno)))")
                if epfd >= 0 { close(epfd) }
                if wake >= 0 { close(wake) }
                return nil
            }
        }
        /// The epoll data of the eventfd (no file handle is 0).
        static let wakeData: UInt64 = 0
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        /// How many entries hold a registered descriptor.
        var registered = 0
        var waiter: Waiter?
    }
    private let state = Mutex<State>(State())
    /// The connection notifications go to (set by the first POLL).
    private let connection = Mutex<FUSEPollNotifier?>(nil)

    init(enabled: Bool, logger: Logger) {
        self.enabled = enabled
        self.logger = logger
    }

    /// Whether `fh` is an open file of a pressure file opened for writing.
    func holds(_ fh: UInt64) -> Bool { state.withLock { $0.entries[fh] != nil } }

    /// Records an open for writing of a pressure file (no trigger yet).
    func opened(_ fh: UInt64, target: String, privileged: Bool) {
        state.withLock { $0.entries[fh] = Entry(target: target, privileged: privileged) }
    }

    /// Registers the trigger written on `fh`.
    /// - Parameter written: the bytes of the write.
    /// - Returns: the bytes taken (all of the write), or the errno: EBUSY
    ///   for a second trigger on the same open file, EINVAL for an invalid
    ///   one, what the kernel answered opening or writing the cgroup's file
    ///   (EINVAL, ENOENT for a cgroup removed since the open, EOPNOTSUPP with PSI off).
    func write(_ fh: UInt64, _ written: UnsafeRawBufferPointer) -> Result<Int, FSErrno> {
        let parsed = PressureTrigger.parse(written: written)
        let result = state.withLock { s -> Result<Int, FSErrno> in
            guard var entry = s.entries[fh] else { return .failure(FSErrno(EACCES)) }
            // psi_write checks for a trigger before it parses the new one.
            guard entry.fd < 0 else { return .failure(FSErrno(EBUSY)) }
            guard case .success(let trigger) = parsed else { return .failure(FSErrno(EINVAL)) }
            if !entry.privileged && !trigger.allowedUnprivileged { return .failure(FSErrno(EINVAL)) }
            let fd = open(entry.target, O_RDWR | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { return .failure(FSErrno(errno)) }
            let text = Array(trigger.text.utf8)
            let n = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n == text.count else {
                let e = n < 0 ? errno : EIO
                close(fd)
                return .failure(FSErrno(e))
            }
            if s.waiter == nil {
                guard let w = Waiter(logger: logger) else {
                    close(fd)
                    return .failure(FSErrno(ENOMEM))
                }
                // The thread takes the lock only once it runs.
                w.thread = Threads.start { [self] in wait(w) }
                guard w.thread != nil else {
                    close(w.epfd)
                    close(w.wake)
                    close(fd)
                    return .failure(FSErrno(EAGAIN))
                }
                s.waiter = w
            }
            guard clinux_epoll_add(s.waiter!.epfd, fd, CLINUX_EPOLLPRI, fh) == 0 else {
                let e = errno
                close(fd)
                return .failure(FSErrno(e))
            }
            entry.fd = fd
            s.entries[fh] = entry
            s.registered += 1
            return .success(written.count)
        }
        if case .success(let t) = parsed, case .success = result {
            logger.debug("PSI trigger registered", metadata: ["trigger": "\(t.text)", "fh": "\(fh)"])
        }
        return result
    }

    /// The kernel's `DEFAULT_POLLMASK`: what a file with nothing special reports.
    static let defaultMask = UInt32(POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)

    /// Answers a FUSE POLL on `fh`: the events of its trigger, as the
    /// kernel's /proc/pressure would report them (`psi_trigger_poll`):
    /// the default mask, POLLPRI once per event, and POLLERR|POLLPRI while
    /// no trigger is registered (or its cgroup is gone). With
    /// `scheduleNotify`, keeps `kh` to notify when the trigger fires.
    /// - Returns: the revents, or `nil` when `fh` holds no trigger state.
    func poll(_ fh: UInt64, kh: UInt64, scheduleNotify: Bool, notifier c: FUSEPollNotifier) -> UInt32? {
        if scheduleNotify { connection.withLock { if $0 == nil { $0 = c } } }
        return state.withLock { s -> UInt32? in
            guard var entry = s.entries[fh] else { return nil }
            if scheduleNotify { entry.kh = kh }
            defer { s.entries[fh] = entry }
            guard entry.fd >= 0, !entry.dead else { return Self.defaultMask | UInt32(POLLERR | POLLPRI) }
            if entry.pending {
                entry.pending = false
                return Self.defaultMask | UInt32(POLLPRI)
            }
            return Self.defaultMask
        }
    }

    /// Forgets `fh` on release: closes its cgroup descriptor, which removes
    /// the kernel's trigger, and stops the waiter thread with the last one.
    func release(_ fh: UInt64) {
        // Every other release (read-only opens) costs no lock.
        guard HandleTable.isWriter(fh) else { return }
        let stop = state.withLock { s -> Waiter? in
            guard let entry = s.entries.removeValue(forKey: fh) else { return nil }
            guard entry.fd >= 0 else { return nil }
            if let w = s.waiter { _ = clinux_epoll_del(w.epfd, entry.fd) }
            close(entry.fd)
            s.registered -= 1
            guard s.registered == 0, let w = s.waiter else { return nil }
            s.waiter = nil
            return w
        }
        guard let stop else { return }
        stop.stopping.store(true, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(stop.wake, $0.baseAddress, 8) }
        if let t = stop.thread { pthread_join(t, nil) }
        close(stop.epfd)
        close(stop.wake)
    }

    /// The waiter thread: waits on every registered descriptor, marks the
    /// handle's event pending and notifies the kernel's poll handle.
    private func wait(_ w: Waiter) {
        _ = clinux_set_thread_name("swl-psi-waiter")
        var data = [UInt64](repeating: 0, count: 32)
        var events = [UInt32](repeating: 0, count: 32)
        while !w.stopping.load(ordering: .sequentiallyConsistent) {
            let n = clinux_epoll_wait(w.epfd, &data, &events, 32, -1)
            if n < 0 {
                if errno == EINTR { continue }
                logger.error("the PSI trigger waiter failed: \(String(cString: strerror(errno)))")
                return
            }
            var notify: [UInt64] = []
            state.withLock { s in
                for i in 0..<Int(n) where data[i] != Waiter.wakeData {
                    guard var entry = s.entries[data[i]], entry.fd >= 0 else { continue }
                    if events[i] & (CLINUX_EPOLLERR | CLINUX_EPOLLHUP) != 0 {
                        // The cgroup was removed: the kernel reports EPOLLERR for good.
                        entry.dead = true
                        _ = clinux_epoll_del(w.epfd, entry.fd)
                    } else if events[i] & CLINUX_EPOLLPRI != 0 {
                        entry.pending = true
                    } else { continue }
                    if let kh = entry.kh { notify.append(kh) }
                    s.entries[data[i]] = entry
                }
            }
            if !notify.isEmpty, let c = connection.withLock({ $0 }) {
                for kh in notify { c.notifyPoll(kh: kh) }
            }
        }
    }
}
