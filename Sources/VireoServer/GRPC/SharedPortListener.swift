import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The public listener: one port for REST and gRPC, as Milvus serves both on 19530.
///
/// ## How one port serves both
/// A gRPC client (HTTP/2 with prior knowledge, "h2c") opens every connection with the 24-byte
/// preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`; an HTTP/1.1 request starts with a method token. This
/// listener reads the first bytes of each connection (at most 24) and then:
/// - **gRPC**: hands the connection to ``H2CServerTransport/adopt(_:)``, which puts the HTTP/2
///   pipeline on this very channel, and replays the bytes read so far into it. The transport is
///   ours, so it can take an accepted connection — no second listener, no loopback hop.
/// - **HTTP/1.1**: Hummingbird cannot be handed an accepted connection (its server owns its
///   bootstrap, and a NIO async server bootstrap registers a child channel only after its
///   initializer finished, so its pipeline cannot be chosen by the first bytes). REST therefore
///   listens on a loopback-only ephemeral port, and this listener connects to it on the same event
///   loop and splices the two channels together, with backpressure (a side reads only while the
///   other can write) and orderly close (pending writes are flushed before the partner closes). The
///   cost is one loopback hop per REST request (tens of microseconds); the gain is Hummingbird
///   exactly as it runs standalone.
///
/// Connections are a budget:
/// - a connection that sends nothing decisive within `sniffTimeout` is closed (slowloris on the
///   shared port: the sniffer never waits forever for a preface);
/// - a connection with no read and no completed write for `idleTimeout` is closed, REST or gRPC
///   (this also ends connections whose client stopped reading: their writes never complete);
/// - at most `maxConnections` are open at once; a connection past the cap is closed as soon as it
///   is accepted, so the file descriptors and memory of one client's flood stay bounded.
final class SharedPortListener: Sendable {
    enum Target: Sendable { case http1, grpc }

    let host: String
    let port: Int
    let grpc: H2CServerTransport
    let logger: Logger
    let sniffTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let maxConnections: Int
    /// Connections open now (accepted and not yet closed).
    let openConnections = Atomic<Int>(0)
    private let channel = Mutex<(any Channel)?>(nil)

    init(host: String, port: Int, grpc: H2CServerTransport, logger: Logger, sniffTimeout: TimeAmount = .seconds(10),
         idleTimeout: TimeAmount = .seconds(300), maxConnections: Int = 4096) {
        self.host = host
        self.port = port
        self.grpc = grpc
        self.logger = logger
        self.sniffTimeout = sniffTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// Binds and returns the bound port; HTTP/1.1 connections go to `restPort` on 127.0.0.1, gRPC
    /// connections to the transport.
    func bind(restPort: Int) async throws -> Int {
        let timeout = sniffTimeout
        let idle = idleTimeout
        let logger = logger
        let grpc = grpc
        let cap = maxConnections
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] child in
                let open = openConnections.wrappingAdd(1, ordering: .relaxed).newValue
                child.closeFuture.whenComplete { _ in self.openConnections.wrappingSubtract(1, ordering: .relaxed) }
                guard open <= cap else {
                    logger.warning("shared port: connection refused, \(cap) connections are open (--max-connections)")
                    child.close(promise: nil)
                    return child.eventLoop.makeSucceededVoidFuture()
                }
                return child.eventLoop.makeCompletedFuture {
                    let sync = child.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: idle))
                    try sync.addHandler(IdleConnectionCloser())
                    try sync.addHandler(ProtocolSniffer(restPort: restPort, grpc: grpc, timeout: timeout, logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = server }
        return server.localAddress?.port ?? port
    }

    /// Stops accepting connections (open ones continue until either side closes).
    func close() {
        let c = channel.withLock { c -> (any Channel)? in
            defer { c = nil }
            return c
        }
        c?.close(promise: nil)
    }

    var closeFuture: EventLoopFuture<Void>? { channel.withLock { $0?.closeFuture } }
}

/// Reads the start of a connection and picks its server: the gRPC transport on this channel, or
/// REST through a splice to the loopback listener.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let restPort: Int
    private let grpc: H2CServerTransport
    private let timeout: TimeAmount
    private let logger: Logger
    private var buffered: ByteBuffer?
    private var decided = false
    private var timer: Scheduled<Void>?

    init(restPort: Int, grpc: H2CServerTransport, timeout: TimeAmount, logger: Logger) {
        self.restPort = restPort
        self.grpc = grpc
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            if !self.decidedAndConnected { context.close(promise: nil) }
        }
    }

    private var decidedAndConnected = false

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        guard !decided, let bytes = buffered?.readableBytesView else { return }
        var target: SharedPortListener.Target?
        let n = min(bytes.count, Self.preface.count)
        if !bytes.prefix(n).elementsEqual(Self.preface.prefix(n)) {
            target = .http1
        } else if n == Self.preface.count {
            target = .grpc
        }
        guard let target else { return }  // a prefix of the preface: wait for more bytes
        decided = true
        switch target {
        case .grpc: serveGRPC(context: context)
        case .http1: connect(context: context, port: restPort)
        }
    }

    /// Puts the HTTP/2 pipeline after this handler, replays the bytes read so far into it, and leaves.
    private func serveGRPC(context: ChannelHandlerContext) {
        do {
            // HTTP/2 manages idleness itself, gracefully (GOAWAY after --idle-timeout without streams,
            // keepalive PINGs for vanished peers): the raw idle closer is for HTTP/1 only.
            let sync = context.pipeline.syncOperations
            if let idle = try? sync.handler(type: IdleStateHandler.self) { sync.removeHandler(idle, promise: nil) }
            if let closer = try? sync.handler(type: IdleConnectionCloser.self) { sync.removeHandler(closer, promise: nil) }
            try grpc.adopt(context.channel)
        } catch {
            logger.error("shared port: cannot set up HTTP/2 on a connection", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return
        }
        decidedAndConnected = true
        timer?.cancel()
        if let bytes = buffered, bytes.readableBytes > 0 {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        buffered = nil
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func connect(context: ChannelHandlerContext, port: Int) {
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case let .success(peer):
                    self.splice(context: context, peer: peer)
                case let .failure(error):
                    self.logger.error("shared port: cannot reach the internal server", metadata: ["port": "\(port)", "error": "\(error)"])
                    context.close(promise: nil)
                }
            }
    }

    private func splice(context: ChannelHandlerContext, peer: any Channel) {
        guard context.channel.isActive else {
            peer.close(promise: nil)
            return
        }
        let (mine, theirs) = Splice.pair()
        do {
            try peer.pipeline.syncOperations.addHandler(theirs)
            try context.pipeline.syncOperations.addHandler(mine, position: .after(self))
        } catch {
            peer.close(promise: nil)
            context.close(promise: nil)
            return
        }
        decidedAndConnected = true
        if let b = buffered, b.readableBytes > 0 { peer.writeAndFlush(b, promise: nil) }
        buffered = nil
        peer.setOption(.autoRead, value: true).whenFailure { _ in }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }
}

/// Closes its connection on an `IdleStateEvent` (no read and no completed write for the idle
/// timeout); other events pass on.
final class IdleConnectionCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// One side of two spliced channels: what one reads, the other writes.
final class Splice: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: Splice?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair() -> (Splice, Splice) {
        let a = Splice()
        let b = Splice()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    // The partner's calls (both channels share one event loop).
    private func partnerWrite(_ data: NIOAny) { context?.write(data, promise: nil) }
    private func partnerFlush() { context?.flush() }
    private var partnerWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerClose() {
        guard let context else { return }
        // Flush what is queued first; close once it is written (writes complete in order).
        context.writeAndFlush(NIOAny(ByteBuffer())).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.partnerWrite(data) }
    func channelReadComplete(context: ChannelHandlerContext) { partner?.partnerFlush() }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partner?.partnerClose()
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerWritable ?? false { context.read() } else { pendingRead = true }
    }
}
