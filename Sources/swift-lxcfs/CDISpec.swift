import ArgumentParser
import LXCFSBinds
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swift-lxcfs cdi-spec`: prints a Container Device Interface spec (JSON)
/// whose device `swift-lxcfs.io/view=all` binds the daemon's files and the
/// cpu tree read-only over the container's own, for runtimes with CDI
/// (podman, Docker 28.2+, containerd 2.0, CRI-O).
struct CDISpec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdi-spec",
        abstract: "Print a CDI spec whose device swift-lxcfs.io/view=all binds the served files into a container.",
        discussion: """
            Write it where the runtime reads CDI specs, e.g. \
            'swift-lxcfs cdi-spec > /etc/cdi/swift-lxcfs.json', then run containers with \
            '--device swift-lxcfs.io/view=all'.
            """
    )

    /// The CDI kind (vendor/class) of the spec's device.
    static let kind = "swift-lxcfs.io/view"
    /// The spec's one device name.
    static let deviceName = "all"
    /// The lowest cdiVersion with everything this spec uses (mounts with
    /// options), which the CDI library itself writes for such a spec and every
    /// CDI runtime reads, podman 4.3 (Debian 12) included; see README.md.
    static let defaultVersion = "0.5.0"

    @Option(help: "The daemon's mount point (the hostPath of every mount).")
    var mountpoint = LXCFSBind.defaultMountPoint

    @Option(name: .customLong("cdi-version"), help: "The cdiVersion to write (1.0.0 is the current spec; podman 4.3 reads up to 0.5.0).")
    var cdiVersion = defaultVersion

    func validate() throws {
        guard mountpoint.hasPrefix("/") else { throw ValidationError("--mountpoint must be an absolute path") }
        let parts = cdiVersion.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            throw ValidationError("--cdi-version must be a version such as 0.5.0 or 1.0.0")
        }
    }

    func run() throws {
        let text = Self.render(mountPoint: mountpoint, version: cdiVersion)
        _ = text.withCString { write(1, $0, strlen($0)) }
    }

    /// The spec as JSON text (two-space indent, one trailing newline).
    static func render(mountPoint: String, version: String) -> String {
        let mounts = LXCFSBind.all.map { bind in
            """
                      {
                        "hostPath": \(json(bind.hostPath(under: mountPoint))),
                        "containerPath": \(json(bind.containerPath)),
                        "options": ["bind", "ro", "nosuid", "nodev"]
                      }
            """
        }.joined(separator: ",\n")
        return """
            {
              "cdiVersion": \(json(version)),
              "kind": \(json(kind)),
              "devices": [
                {
                  "name": \(json(deviceName)),
                  "containerEdits": {
                    "mounts": [
            \(mounts)
                    ]
                  }
                }
              ]
            }

            """
    }

    /// `s` as a JSON string literal.
    static func json(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
