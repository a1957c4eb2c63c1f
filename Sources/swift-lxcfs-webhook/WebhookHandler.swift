import LXCFSWebhook
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection of the webhook: `POST /mutate` (AdmissionReview
/// in, AdmissionReview out) and `GET /healthz`. A body over `maxBodyBytes`,
/// or one that is not an AdmissionReview, gets 400 with a one-sentence
/// reason; the connection is closed after an oversized body.
final class WebhookHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Route { case mutate, healthz, notFound, methodNotAllowed }

    let injector: PodInjector
    let maxBodyBytes: Int
    private var route = Route.notFound
    private var keepAlive = true
    private var body: ByteBuffer?
    private var oversized = false

    init(injector: PodInjector, maxBodyBytes: Int) {
        self.injector = injector
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            oversized = false
            body = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            switch (path, head.method) {
            case ("/mutate", .POST): route = .mutate
            case ("/healthz", .GET): route = .healthz
            case ("/mutate", _), ("/healthz", _): route = .methodNotAllowed
            default: route = .notFound
            }
            if route == .mutate, let length = head.headers.first(name: "content-length").flatMap({ Int($0) }),
               length > maxBodyBytes {
                oversized = true
            }
        case .body(var chunk):
            guard route == .mutate, !oversized else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes {
                oversized = true
                body = nil
                return
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            respond(context: context)
        }
    }

    private func respond(context: ChannelHandlerContext) {
        switch route {
        case .healthz:
            send(context: context, status: .ok, type: "text/plain; charset=utf-8", body: Array("ok\n".utf8))
        case .notFound:
            send(context: context, status: .notFound, type: "text/plain; charset=utf-8",
                 body: Array("Only POST /mutate and GET /healthz are served.\n".utf8))
        case .methodNotAllowed:
            send(context: context, status: .methodNotAllowed, type: "text/plain; charset=utf-8",
                 body: Array("/mutate takes POST and /healthz takes GET.\n".utf8))
        case .mutate:
            if oversized {
                keepAlive = false
                send(context: context, status: .badRequest, type: "text/plain; charset=utf-8",
                     body: Array("The body is larger than \(maxBodyBytes) bytes.\n".utf8))
                return
            }
            let bytes = body.map { Array($0.readableBytesView) } ?? []
            body = nil
            switch injector.review(bytes) {
            case .review(let json):
                send(context: context, status: .ok, type: "application/json", body: json)
            case .badRequest(let reason):
                send(context: context, status: .badRequest, type: "text/plain; charset=utf-8", body: Array((reason + "\n").utf8))
            }
        }
    }

    private func send(context: ChannelHandlerContext, status: HTTPResponseStatus, type: String, body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.count))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let close = !keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A TLS or HTTP error ends this connection only.
        context.close(promise: nil)
    }
}
