import CLinux
import Logging
import LXCFSCore
import LXCFSMountInfo
import LXCFSSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The supervisor loop's file and namespace chores: the final clean-up in
/// the host's mount namespace, the ready file, the child's environment.
extension Supervisor.Loop {
        /// After a final stop: detaches, in the host's mount namespace,
        /// every FUSE mount of the served superblock still there. A server
        /// in a container unmounts in its own namespace, and that reaches the
        /// host only through mount propagation, which fails when the
        /// container's volume is itself a bind of the FUSE mount (a container
        /// started with its volume on a mount that already served, as after
        /// a takeover): the host would keep a dead mount, and a dead mount at
        /// a hostPath keeps the next pod from starting. The host's namespace
        /// is that of the nearest ancestor process in another mount
        /// namespace (the container runtime's shim, with the host's pids),
        /// else pid 1's; nothing is done where there is none.
        /// - Returns: false when a detach failed.
        func detachInHostNamespace() -> Bool {
            guard let device = servedDevice else { return true }
            guard let host = Self.hostNamespaceProcess(),
                  let bytes = HostRoot().read("/proc/\(host)/mountinfo", sizeHint: 65536) else {
                logger.debug("no other mount namespace to clean up", metadata: ["device": "\(device)"])
                return true
            }
            let targets = MountInfo.entries(bytes[...])
                .filter { $0.device == device && $0.fsType.hasPrefix("fuse") }
                .map(\.mountPoint)
            guard !targets.isEmpty else { return true }
            let entered: Errno?
            do throws(Errno) {
                let nsFD = FileDescriptor(rawValue: try systemCall { open("/proc/\(host)/ns/mnt", O_RDONLY | O_CLOEXEC) })
                entered = clinux_setns(nsFD.rawValue, CLINUX_CLONE_NEWNS) == 0 ? nil : Errno.current
                try? nsFD.close()
            } catch {
                entered = error
            }
            if let entered {
                logger.error("cannot enter the host's mount namespace to detach \(targets.joined(separator: ", ")): \(String(cString: strerror(entered.rawValue)))")
                return false
            }
            var detached = true
            for target in targets.sorted(by: { $0.count > $1.count }) {
                do {
                    try Unmount.detach(target)
                    logger.info("detached the mount in the host's mount namespace", metadata: ["mountpoint": "\(target)"])
                } catch {
                    logger.error("cannot detach \(target) in the host's mount namespace: \(String(cString: strerror(error.rawValue)))")
                    detached = false
                }
            }
            return detached
        }

        /// The nearest ancestor whose mount namespace differs from this
        /// process's (and can be read), else pid 1 when its differs; `nil`
        /// when every readable one is this namespace.
        static func hostNamespaceProcess() -> pid_t? {
            guard let own = namespace(of: "self") else { return nil }
            var pid = getppid()
            var steps = 0
            while pid > 1 && steps < 64 {
                if let ns = namespace(of: "\(pid)"), ns != own { return pid }
                guard let stat = HostRoot().read("/proc/\(pid)/stat"),
                      let close = stat.lastIndex(of: UInt8(ascii: ")")) else { break }
                let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
                guard fields.count > 1, let parent = Int32(String(decoding: fields[1], as: UTF8.self)) else { break }
                pid = parent
                steps += 1
            }
            if let ns = namespace(of: "1"), ns != own { return 1 }
            return nil
        }

        /// `/proc/PID/ns/mnt`'s target, such as `mnt:[4026531841]`.
        static func namespace(of pid: String) -> String? {
            var buffer = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/\(pid)/ns/mnt", &buffer, 63)
            guard n > 0 else { return nil }
            return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        func writeReadyFile(pid: Int32) {
            guard let path = config.readyFile else { return }
            let fd: FileDescriptor
            do throws(Errno) {
                fd = FileDescriptor(rawValue: try systemCall { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) })
            } catch {
                logger.warning("cannot write the ready file \(path): \(String(cString: strerror(error.rawValue)))")
                return
            }
            _ = try? fd.writeAll("\(pid)\n".utf8)
            try? fd.close()
        }

        func removeReadyFile() {
            if let path = config.readyFile { unlink(path) }
        }

        /// Variables the supervisor sets for its child itself, or leaves out:
        /// the child's fd-store protocol is with this supervisor only, and
        /// INVOCATION_ID would tell the server it runs under systemd.
        static let replaced: Set<String> = ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "INVOCATION_ID"]

        static func environment() -> [(String, String)] {
            var out: [(String, String)] = []
            var pointer = environ
            while let entry = pointer.pointee {
                let s = String(cString: entry)
                if let eq = s.firstIndex(of: "=") {
                    out.append((String(s[..<eq]), String(s[s.index(after: eq)...])))
                }
                pointer += 1
            }
            return out
        }
}
