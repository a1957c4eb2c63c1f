import ArgumentParser
import LXCFSFilesystem

/// The flags that bound what one container can cost the daemon.
struct LimitFlags: ParsableArguments {
    @Option(name: .customLong("snapshot-budget"),
            help: "The most memory all open handles' rendered snapshots may take, in bytes or with a K, M or G suffix (KiB, MiB, GiB). Past it the oldest are dropped. (default: 8M)")
    var snapshotBudget: String?

    @Option(name: .customLong("container-snapshot-budget"),
            help: "The most memory one container's snapshots may take (same units). (default: 4M)")
    var containerSnapshotBudget: String?

    /// The budget, or a one-sentence error.
    func budget() throws -> SnapshotBudget {
        func size(_ text: String?, _ flag: String, _ fallback: Int) throws -> Int {
            guard let text else { return fallback }
            guard let n = SnapshotBudget.parseSize(text) else {
                throw ValidationError("--\(flag) takes a size in bytes or with a K, M or G suffix, not '\(text)'.")
            }
            return n
        }
        return SnapshotBudget(totalBytes: try size(snapshotBudget, "snapshot-budget", SnapshotBudget.defaultTotalBytes),
                              perContainerBytes: try size(containerSnapshotBudget, "container-snapshot-budget",
                                                          SnapshotBudget.defaultPerContainerBytes))
    }

    func validate() throws {
        _ = try budget()
    }
}
