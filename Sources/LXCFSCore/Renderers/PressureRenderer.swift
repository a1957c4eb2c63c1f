/// Renders `/proc/pressure/{cpu,io,memory}`: the cgroup's v2 `*.pressure`
/// file (`some avg10=.. avg60=.. avg300=.. total=..` and a `full` line),
/// else the host's file.
package enum PressureRenderer {
    /// - Parameters:
    ///   - cgroup: the cgroup's pressure file; `nil` on v1.
    ///   - host: the host's `/proc/pressure` file; `nil` where the host has none.
    /// - Returns: the file's bytes, or `nil` when neither exists (ENOENT).
    package static func render(cgroup: [UInt8]?, host: [UInt8]?) -> [UInt8]? {
        if let cgroup, ByteParser.hasPrefix(cgroup[...], "some") || ByteParser.hasPrefix(cgroup[...], "full") {
            return cgroup
        }
        return host
    }
}

/// Renders `/proc/slabinfo`: the cgroup's v1 `memory.kmem.slabinfo` where
/// that is non-empty, else the host's file (as lxcfs serves it).
package enum SlabinfoRenderer {
    /// - Parameters:
    ///   - cgroup: the cgroup's `memory.kmem.slabinfo`; `nil` when missing or empty.
    ///   - host: the host's `/proc/slabinfo`.
    /// - Returns: the file's bytes.
    package static func render(cgroup: [UInt8]?, host: [UInt8]) -> [UInt8] {
        if let cgroup, !cgroup.isEmpty { return cgroup }
        return host
    }
}

/// Renders `/sys/devices/system/cpu/offline` for a reader: the visible CPUs
/// are numbered 0 to N-1 with no gaps, so none is offline: an empty line.
package enum CPUOfflineRenderer {
    package static func render() -> [UInt8] { [ByteParser.newline] }
}
