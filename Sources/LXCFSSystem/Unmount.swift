import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Unmounting, in one place.
package enum Unmount {
    /// Detaches the topmost mount at `path` in the calling thread's mount
    /// namespace (`umount2(path, MNT_DETACH)`): it leaves the tree at once
    /// and goes when its last user does.
    /// - Throws: `Errno` (EINVAL: not a mount point; EPERM: not allowed).
    package static func detach(_ path: String) throws(Errno) {
        _ = try systemCall { umount2(path, Int32(MNT_DETACH)) }
    }

    /// Detaches the topmost mount at `mountPoint`, with `fusermount3 -u -z`
    /// (the setuid helper, for a caller that is not root) when umount2 is refused.
    package static func detachFUSE(_ mountPoint: String) {
        if (try? detach(mountPoint)) != nil { return }
        var pid: pid_t = 0
        let words = ["fusermount3", "-u", "-z", mountPoint]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        if posix_spawnp(&pid, "fusermount3", nil, nil, argv, environ) == 0 {
            var status: Int32 = 0
            _ = try? systemCall { waitpid(pid, &status, 0) }
        }
    }
}
