import ArgumentParser
import Dispatch
import LXCFSWebhook
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The entry point: a command-line error is one sentence on standard error
/// and exit status 64 or 1; help exits 0.
@main
enum WebhookEntry {
    static func main() {
        do {
            var command = try Webhook.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
            try command.run()
        } catch {
            let code = Webhook.exitCode(for: error)
            if code == .success { Webhook.exit(withError: error) }
            var sentence = Webhook.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid command line"
            while sentence.hasSuffix(".") { sentence.removeLast() }
            if sentence.hasPrefix("Error: ") { sentence.removeFirst(7) }
            log("\(sentence); see 'swift-lxcfs webhook --help'.")
            exit(code.rawValue)
        }
    }
}

/// `swift-lxcfs webhook` (this program, which `swift-lxcfs` execs): the
/// mutating admission webhook that binds the daemon's files into new pods.
struct Webhook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-lxcfs webhook",
        abstract: "Serve the mutating admission webhook that binds swift-lxcfs's files into new pods, over HTTPS.",
        discussion: """
            POST /mutate takes an admission.k8s.io/v1 AdmissionReview and answers with a JSONPatch that adds \
            hostPath volumes under MOUNTPOINT and read-only volumeMounts of proc/{cpuinfo,diskstats,loadavg,\
            meminfo,slabinfo,stat,swaps,uptime} and sys/devices/system/cpu to every container and init \
            container that lacks them. GET /healthz answers ok. The certificate and key are re-read when \
            their files change.
            """
    )

    @Option(name: .customLong("tls-cert-file"), help: "The serving certificate chain (PEM).")
    var certificateFile: String

    @Option(name: .customLong("tls-private-key-file"), help: "The serving certificate's private key (PEM).")
    var privateKeyFile: String

    @Option(help: "The TCP port to listen on.")
    var port = 8443

    @Option(help: "The address to listen on.")
    var address = "0.0.0.0"

    @Option(help: "The daemon's mount point on the nodes; the hostPath volumes are under it.")
    var mountpoint = "/var/lib/lxcfs"

    @Option(name: .customLong("max-body-bytes"), help: "The largest request body accepted; a larger one gets 400.")
    var maxBodyBytes = 4 * 1024 * 1024

    @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may stay silent (in the TLS handshake or between requests) before it is closed.")
    var idleTimeout = 60

    func validate() throws {
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be a positive number of seconds") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        guard mountpoint.hasPrefix("/") else { throw ValidationError("--mountpoint must be an absolute path") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let certificatePath = certificateFile
        for file in [certificateFile, privateKeyFile] where access(file, R_OK) != 0 {
            fail("cannot read \(file): \(String(cString: strerror(errno))).")
        }
        let store: CertificateStore
        do {
            store = try CertificateStore(certificatePath: certificateFile, privateKeyPath: privateKeyFile) { result in
                switch result {
                case .success: log("loaded the rotated certificate from \(certificatePath)")
                case .failure(let error): log("kept the previous certificate: the changed files do not load (\(error))")
                }
            }
        } catch {
            fail("cannot load the certificate \(certificateFile) and key \(privateKeyFile) as PEM, or they do not match (\(error)).")
        }
        let injector = PodInjector(mountPoint: mountpoint)
        let limit = maxBodyBytes
        let idle = TimeAmount.seconds(Int64(idleTimeout))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(4, System.coreCount)))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // A client that sends nothing for `idle` loses its connection.
                    try sync.addHandler(IdleStateHandler(readTimeout: idle))
                    try sync.addHandler(IdleCloser())
                    try sync.addHandler(NIOSSLServerHandler(context: store.context()))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(WebhookHandler(injector: injector, maxBodyBytes: limit))
                }
            }
        let channel: Channel
        do {
            channel = try bootstrap.bind(host: address, port: port).wait()
        } catch {
            fail("cannot listen on \(address):\(port) (\(error)).")
        }
        log("serving the admission webhook on https://\(address):\(port) (POST /mutate, GET /healthz), mount point \(mountpoint)")
        // SIGTERM and SIGINT close the listener and end the process with 0.
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { channel.close(promise: nil) }
            source.resume()
            return source
        }
        try? channel.closeFuture.wait()
        signals.forEach { $0.cancel() }
        try? group.syncShutdownGracefully()
        log("stopped")
    }
}

/// Closes the connection on IdleStateHandler's read timeout.
final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

func log(_ line: String) {
    let text = "swift-lxcfs webhook: \(line)\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func fail(_ sentence: String) -> Never {
    log(sentence)
    exit(1)
}
