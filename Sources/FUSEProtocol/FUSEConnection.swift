import CFuse3
import Logging
import LXCFSSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Why swift-lxcfs speaks the kernel's FUSE protocol itself.
//
// The connection must outlive the process that serves it (issue 10): a
// successor resumes serving the same /dev/fuse open file, which a store
// (systemd's fd store, the supervisor, or the process taking over) held.
// libfuse's high-level API numbers nodes in its own memory, and its
// low-level session answers EIO to everything until it has seen FUSE_INIT,
// which the kernel sends once per connection; a successor would have to
// replay a saved INIT into the session and swallow libfuse's failed reply.
// The protocol the daemon needs is small (INIT, LOOKUP, GETATTR, OPEN, READ,
// READDIR, READLINK, RELEASE, FORGET and refusals), so the loop here reads
// and answers requests itself: the first process negotiates INIT and saves
// the result (`FUSEInitParameters`, in `SessionState`), a successor never
// sees INIT and just uses it. libfuse still parses the mount options and
// mounts (`FUSEMount`).
//
// All worker threads read from one open file of /dev/fuse, never from
// `clone_fd` clones: the kernel holds a request that was read but not
// answered on the open file it was read from, and ends it with ECONNABORTED
// when that file is released, as a clone is when its process dies. On the
// shared file, such requests stay on the connection's processing list, and
// a successor's FUSE_NOTIFY_RESEND (protocol 7.40, Linux 6.9) queues them
// again. What dropping clone_fd costs is in docs/performance.md.
//
// The rooms: `FUSERequest` decodes, `FUSEReplyEncoder` lays out replies,
// `FUSETransport` moves the bytes, `FUSEInit` negotiates, the probe is in
// FUSEProbe.swift, and this file holds the worker threads and the requests
// the connection answers itself (FORGET, INTERRUPT, a second INIT, the probe).

/// Answers requests; called on a worker thread for every request except
/// INIT, FORGET, BATCH_FORGET, INTERRUPT and the probe.
public protocol FUSERequestHandler: AnyObject, Sendable {
    /// Handles one request. The handler must answer it exactly once, through
    /// `reply`, now or later from any thread.
    func handle(_ request: FUSERequest, reply: FUSEResponder)
    /// Whether requests carry `cpuAtRead` (one clock read per request).
    var measuresCPU: Bool { get }
    /// Called once the worker threads have stopped: answer every request
    /// still held for a later reply.
    func connectionStopped(_ connection: FUSEConnection)
}

extension FUSERequestHandler {
    public var measuresCPU: Bool { false }
    public func connectionStopped(_ connection: FUSEConnection) {}
}

/// One FUSE connection: its transport (the `/dev/fuse` descriptor), the
/// negotiated parameters and the worker threads that read requests from it.
///
/// Replies can be written from any thread at any time (each is one
/// message, which the kernel takes whole).
// Unchecked: `onEnded` is set before the workers start and read by the last worker to end.
public final class FUSEConnection: @unchecked Sendable {
    /// Reads requests and writes replies.
    public let transport: any FUSETransport
    /// What INIT agreed.
    public let parameters: FUSEInitParameters
    let handler: FUSERequestHandler
    let logger: Logger
    /// The most worker threads; more start while none is idle in read(2).
    let maxThreads: Int

    /// The signal that wakes a worker blocked in read(2) (EINTR).
    public static let wakeSignal = SIGUSR1

    private let stopping = Atomic<Bool>(false)
    private let idle = Atomic<Int>(0)
    private let live = Atomic<Int>(0)
    private let threads = Mutex<[pthread_t]>([])
    /// Set when the kernel reports the connection gone (ENODEV: unmounted).
    let ended = Atomic<Bool>(false)
    /// Called once, on a worker thread, when the connection is gone.
    public var onEnded: (@Sendable () -> Void)?
    /// The probe name looked up by `confirmServes`, and whether it arrived.
    let probe = Mutex<(name: String?, seen: Bool)>((nil, false))
    /// Replies and notifications whose write failed (each is logged).
    let failedSends = Atomic<Int>(0)

    /// - Parameters:
    ///   - transport: the connection's transport, past INIT.
    ///   - parameters: the INIT result (negotiated here or saved by a predecessor).
    ///   - handler: answers the requests.
    ///   - maxThreads: the most worker threads.
    public init(transport: any FUSETransport, parameters: FUSEInitParameters, handler: FUSERequestHandler,
                logger: Logger, maxThreads: Int = 16) {
        self.transport = transport
        self.parameters = parameters
        self.handler = handler
        self.logger = logger
        self.maxThreads = maxThreads
    }

    /// A connection on the `/dev/fuse` descriptor `fd` (blocking).
    public convenience init(fd: Int32, parameters: FUSEInitParameters, handler: FUSERequestHandler,
                            logger: Logger, maxThreads: Int = 16) {
        self.init(transport: FileDescriptorTransport(fd: fd), parameters: parameters, handler: handler,
                  logger: logger, maxThreads: maxThreads)
    }

    /// How many replies and notifications could not be written since the
    /// connection was made (the kernel refused them, or the request had
    /// been interrupted or aborted).
    public var failedReplies: Int { failedSends.load(ordering: .relaxed) }

    // MARK: Writing

    /// Writes one message; a failure is counted and logged, never dropped
    /// silently. `unique` 0 is a notification.
    func send(_ header: fuse_out_header, _ payload: UnsafeRawBufferPointer, what: @autoclosure () -> String) {
        var h = header
        let result = withUnsafeBytes(of: &h) { h -> FUSEErrno? in
            do throws(FUSEErrno) {
                try transport.send(h, payload)
                return nil
            } catch {
                return error
            }
        }
        guard let failure = result else { return }
        failedSends.add(1, ordering: .relaxed)
        // ENOENT: the request was interrupted or aborted meanwhile (an
        // INTERRUPT's EINTR and the request's own reply race; one loses).
        let level: Logger.Level = failure.code == ENOENT ? .debug : .warning
        logger.log(level: level, "writing a FUSE \(what()) failed: \(failure)",
                   metadata: ["unique": "\(header.unique)", "error": "\(header.error)"])
    }

    /// Answers `unique` with `payload` (success).
    func reply(_ unique: UInt64, payload: UnsafeRawBufferPointer) {
        send(FUSEReplyEncoder.header(unique: unique, error: 0, payloadSize: payload.count), payload, what: "reply")
    }

    /// Answers `unique` with one kernel struct (`fuse_entry_out`, `fuse_attr_out`, ...).
    func reply<T>(_ unique: UInt64, value: T) {
        var v = value
        withUnsafeBytes(of: &v) { reply(unique, payload: $0) }
    }

    /// Answers `unique` with an error (a positive errno) or, with 0, success and no data.
    public func reply(_ unique: UInt64, error: Int32) {
        send(FUSEReplyEncoder.header(unique: unique, error: error, payloadSize: 0),
             UnsafeRawBufferPointer(start: nil, count: 0), what: "reply")
    }

    /// Writes FUSE_NOTIFY_RESEND (a bare `fuse_out_header`, unique 0): the
    /// kernel queues again every request that was read but not answered,
    /// with bit 63 of `unique` set. Only on protocol 7.40 and later.
    /// - Returns: whether the kernel took it.
    @discardableResult
    public func notifyResend() -> Bool {
        guard parameters.canResend else { return false }
        let before = failedSends.load(ordering: .relaxed)
        send(FUSEReplyEncoder.notifyResend(), UnsafeRawBufferPointer(start: nil, count: 0), what: "resend notification")
        return failedSends.load(ordering: .relaxed) == before
    }

    /// Writes FUSE_NOTIFY_POLL for the kernel's poll handle `kh`: the
    /// kernel wakes the processes polling that open file, and they poll again.
    public func notifyPoll(kh: UInt64) {
        var (header, out) = FUSEReplyEncoder.notifyPoll(kh: kh)
        withUnsafeBytes(of: &out) { send(header, $0, what: "poll notification") }
        _ = header
    }

    // MARK: Serving

    /// Starts the first worker thread (more start on demand), then handles
    /// `held` requests (read by `confirmServes`) on the calling thread.
    public func start(handling held: [[UInt8]] = []) {
        stopping.store(false, ordering: .sequentiallyConsistent)
        spawnWorker()
        for bytes in held {
            bytes.withUnsafeBytes { dispatch($0) }
        }
    }

    /// Stops reading requests: sets the stop flag, wakes every worker
    /// blocked in read(2) with `wakeSignal` until all have exited (each
    /// first answers the request it holds), and joins them.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        while live.load(ordering: .sequentiallyConsistent) > 0 {
            for t in threads.withLock({ $0 }) { pthread_kill(t, Self.wakeSignal) }
            usleep(5_000)
        }
        let all = threads.withLock { t -> [pthread_t] in
            let all = t
            t = []
            return all
        }
        for t in all { pthread_join(t, nil) }
        handler.connectionStopped(self)
    }

    private func spawnWorker() {
        live.add(1, ordering: .sequentiallyConsistent)
        idle.add(1, ordering: .sequentiallyConsistent)
        let started = Threads.start { [self] in worker() }
        if let started {
            threads.withLock { $0.append(started) }
        } else {
            live.subtract(1, ordering: .sequentiallyConsistent)
            idle.subtract(1, ordering: .sequentiallyConsistent)
            logger.warning("cannot start another FUSE worker thread")
        }
    }

    private func worker() {
        defer {
            idle.subtract(1, ordering: .sequentiallyConsistent)
            live.subtract(1, ordering: .sequentiallyConsistent)
        }
        let size = parameters.bufferSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        let measure = handler.measuresCPU
        while !stopping.load(ordering: .relaxed) {
            let cpu = measure ? threadCPUNanoseconds() : 0
            let n: Int
            switch transport.receive(into: buffer) {
            case .message(let count): n = count
            case .retry: continue
            case .ended:
                // Unmounted: the kernel closed the connection.
                if !ended.exchange(true, ordering: .sequentiallyConsistent) { onEnded?() }
                return
            case .failed(let e):
                logger.error("reading /dev/fuse failed: \(e)")
                usleep(10_000)
                continue
            }
            guard n >= FUSERequest.headerSize else { continue }
            if idle.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
               live.load(ordering: .relaxed) < maxThreads, !stopping.load(ordering: .relaxed) {
                spawnWorker()
            }
            dispatch(UnsafeRawBufferPointer(rebasing: buffer[..<n]), cpuAtRead: cpu)
            idle.add(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Answers one message read from the device.
    func dispatch(_ raw: UnsafeRawBufferPointer, cpuAtRead: UInt64 = 0) {
        guard raw.count >= FUSERequest.headerSize else { return }
        let request = FUSERequest.decode(raw, cpuAtRead: cpuAtRead)
        let unique = request.header.unique
        switch request.operation {
        case .forget:
            // Node ids are a function of the path: nothing to forget.
            return
        case .interrupt(let target):
            // The caller of request `target` got a signal. Requests here are
            // answered at once, so this matters for one a dead predecessor
            // read and never answered: on a kernel without
            // FUSE_NOTIFY_RESEND (before 6.9) ending it with EINTR frees its
            // caller (a read with SA_RESTART is simply restarted). If the
            // request is being answered right now, one of the two replies
            // finds no request (ENOENT from the kernel) and is counted.
            reply(target, error: EINTR)
        case .initialize:
            // Only a fresh mount sees INIT (`negotiateInit`); a second one is a protocol error.
            reply(unique, error: EPROTO)
        default:
            if isProbe(request) {
                reply(unique, error: ENOENT)
                return
            }
            handler.handle(request, reply: FUSEResponder(unique: unique, connection: self))
        }
    }
}

/// The CPU time the calling thread has used, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
@inline(__always)
public func threadCPUNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}
