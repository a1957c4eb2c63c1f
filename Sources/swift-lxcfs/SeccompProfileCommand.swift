import ArgumentParser
import LXCFSSeccomp
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swift-lxcfs seccomp-profile [--base FILE] [--socket PATH]`: prints a
/// seccomp profile that sends sysinfo(2) to the daemon's seccomp agent.
struct SeccompProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seccomp-profile",
        abstract: "Print a seccomp profile that sends sysinfo(2) to the daemon's seccomp agent.",
        discussion: """
            With --base, the profile is FILE (a runtime's own default, such as containers-common's \
            /usr/share/containers/seccomp.json, in the format Docker, podman and an OCI config's \
            linux.seccomp share) with listenerPath set to the agent's socket and one rule more: \
            sysinfo to SCMP_ACT_NOTIFY (sysinfo leaves the names of FILE's other rules). The \
            container keeps every protection FILE gives.

            Without --base it prints a minimal profile: every system call allowed \
            (defaultAction SCMP_ACT_ALLOW) and sysinfo sent to the agent. That is WEAKER than a \
            runtime's default profile, which denies dozens of calls: prefer --base.
            """
    )

    @Option(help: ArgumentHelp("The profile to start from (JSON).", valueName: "file"))
    var base: String?

    @Option(help: ArgumentHelp("The agent's socket (the daemon's --seccomp-socket).", valueName: "path"))
    var socket = AgentSocket.defaultPath

    func run() throws {
        let profile: JSONValue
        if let base {
            let bytes: [UInt8]
            do {
                let fd = try FileDescriptor.open(base, .readOnly, options: .closeOnExec)
                defer { try? fd.close() }
                bytes = try readAll(fd)
            } catch {
                printError("cannot read \(base): \(error).")
                throw ExitCode.failure
            }
            do {
                profile = try SeccompProfile.adding(to: bytes, socket: socket)
            } catch {
                printError("\(base): \(error).")
                throw ExitCode.failure
            }
        } else {
            profile = SeccompProfile.minimal(socket: socket)
        }
        let bytes = Array(SeccompProfile.text(profile).utf8)
        do {
            // A profile runs to tens of kB: written whole, however the pipe takes it.
            _ = try bytes.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
        } catch {
            printError("cannot write the profile: \(error).")
            throw ExitCode.failure
        }
    }

    func readAll(_ fd: FileDescriptor) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
            if bytes.count > 16 << 20 { throw Errno.fileTooLarge }
        }
    }
}
