import CLinux
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Messages with descriptors over AF_UNIX sockets (SCM_RIGHTS, unix(7)),
/// and the sender's credentials (SCM_CREDENTIALS, with SO_PASSCRED on the
/// receiving socket): sd_notify's fd store and the takeover socket.
package enum DescriptorPassing {
    /// Most descriptors one message carries when sent (systemd takes 253;
    /// swift-lxcfs sends at most 2).
    package static let sendLimit = 8
    /// Room for the control data of a received message: credentials and 253 descriptors.
    static let controlCapacity = clinux_cmsg_space(12) + clinux_cmsg_space(4 * 253)

    /// What one `receive` got.
    package struct Received {
        /// The bytes the message had (more than the buffer when `truncated`).
        package var count: Int
        /// The descriptors that came with it (close-on-exec), at most the limit asked for.
        package var descriptors: [FileDescriptor]
        /// The sender's pid and uid (SCM_CREDENTIALS), when the socket passes them.
        package var sender: (pid: Int32, uid: UInt32)?
        /// Whether the message or its control data did not fit (MSG_TRUNC, MSG_CTRUNC).
        package var truncated: Bool
    }

    /// Sends one message of `bytes` with `descriptors` (at most `sendLimit`)
    /// as SCM_RIGHTS on `socket`, to `address` when given (a datagram);
    /// without SIGPIPE (MSG_NOSIGNAL). EINTR is retried.
    /// - Returns: the bytes sent.
    /// - Throws: `Errno` (EINVAL: too many descriptors).
    package static func send(_ socket: FileDescriptor, _ bytes: [UInt8], descriptors: [FileDescriptor] = [],
                             to address: (sockaddr_un, socklen_t)? = nil) throws(Errno) -> Int {
        guard descriptors.count <= sendLimit else { throw .invalidArgument }
        var name = address?.0 ?? sockaddr_un()
        let controlLength = descriptors.isEmpty ? 0 : clinux_cmsg_space(4 * descriptors.count)
        let control = UnsafeMutableRawPointer.allocate(byteCount: max(controlLength, 1),
                                                      alignment: MemoryLayout<cmsghdr>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: max(controlLength, 1))
        var bytes = bytes
        // Array's closures rethrow untyped errors: the result comes out as a Result.
        return try bytes.withUnsafeMutableBytes { buffer in Result { () throws(Errno) -> Int in
            var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return try withUnsafeMutablePointer(to: &iov) { (iovPointer) throws(Errno) -> Int in
                try withUnsafeMutablePointer(to: &name) { (namePointer) throws(Errno) -> Int in
                    var message = msghdr()
                    if let address {
                        message.msg_name = UnsafeMutableRawPointer(namePointer)
                        message.msg_namelen = address.1
                    }
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    if controlLength > 0 {
                        message.msg_control = control
                        message.msg_controllen = controlLength
                        let header = clinux_cmsg_firsthdr(&message)!
                        header.pointee.cmsg_level = SOL_SOCKET
                        header.pointee.cmsg_type = clinux_scm_rights
                        header.pointee.cmsg_len = clinux_cmsg_len(4 * descriptors.count)
                        let data = UnsafeMutableRawPointer(clinux_cmsg_data(header)!)
                        for (i, fd) in descriptors.enumerated() {
                            data.storeBytes(of: fd.rawValue, toByteOffset: 4 * i, as: Int32.self)
                        }
                    }
                    return try systemCall { sendmsg(socket.rawValue, &message, Int32(MSG_NOSIGNAL)) }
                }
            }
        } }.get()
    }

    /// Receives one message into `buffer` (close-on-exec descriptors,
    /// MSG_CMSG_CLOEXEC, plus `flags`), keeping at most `maxDescriptors`
    /// of the descriptors that came with it and closing the others. EINTR is retried.
    /// - Throws: `Errno` (EAGAIN: nothing waiting on a non-blocking call or
    ///   the receive timeout passed).
    package static func receive(_ socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer,
                                maxDescriptors: Int, flags: Int32 = 0) throws(Errno) -> Received {
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlCapacity, alignment: MemoryLayout<cmsghdr>.alignment)
        defer { control.deallocate() }
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        return try withUnsafeMutablePointer(to: &iov) { (iovPointer) throws(Errno) -> Received in
            var message = msghdr()
            message.msg_iov = iovPointer
            message.msg_iovlen = 1
            message.msg_control = control
            message.msg_controllen = controlCapacity
            let n = try systemCall { () -> Int in
                message.msg_controllen = controlCapacity
                return recvmsg(socket.rawValue, &message, Int32(MSG_CMSG_CLOEXEC) | flags)
            }
            var received = Received(count: n, descriptors: [], sender: nil,
                                    truncated: message.msg_flags & Int32(MSG_TRUNC | MSG_CTRUNC) != 0)
            var next = clinux_cmsg_firsthdr(&message)
            while let header = next {
                let data = UnsafeRawPointer(clinux_cmsg_data(header)!)
                if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == clinux_scm_rights {
                    let count = (Int(header.pointee.cmsg_len) - clinux_cmsg_len(0)) / 4
                    for i in 0..<count {
                        let fd = FileDescriptor(rawValue: data.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                        if received.descriptors.count < maxDescriptors {
                            received.descriptors.append(fd)
                        } else {
                            try? fd.close()
                        }
                    }
                } else if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == clinux_scm_credentials,
                          header.pointee.cmsg_len == clinux_cmsg_len(12) {
                    // struct ucred: pid, uid, gid.
                    received.sender = (data.loadUnaligned(fromByteOffset: 0, as: Int32.self),
                                       data.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                }
                next = clinux_cmsg_nxthdr(&message, header)
            }
            return received
        }
    }
}
