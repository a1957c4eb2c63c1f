import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `swift-lxcfs webhook ARGUMENTS...`: the admission webhook, passed on whole
/// (`--help` included) to its own program.
struct WebhookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Run the Kubernetes admission webhook (the program swift-lxcfs-webhook beside this one).",
        // `--help` is passed on to the webhook program, which answers it.
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "The webhook's options ('swift-lxcfs webhook --help' lists them).")
    var arguments: [String] = []

    func run() throws { WebhookLauncher.exec(arguments) }
}

/// `swift-lxcfs webhook ...` runs the admission webhook, a program of its own
/// (`swift-lxcfs-webhook`, so that the daemon links no HTTP or TLS code),
/// found in the folder of this executable, with the same arguments.
enum WebhookLauncher {
    /// The webhook program's file name, next to `swift-lxcfs`.
    static let programName = "swift-lxcfs-webhook"

    /// Replaces this process with the webhook program; returns only when it
    /// cannot (exit status 1, with one sentence on standard error).
    static func exec(_ arguments: [String]) -> Never {
        let path = siblingPath()
        guard access(path, X_OK) == 0 else {
            printError("the webhook is the program \(programName), which is not installed next to this one (\(path) is missing); install it from the same build (swift build -c release --static-swift-stdlib, .build/release/\(programName)).")
            exit(1)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        execv(path, &argv)
        printError("cannot run \(path): \(String(cString: strerror(errno))).")
        exit(1)
    }

    /// `DIR/swift-lxcfs-webhook`, DIR being the folder of /proc/self/exe.
    static func siblingPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let dir = exe.lastIndex(of: "/").map { String(exe[..<$0]) } ?? "."
        return (dir.isEmpty ? "" : dir) + "/" + programName
    }
}
