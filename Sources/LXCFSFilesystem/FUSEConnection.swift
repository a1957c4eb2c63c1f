import CFuse3
import Logging
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
// (systemd's fd store, the supervisor, or the process taking over) kept.
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
// `clone_fd` clones: the kernel keeps a request that was read but not
// answered on the open file it was read from, and ends it with ECONNABORTED
// when that file is released, as a clone is when its process dies. On the
// shared file, such requests stay on the connection's processing list, and
// a successor's FUSE_NOTIFY_RESEND (protocol 7.40, Linux 6.9) queues them
// again. What dropping clone_fd costs is in docs/performance.md.

/// The FUSE_INIT parameters negotiated with the kernel: what a successor
/// needs to serve the connection without seeing INIT again.
public struct FUSEInitParameters: Sendable, Equatable {
    /// Protocol major version (7).
    public var major: UInt32
    /// Protocol minor version agreed: the smaller of the kernel's and
    /// `CFUSE3_PROTOCOL_MINOR` (40).
    public var minor: UInt32
    /// The `FUSE_*` capability flags of the reply (`fuse_init_out.flags`).
    public var flags: UInt32
    /// `fuse_init_out.max_write`, bytes: a read buffer must hold a write
    /// request of this size.
    public var maxWrite: UInt32
    /// `fuse_init_out.max_readahead`, bytes.
    public var maxReadahead: UInt32

    public init(major: UInt32, minor: UInt32, flags: UInt32, maxWrite: UInt32, maxReadahead: UInt32) {
        self.major = major
        self.minor = minor
        self.flags = flags
        self.maxWrite = maxWrite
        self.maxReadahead = maxReadahead
    }

    /// Bytes of the buffer each worker reads requests into: the kernel
    /// refuses a read(2) smaller than max(8 KiB, headers + max_write).
    var bufferSize: Int { max(16384, Int(maxWrite) + 4096) }

    /// Whether the kernel understands FUSE_NOTIFY_RESEND (protocol 7.40).
    public var canResend: Bool { major == 7 && minor >= 40 }
}

/// One request as read from `/dev/fuse`: the header's fields and the
/// argument bytes that follow it. `argument` is valid only while the
/// handler runs; a handler that answers later copies what it needs.
public struct FUSERequest {
    /// The kernel's id of the request, echoed in the reply (bit 63 set on
    /// a request queued again by FUSE_NOTIFY_RESEND).
    public let unique: UInt64
    /// `FUSE_*` opcode (`enum fuse_opcode`).
    public let opcode: UInt32
    /// The node id the request is about.
    public let nodeID: UInt64
    /// The caller's uid, gid and pid (in the daemon's pid namespace).
    public let uid: UInt32
    public let gid: UInt32
    public let pid: Int32
    /// The bytes after `fuse_in_header`.
    public let argument: UnsafeRawBufferPointer
    /// The worker thread's CPU time (CLOCK_THREAD_CPUTIME_ID, nanoseconds)
    /// when it began the read(2) that brought this request; 0 unless the
    /// handler `measuresCPU`.
    public var cpuAtRead: UInt64 = 0

    /// Whether the kernel sent this request again after a server died
    /// holding it (FUSE_NOTIFY_RESEND).
    public var isResent: Bool { unique & CFUSE3_UNIQUE_RESEND != 0 }

    /// The argument as a kernel struct, or `nil` when the request is too short.
    public func argument<T>(as type: T.Type) -> T? {
        guard argument.count >= MemoryLayout<T>.size else { return nil }
        return argument.loadUnaligned(as: T.self)
    }

    /// The NUL-terminated name starting `offset` bytes into the argument.
    public func name(at offset: Int = 0) -> String? {
        guard offset < argument.count else { return nil }
        let bytes = UnsafeRawBufferPointer(rebasing: argument[offset...])
        guard let end = bytes.firstIndex(of: 0) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
    }
}

/// Answers requests; called on a worker thread for every request except
/// INIT, FORGET, BATCH_FORGET and INTERRUPT.
public protocol FUSERequestHandler: AnyObject, Sendable {
    /// Handles one request. The handler must answer it exactly once, with
    /// one of `FUSEConnection`'s `reply` methods, now or later from any thread.
    func handle(_ request: FUSERequest, on connection: FUSEConnection)
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

/// One FUSE connection: the `/dev/fuse` descriptor, the negotiated
/// parameters and the worker threads that read requests from it.
///
/// Replies can be written from any thread at any time (each is one
/// `writev(2)`, which the kernel takes whole).
public final class FUSEConnection: @unchecked Sendable {
    /// The `/dev/fuse` open file (blocking).
    public let fd: Int32
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
    var onEnded: (@Sendable () -> Void)?
    /// The probe name looked up by `confirmServes`, and whether it arrived.
    private let probe = Mutex<(name: String?, seen: Bool)>((nil, false))

    /// - Parameters:
    ///   - fd: the `/dev/fuse` descriptor of a connection past INIT.
    ///   - parameters: the INIT result (negotiated here or saved by a predecessor).
    ///   - handler: answers the requests.
    ///   - maxThreads: the most worker threads.
    public init(fd: Int32, parameters: FUSEInitParameters, handler: FUSERequestHandler, logger: Logger, maxThreads: Int = 16) {
        self.fd = fd
        self.parameters = parameters
        self.handler = handler
        self.logger = logger
        self.maxThreads = maxThreads
    }

    // MARK: INIT

    /// Errors of INIT and of resuming.
    public enum ConnectionError: Error, CustomStringConvertible {
        /// The first request of a fresh mount was not FUSE_INIT, or read(2) failed.
        case noInit(String)
        public var description: String {
            switch self { case .noInit(let why): return why }
        }
    }

    /// Reads the kernel's FUSE_INIT on a freshly mounted connection and
    /// answers it; returns what was agreed.
    /// - Throws: `ConnectionError.noInit` when the first request is not
    ///   INIT or the kernel's major version is not 7.
    public static func negotiateInit(fd: Int32) throws -> FUSEInitParameters {
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n >= MemoryLayout<fuse_in_header>.size else {
                throw ConnectionError.noInit("reading FUSE_INIT from /dev/fuse failed: \(String(cString: strerror(errno))).")
            }
            let agreed = try buffer.withUnsafeBytes { raw -> FUSEInitParameters? in
                let header = raw.loadUnaligned(as: fuse_in_header.self)
                guard header.opcode == FUSE_INIT.rawValue,
                      n >= MemoryLayout<fuse_in_header>.size + 16 else {
                    throw ConnectionError.noInit("the first FUSE request was opcode \(header.opcode), not FUSE_INIT.")
                }
                let inArg = UnsafeRawBufferPointer(rebasing: raw[MemoryLayout<fuse_in_header>.size..<n])
                // fuse_init_in: major, minor, max_readahead, flags (all u32).
                let major = inArg.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
                let minor = inArg.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                let readahead = inArg.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
                let offered = inArg.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                var out = fuse_init_out()
                out.major = 7
                out.minor = UInt32(CFUSE3_PROTOCOL_MINOR)
                if major > 7 {
                    // The kernel sends INIT again with major 7.
                    reply(fd: fd, unique: header.unique, error: 0, value: out)
                    return nil
                }
                guard major == 7 else {
                    reply(fd: fd, unique: header.unique, error: EPROTO)
                    throw ConnectionError.noInit("the kernel speaks FUSE \(major).\(minor); swift-lxcfs needs 7.")
                }
                let wanted = UInt32(FUSE_ASYNC_READ) | UInt32(FUSE_ATOMIC_O_TRUNC) | UInt32(FUSE_BIG_WRITES)
                    | UInt32(FUSE_PARALLEL_DIROPS)
                let parameters = FUSEInitParameters(major: 7, minor: min(minor, UInt32(CFUSE3_PROTOCOL_MINOR)),
                                                    flags: offered & wanted, maxWrite: 4096, maxReadahead: readahead)
                out.minor = parameters.minor
                out.max_readahead = parameters.maxReadahead
                out.flags = parameters.flags
                out.max_background = 64
                out.congestion_threshold = 48
                out.max_write = parameters.maxWrite
                out.time_gran = 1
                reply(fd: fd, unique: header.unique, error: 0, value: out)
                return parameters
            }
            if let agreed { return agreed }
        }
    }

    // MARK: Replies

    /// Writes `fuse_out_header` and `payload` as one reply.
    /// - Parameter error: a positive errno, or 0.
    static func reply(fd: Int32, unique: UInt64, error: Int32, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        var header = fuse_out_header()
        header.unique = unique
        header.error = -error
        header.len = UInt32(MemoryLayout<fuse_out_header>.size + (error == 0 ? payload.count : 0))
        withUnsafeBytes(of: &header) { h in
            var iov = (iovec(iov_base: UnsafeMutableRawPointer(mutating: h.baseAddress), iov_len: h.count),
                       iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count))
            let count: Int32 = (error == 0 && payload.count > 0) ? 2 : 1
            withUnsafePointer(to: &iov) {
                $0.withMemoryRebound(to: iovec.self, capacity: 2) { _ = writev(fd, $0, count) }
            }
        }
    }

    static func reply<T>(fd: Int32, unique: UInt64, error: Int32, value: T) {
        var v = value
        withUnsafeBytes(of: &v) { reply(fd: fd, unique: unique, error: 0, payload: $0) }
    }

    /// Answers `unique` with an error (a positive errno) or, with 0, success and no data.
    public func reply(_ unique: UInt64, error: Int32) {
        Self.reply(fd: fd, unique: unique, error: error)
    }

    /// Answers `unique` with raw bytes (READ, READLINK, READDIR).
    public func reply(_ unique: UInt64, bytes: UnsafeRawBufferPointer) {
        Self.reply(fd: fd, unique: unique, error: 0, payload: bytes)
    }

    /// Answers `unique` with one kernel struct (`fuse_entry_out`, `fuse_attr_out`, ...).
    public func reply<T>(_ unique: UInt64, value: T) {
        Self.reply(fd: fd, unique: unique, error: 0, value: value)
    }

    /// Writes FUSE_NOTIFY_RESEND (a bare `fuse_out_header`, unique 0): the
    /// kernel queues again every request that was read but not answered,
    /// with bit 63 of `unique` set. Only on protocol 7.40 and later.
    /// - Returns: whether the kernel took it.
    @discardableResult
    public func notifyResend() -> Bool {
        guard parameters.canResend else { return false }
        var header = fuse_out_header()
        header.len = UInt32(MemoryLayout<fuse_out_header>.size)
        header.error = CFUSE3_NOTIFY_RESEND
        header.unique = 0
        let n = withUnsafeBytes(of: &header) { write(fd, $0.baseAddress, $0.count) }
        return n == MemoryLayout<fuse_out_header>.size
    }

    // MARK: Probe

    /// The name looked up at the mount's root to check that this
    /// descriptor serves it: answered ENOENT, never cached.
    static let probePrefix = ".swift-lxcfs-probe-"

    /// Whether `request` is the probe; records that it arrived.
    func isProbe(_ request: FUSERequest) -> Bool {
        guard request.opcode == FUSE_LOOKUP.rawValue, request.nodeID == UInt64(FUSE_ROOT_ID) else { return false }
        return probe.withLock { p in
            guard let name = p.name, request.name() == name else { return false }
            p.seen = true
            return true
        }
    }

    /// Checks that this descriptor serves `mountPoint`: a thread looks up
    /// a random name at its root, and this thread reads requests until that
    /// lookup arrives or `timeout` passes. Requests read meanwhile are kept
    /// and returned, to be handled once serving starts (they are answered
    /// only when the probe arrived).
    /// - Returns: whether the probe arrived, and the other requests read.
    public func confirmServes(_ mountPoint: String, timeout: Double = 3) -> (confirmed: Bool, held: [[UInt8]]) {
        var token: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &token) { cfuse3_random($0.baseAddress, 8) }
        let name = Self.probePrefix + String(token, radix: 16)
        probe.withLock { $0 = (name, false) }
        let path = mountPoint + "/" + name
        if let t = startThread({
            var st = stat()
            _ = lstat(path, &st)
        }) { pthread_detach(t) }
        var held: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: parameters.bufferSize)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let deadline = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + timeout
        while true {
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = deadline - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if left <= 0 { return (false, held) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(left * 1000) + 1)
            if r <= 0 { continue }
            if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return (false, held) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ENOENT { continue }
                return (false, held)
            }
            guard n >= MemoryLayout<fuse_in_header>.size else { continue }
            let probed = buffer.withUnsafeBytes { raw -> Bool in
                let request = Self.request(in: UnsafeRawBufferPointer(rebasing: raw[..<n]))
                if isProbe(request) {
                    reply(request.unique, error: ENOENT)
                    return true
                }
                return false
            }
            if probed { return (true, held) }
            held.append(Array(buffer[..<n]))
        }
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
        let started = startThread { [self] in worker() }
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
            let n = read(fd, buffer.baseAddress, size)
            if n < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN || e == ENOENT { continue }
                if e == ENODEV {
                    // Unmounted: the kernel closed the connection.
                    if !ended.exchange(true, ordering: .sequentiallyConsistent) { onEnded?() }
                    return
                }
                logger.error("reading /dev/fuse failed: \(String(cString: strerror(e)))")
                usleep(10_000)
                continue
            }
            guard n >= MemoryLayout<fuse_in_header>.size else { continue }
            if idle.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
               live.load(ordering: .relaxed) < maxThreads, !stopping.load(ordering: .relaxed) {
                spawnWorker()
            }
            dispatch(UnsafeRawBufferPointer(rebasing: buffer[..<n]), cpuAtRead: cpu)
            idle.add(1, ordering: .sequentiallyConsistent)
        }
    }

    static func request(in raw: UnsafeRawBufferPointer) -> FUSERequest {
        let h = raw.loadUnaligned(as: fuse_in_header.self)
        let end = min(raw.count, max(Int(h.len), MemoryLayout<fuse_in_header>.size))
        return FUSERequest(unique: h.unique, opcode: h.opcode, nodeID: h.nodeid, uid: h.uid, gid: h.gid,
                           pid: Int32(bitPattern: h.pid),
                           argument: UnsafeRawBufferPointer(rebasing: raw[MemoryLayout<fuse_in_header>.size..<end]))
    }

    /// Answers one request read from the device.
    func dispatch(_ raw: UnsafeRawBufferPointer, cpuAtRead: UInt64 = 0) {
        var request = Self.request(in: raw)
        request.cpuAtRead = cpuAtRead
        switch request.opcode {
        case FUSE_FORGET.rawValue, FUSE_BATCH_FORGET.rawValue:
            // Node ids are a function of the path: nothing to forget.
            return
        case FUSE_INTERRUPT.rawValue:
            // The caller of request `unique` got a signal. Requests here are
            // answered at once, so this matters for one a dead predecessor
            // read and never answered: on a kernel without
            // FUSE_NOTIFY_RESEND (before 6.9) ending it with EINTR frees its
            // caller (a read with SA_RESTART is simply restarted). If the
            // request is being answered right now, one of the two replies
            // finds no request (ENOENT from the kernel) and is dropped.
            if let target = request.argument(as: UInt64.self) {
                reply(target, error: EINTR)
            }
            return
        case FUSE_INIT.rawValue:
            // Only a fresh mount sees INIT (negotiateInit); a second one is a protocol error.
            reply(request.unique, error: EPROTO)
        default:
            if isProbe(request) {
                reply(request.unique, error: ENOENT)
                return
            }
            handler.handle(request, on: self)
        }
    }
}

/// Starts a detached-joinable pthread running `body`; returns its handle,
/// or `nil` when it cannot start. The thread inherits the caller's signal mask.
@discardableResult
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    // 1 MiB of stack: rendering needs little (only touched pages count in RSS).
    pthread_attr_setstacksize(&attr, 1 << 20)
    defer { pthread_attr_destroy(&attr) }
    let rc = pthread_create(&thread, &attr, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return nil
    }
    return thread
}

/// Starts a detached thread running `body` (signals masked as the caller's).
public func startDetachedThread(_ body: @escaping @Sendable () -> Void) {
    if let t = startThread(body) { pthread_detach(t) }
}
