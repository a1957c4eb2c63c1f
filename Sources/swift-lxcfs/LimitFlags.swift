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

    // Taken unconditionally, so that a negative number is the value (and refused by
    // `validate`), not an unknown option.
    @Option(name: .customLong("render-cache-ms"), parsing: .unconditional,
            help: "Milliseconds a rendering is reused for the readers of the same container and file (0: never). A re-read of an open file from offset 0, as top does, always renders afresh.")
    var renderCacheMilliseconds: Int = 20

    @Option(name: .customLong("container-cpu-budget"), parsing: .unconditional,
            help: "Daemon CPU one container's reads may use, in cores (0.1: 100 ms a second, with a 50 ms burst); past it they wait for their replies while other containers are served. 0: no budget.")
    var containerCPUBudget: Double = ContainerCPUBudget.defaultCores

    /// The CPU budget per container.
    var cpuBudget: ContainerCPUBudget { ContainerCPUBudget(cores: containerCPUBudget) }

    /// The render cache's tick in nanoseconds.
    var renderCacheTick: UInt64 { UInt64(max(0, renderCacheMilliseconds)) * 1_000_000 }

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
        guard containerCPUBudget >= 0, containerCPUBudget <= 1024 else {
            throw ValidationError("--container-cpu-budget takes 0 to 1024 cores, not \(containerCPUBudget).")
        }
        guard renderCacheMilliseconds >= 0, renderCacheMilliseconds <= 10_000 else {
            throw ValidationError("--render-cache-ms takes 0 to 10000 milliseconds, not \(renderCacheMilliseconds).")
        }
    }
}
