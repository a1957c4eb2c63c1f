import ArgumentParser

/// `swift-lxcfs supervise [--takeover] [--ready-file FILE] [OPTIONS] [MOUNTPOINT]`:
/// runs the server (`swift-lxcfs [OPTIONS] [MOUNTPOINT]`) as a child and
/// holds its FUSE connection across the child's crashes and restarts
/// (see `Supervisor`). The server's options are checked here, then passed on.
struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervise",
        abstract: "Run the server and start it again when it dies, holding the FUSE connection meanwhile.",
        usage: "swift-lxcfs supervise [--takeover] [--ready-file FILE] [OPTIONS] [MOUNTPOINT]",
        discussion: """
            Runs 'swift-lxcfs [OPTIONS] [MOUNTPOINT]' and starts it again when it dies, holding \
            the FUSE connection's descriptors meanwhile, so the mount and the bind mounts made \
            from it keep working. OPTIONS are the server's (see 'swift-lxcfs serve --help').

            SIGTERM or SIGINT: final stop (the server unmounts). SIGHUP: restart the server \
            without unmounting. A server that hands the connection over (--takeover from \
            elsewhere) leaves this supervisor idle until SIGTERM; it then exits 0 and leaves \
            the mount to its successor.
            """
    )

    @Flag(name: .customLong("takeover"), help: "The first server takes the connection over from the swift-lxcfs that serves MOUNTPOINT now (a live upgrade).")
    var takeover = false

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Written with the serving child's pid once it is ready, removed when it stops (for a readiness probe).", valueName: "FILE"))
    var readyFile: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The server's options and mount point, passed on as they are.", valueName: "OPTIONS"))
    var serverArguments: [String] = []

    /// The server's command line, checked as `serve` parses it.
    var server: Serve {
        get throws { try Serve.parse(serverArguments) }
    }

    func validate() throws {
        let parsed: Serve
        do {
            parsed = try server
        } catch {
            throw ValidationError(SwiftLXCFS.sentence(for: error))
        }
        guard parsed.mountpoint.hasPrefix("/") else {
            throw ValidationError("the mount point \(parsed.mountpoint) must be an absolute path")
        }
    }

    func run() throws {
        let parsed = try server
        let logger = makeLogger(debug: parsed.debug)
        let status = Supervisor(serverArguments: serverArguments, mountPoint: parsed.mountpoint, takeover: takeover,
                                readyFile: readyFile, logger: logger).run()
        if status != 0 { throw ExitCode(status) }
    }
}
