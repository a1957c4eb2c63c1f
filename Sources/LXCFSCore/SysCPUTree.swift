/// The mount's `sys/devices/system/cpu`: the host's directory, read-only,
/// seen through the reader's visible CPUs.
///
/// The visible CPUs are numbered from 0, as cpuinfo, stat and `online`
/// number them: the reader's `cpuK` is the host's `cpu{visible[K]}`, and
/// only `cpu0` to `cpu(N-1)` are listed. `online`, `possible` and `present`
/// say `0-(N-1)` and `offline` is empty; every other entry is the host's,
/// unchanged (files inside a `cpuK` folder, such as
/// `topology/thread_siblings_list`, keep the host's numbers).
///
/// What a path is (file, folder, link) and its attributes never depend on
/// the reader, because the kernel caches them for all readers: `cpuK`
/// exists for every host CPU folder and its entries are those of any host
/// CPU folder. What depends on the reader (which `cpuK` are listed, what
/// opening one gives) is decided on readdir, opendir and open, which the
/// kernel never caches.
package enum SysCPUTree {
    /// The folder's path, on the host and under the mount point.
    package static let prefix = "/sys/devices/system/cpu"

    /// The CPU number of a folder name `cpuN` (not `cpufreq`, `cpuidle`).
    package static func cpuNumber(ofName name: Substring) -> Int? {
        guard name.hasPrefix("cpu"), name.count > 3 else { return nil }
        let digits = name.dropFirst(3)
        guard digits.allSatisfy({ $0 >= "0" && $0 <= "9" }), digits.count < 6 else { return nil }
        return Int(digits)
    }

    /// Splits `prefix/cpuK[/rest]` into K and `/rest` (empty for the folder itself).
    /// - Returns: `nil` for paths outside a `cpuK` folder.
    package static func cpuComponent(_ path: String) -> (cpu: Int, rest: Substring)? {
        guard path.hasPrefix(prefix + "/") else { return nil }
        let tail = path.dropFirst(prefix.count + 1)
        let name = tail.prefix { $0 != "/" }
        guard let n = cpuNumber(ofName: name) else { return nil }
        return (n, tail.dropFirst(name.count))
    }

    /// True for paths strictly under the folder.
    package static func isInside(_ path: String) -> Bool {
        path.hasPrefix(prefix + "/")
    }

    /// The host path a reader reaches at `path`.
    /// - Parameters:
    ///   - path: a path under `prefix`, as seen under the mount point.
    ///   - visible: the reader's visible host CPUs, ascending.
    /// - Returns: the host path; `nil` for `cpuK` with K not below the visible count.
    package static func hostPath(_ path: String, visible: [Int]) -> String? {
        guard let (k, rest) = cpuComponent(path) else { return path }
        guard k < visible.count else { return nil }
        return prefix + "/cpu\(visible[k])" + rest
    }

    /// The entries a reader sees in the folder itself.
    /// - Parameters:
    ///   - host: the host folder's entries.
    ///   - virtualNames: the files the mount renders here (`online`, ...).
    ///   - visibleCount: how many CPUs the reader sees.
    /// - Returns: the names, virtual files first, then `cpu0...cpu(N-1)`,
    ///   then the host's other entries.
    package static func listing(host: [HostDirectoryEntry], virtualNames: [String], visibleCount: Int) -> [String] {
        var names = virtualNames
        names.append(contentsOf: (0..<visibleCount).map { "cpu\($0)" })
        let skip = Set(virtualNames)
        for e in host where !skip.contains(e.name) {
            if e.isDirectory, cpuNumber(ofName: e.name[...]) != nil { continue }
            names.append(e.name)
        }
        return names
    }

    /// The host paths whose attributes stand for `path` for every reader:
    /// the path itself, then, inside `cpuK`, the same entry in the other host
    /// CPU folders (so that an entry only some CPUs have, such as `online`,
    /// which cpu0 lacks on x86, exists for every `cpuK`).
    /// - Parameter hostCPUs: the host's CPU folder numbers.
    package static func attributeCandidates(_ path: String, hostCPUs: [Int]) -> [String] {
        guard let (k, rest) = cpuComponent(path), !rest.isEmpty else { return [path] }
        return [path] + hostCPUs.filter { $0 != k }.map { prefix + "/cpu\($0)" + rest }
    }
}
