#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The lines of `/proc/PID/cgroup`, split in one place for every module: the
/// container cgroup and membership of a reader (LXCFSCore), the daemon's
/// own systemd unit (LXCFSFilesystem) and the container id of a mount
/// namespace (LXCFSReattach).
///
/// A line is, in cgroups(7)'s words, `hierarchy-ID:controller-list:cgroup-path`:
/// `5:cpu,cpuacct:/docker/ID` on a v1 hierarchy, `1:name=systemd:/user.slice`
/// on a named one, `0::/system.slice/x.service` on the unified (cgroup2)
/// hierarchy. The path may itself hold colons, so a line is cut at its
/// first two. Lines without two colons are skipped (the kernel writes none).
package enum ProcessCgroup {
    /// One line as byte offsets into its buffer: the hierarchy ID is
    /// `start..<firstColon`, the controller list `firstColon + 1..<secondColon`,
    /// the cgroup path `secondColon + 1..<end` (`end` is the newline's
    /// offset, or the buffer's end).
    package struct Line: Sendable, Hashable {
        package var start: Int
        package var firstColon: Int
        package var secondColon: Int
        package var end: Int

        /// A line from the offsets of its start, its first two colons and its end.
        @inlinable
        package init(start: Int, firstColon: Int, secondColon: Int, end: Int) {
            self.start = start
            self.firstColon = firstColon
            self.secondColon = secondColon
            self.end = end
        }

        /// The hierarchy ID's bytes (`0` for the unified hierarchy).
        @inlinable
        package var hierarchyID: Range<Int> { start..<firstColon }
        /// The controller list's bytes (`cpu,cpuacct`, `name=systemd`; empty on the unified hierarchy).
        @inlinable
        package var controllers: Range<Int> { (firstColon + 1)..<secondColon }
        /// The cgroup path's bytes, as the kernel prints it (relative to the
        /// reading process's cgroup namespace).
        @inlinable
        package var path: Range<Int> { (secondColon + 1)..<end }
        /// `ID:CONTROLLERS:`, the part that names the hierarchy, in bytes.
        @inlinable
        package var nameCount: Int { secondColon + 1 - start }
    }

    /// Calls `body` with each line of `text`, in file order, until it returns false.
    /// - Parameter text: the bytes of a `/proc/PID/cgroup`.
    @inlinable
    package static func forEachLine(_ text: UnsafeBufferPointer<UInt8>, _ body: (Line) -> Bool) {
        guard let base = text.baseAddress else { return }
        let newline = Int32(UInt8(ascii: "\n")), colon = Int32(UInt8(ascii: ":"))
        var start = 0
        while start < text.count {
            let nl = memchr(base + start, newline, text.count - start)
            let end = nl.map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) - base } ?? text.count
            if let p1 = memchr(base + start, colon, end - start) {
                let c1 = UnsafePointer(p1.assumingMemoryBound(to: UInt8.self)) - base
                if let p2 = memchr(base + c1 + 1, colon, end - c1 - 1) {
                    let c2 = UnsafePointer(p2.assumingMemoryBound(to: UInt8.self)) - base
                    if !body(Line(start: start, firstColon: c1, secondColon: c2, end: end)) { return }
                }
            }
            start = end + 1
        }
    }

    /// The lines of `text`, in file order.
    /// - Parameter text: the bytes of a `/proc/PID/cgroup`.
    @inlinable
    package static func lines(_ text: UnsafeBufferPointer<UInt8>) -> [Line] {
        var out: [Line] = []
        // One allocation: a v1 host has some 12 hierarchies.
        out.reserveCapacity(16)
        forEachLine(text) { out.append($0); return true }
        return out
    }

    /// The fields of each line of `text`, in file order, for callers that
    /// hold the file as a `String` (off the render path).
    /// - Parameter text: the text of a `/proc/PID/cgroup`.
    /// - Returns: one tuple per line: the hierarchy ID, the controller list, the cgroup path.
    package static func entries(_ text: String) -> [(hierarchyID: Substring, controllers: Substring, path: Substring)] {
        var text = text
        return text.withUTF8 { buffer in
            lines(buffer).map { line in
                (Substring(decoding: UnsafeBufferPointer(rebasing: buffer[line.hierarchyID]), as: UTF8.self),
                 Substring(decoding: UnsafeBufferPointer(rebasing: buffer[line.controllers]), as: UTF8.self),
                 Substring(decoding: UnsafeBufferPointer(rebasing: buffer[line.path]), as: UTF8.self))
            }
        }
    }
}
