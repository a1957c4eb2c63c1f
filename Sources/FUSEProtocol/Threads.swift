#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a joinable pthread running `body`; returns its handle, or `nil`
/// when it cannot start. The thread inherits the caller's signal mask and
/// has 1 MiB of stack.
@discardableResult
public func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
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
