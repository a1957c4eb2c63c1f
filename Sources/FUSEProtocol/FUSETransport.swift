#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What one receive brought.
public enum FUSEReceived: Sendable, Equatable {
    /// One message of this many bytes is in the buffer.
    case message(Int)
    /// Nothing yet: interrupted (EINTR, the wake signal), EAGAIN, or the
    /// kernel's ENOENT for a request aborted while it was being read.
    case retry
    /// The connection is gone (ENODEV: unmounted; end of file on a socket).
    case ended
    /// The read failed with this errno.
    case failed(FUSEErrno)
}

/// Reads requests and writes replies of one FUSE connection. Each call is
/// one message: a read returns one request whole, a send writes one reply
/// or notification whole. Both are called from many threads at once.
public protocol FUSETransport: Sendable {
    /// Blocks until a message arrives and copies it into `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> FUSEReceived
    /// Waits at most `milliseconds` for a message to be ready.
    /// - Returns: true when a receive would not block, false on timeout;
    ///   an error when the connection is gone (POLLERR, POLLHUP).
    func waitReadable(milliseconds: Int32) -> Result<Bool, FUSEErrno>
    /// Writes `header` and `payload` as one message.
    /// - Throws: the errno of the write (ENOENT: the request is no longer
    ///   waiting, as after an INTERRUPT; EINVAL: the kernel refused the reply).
    func send(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) throws(FUSEErrno)
}

/// The transport of a descriptor that keeps message boundaries: the
/// `/dev/fuse` open file (blocking), or, in tests, one end of an
/// `AF_UNIX`/`SOCK_SEQPACKET` socket pair.
public struct FileDescriptorTransport: FUSETransport {
    /// The descriptor; not closed here.
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }

    public func receive(into buffer: UnsafeMutableRawBufferPointer) -> FUSEReceived {
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n > 0 { return .message(n) }
        if n == 0 { return .ended }
        let e = errno
        switch e {
        case EINTR, EAGAIN, ENOENT: return .retry
        case ENODEV: return .ended
        default: return .failed(FUSEErrno(e))
        }
    }

    public func waitReadable(milliseconds: Int32) -> Result<Bool, FUSEErrno> {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = Glibc.poll(&p, 1, milliseconds)
        if r <= 0 { return .success(false) }
        if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return .failure(FUSEErrno(ENODEV)) }
        return .success(true)
    }

    public func send(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) throws(FUSEErrno) {
        var iov = (iovec(iov_base: UnsafeMutableRawPointer(mutating: header.baseAddress), iov_len: header.count),
                   iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count))
        let count: Int32 = payload.count > 0 ? 2 : 1
        let n = withUnsafePointer(to: &iov) {
            $0.withMemoryRebound(to: iovec.self, capacity: 2) { writev(fd, $0, count) }
        }
        if n < 0 { throw FUSEErrno(errno) }
        if n != header.count + (count == 2 ? payload.count : 0) { throw FUSEErrno(EIO) }
    }
}
