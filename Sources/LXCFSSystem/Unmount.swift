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
        if let pid = try? Spawn.start("fusermount3", arguments: ["fusermount3", "-u", "-z", mountPoint],
                                      searchPath: true) {
            _ = try? Spawn.wait(pid)
        }
    }
}
