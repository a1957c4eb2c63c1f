import LXCFSMountInfo
import LXCFSSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What systemd is doing with the unit this process runs in: on SIGTERM,
/// the daemon must tell `systemctl restart` (hand the connection over in
/// the fd store, keep the mount) from `systemctl stop` (unmount, empty the
/// store). systemd sends the same SIGTERM for both; the job it runs for the
/// unit says which (`systemctl list-jobs UNIT`: `restart` or `stop`).
public enum SystemdUnit {
    /// The service this process runs in, such as `swift-lxcfs.service`, or
    /// `nil` when systemd did not start it (no `INVOCATION_ID`, which
    /// systemd sets for every service process and the supervisor removes
    /// for its child). Read from `/proc/self/cgroup`: the deepest path
    /// component ending in `.service` (the `name=systemd` hierarchy on v1,
    /// `0::` on v2).
    public static func ownUnit() -> String? {
        guard let id = getenv("INVOCATION_ID"), id.pointee != 0 else { return nil }
        guard let file = fopen("/proc/self/cgroup", "re") else { return nil }
        defer { fclose(file) }
        var text = ""
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let raw = line { text += String(cString: raw) }
        var found: String?
        for (id, controllers, path) in ProcessCgroup.entries(text)
        where controllers == "name=systemd" || (id == "0" && controllers.isEmpty) {
            if let unit = path.split(separator: "/").last(where: { $0.hasSuffix(".service") }) {
                found = String(unit)
            }
        }
        return found
    }

    /// Whether systemd runs a restart job for `unit` now, asked with
    /// `systemctl list-jobs --no-legend --plain UNIT` (at most 5 s).
    /// `false` when systemctl cannot be run or does not answer in time: the
    /// caller then takes the stop for a final one, which leaves no dead mount.
    public static func restartJobPending(unit: String) -> Bool {
        let candidates: [String] = ["/usr/bin/systemctl", "/bin/systemctl"]
        guard let systemctl = candidates.first(where: { access($0, X_OK) == 0 }) else {
            return false
        }
        let words: [String] = [systemctl, "list-jobs", "--no-legend", "--plain", unit]
        // Standard error to /dev/null; killed after 5 s (ETIMEDOUT).
        guard let finished = try? Spawn.run(systemctl, arguments: words, timeout: 5000, capture: true,
                                            capacity: 4096, standardError: .null),
              !finished.output.isEmpty else { return false }
        let text = String(decoding: finished.output, as: UTF8.self)
        return Self.listsRestart(text, unit: unit)
    }

    /// True when `list-jobs` output (`ID UNIT TYPE STATE` lines) has a
    /// `restart` or `try-restart` job for `unit`.
    public static func listsRestart(_ listJobs: String, unit: String) -> Bool {
        for line in listJobs.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 3, fields[1] == unit, fields[2] == "restart" || fields[2] == "try-restart" {
                return true
            }
        }
        return false
    }
}
