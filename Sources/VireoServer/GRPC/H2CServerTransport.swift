import GRPCCore
import NIOCore
import NIOHTTP2
import Synchronization

/// GRPCCore's `ServerTransport` over plaintext HTTP/2 with prior knowledge ("h2c"), built directly
/// on swift-nio-http2, so Vireo needs no TLS stack to serve gRPC. `GRPCServer`, interceptors and
/// the generated service stubs run on it unchanged.
///
/// ## What it implements
/// - Connections: it does not listen itself. ``SharedPortListener`` reads the first bytes of each
///   accepted connection and hands the ones that start with the HTTP/2 client preface to
///   ``adopt(_:)``, which puts swift-nio-http2's handler (inline stream multiplexer) and its
///   `NIOHTTP2ServerConnectionManagementHandler` on that connection's pipeline; the preface is then
///   replayed into it. So gRPC is served on the public port without a loopback hop.
/// - HTTP/2 settings (``Configuration``): max concurrent streams, max frame size, initial window
///   size / stream and connection target windows, max header list size. PINGs (clients'
///   keepalives, and grpc-go's and grpc-java's BDP probes) are answered by swift-nio-http2 itself,
///   whose control-frame flood limit is raised to what those clients send (``Configuration``).
/// - Streams: one task per HTTP/2 stream. ``H2CStreamHandler`` (on the event loop) parses the request
///   headers, cuts length-prefixed messages, enforces the message size limit and writes response
///   headers, messages and trailers; this type runs GRPCCore's stream handler over a `NIOAsyncChannel`
///   on top of it. Flow control and backpressure are the `NIOAsyncChannel`'s: reads are requested
///   only while its buffer is below the watermark, writes wait while the stream is not writable
///   (the peer's HTTP/2 window is full).
/// - Cancellation: a client RST_STREAM (or a lost connection) before the response ends cancels the
///   RPC: GRPCCore's cancellation handle fires and the task running the handler is cancelled. An
///   expired `grpc-timeout` does the same through GRPCCore (it cancels the handle), and the stream
///   is answered `DEADLINE_EXCEEDED` at once.
/// - Graceful shutdown (``beginGracefulShutdown()``): no new connections are adopted (late ones are
///   closed); each open connection gets a GOAWAY with the maximum stream id and a PING, then, once
///   the PING is acknowledged, a GOAWAY with the last stream id it accepted; in-flight streams
///   finish, then the connection closes. Streams still open ``Configuration/maxGraceTime`` after
///   that are cut (and a connection whose client never acknowledges the PING is closed 10 s after
///   that time). `listen` returns once every connection has closed.
///
/// ## What it leaves out
/// - TLS: Vireo speaks plaintext; terminate TLS in front of it (an ingress or a sidecar), as for REST.
/// - Compression: none. Responses are never compressed, `grpc-accept-encoding: identity` is
///   advertised, and a request with another `grpc-encoding` is refused with `UNIMPLEMENTED`.
/// - HTTP/1.1 upgrade (`Upgrade: h2c`) and ALPN: clients must speak HTTP/2 from the first byte, as
///   every gRPC client does over plaintext.
/// - Connection errors: swift-nio-http2 answers one with GOAWAY and stops decoding, and leaves the
///   close to its user (RFC 9113 §5.4.1 says the endpoint MUST close); ``H2CConnectionErrorGuard``
///   closes it once the streams the server knows have ended.
final class H2CServerTransport: ServerTransport {
    typealias Bytes = [UInt8]

    struct Configuration: Sendable {
        /// The largest request message payload, in bytes (larger ones get `RESOURCE_EXHAUSTED`).
        var maxRequestMessageBytes = 4 << 20
        /// SETTINGS_MAX_CONCURRENT_STREAMS: the client queues calls beyond it.
        var maxConcurrentStreams = 256
        /// SETTINGS_MAX_FRAME_SIZE: the largest frame the client may send (16 KiB … 16 MiB - 1).
        var maxFrameSize = 1 << 20
        /// SETTINGS_INITIAL_WINDOW_SIZE and the per-stream window the server keeps open: how many
        /// request bytes a stream may have in flight before the server has read them.
        var targetWindowSize = 8 << 20
        /// SETTINGS_MAX_HEADER_LIST_SIZE.
        var maxHeaderListSize = 16 << 10
        /// Bytes of incomplete request messages all streams of all connections may hold together;
        /// a stream whose next frame would pass it gets `RESOURCE_EXHAUSTED` (retry later).
        var maxBufferedRequestBytes = 512 << 20
        /// The same for the streams of one connection (so one client cannot take the server's share).
        var maxBufferedRequestBytesPerConnection = 128 << 20
        /// A connection without open streams for this long is closed gracefully (GOAWAY); nil: never.
        var maxIdleTime: TimeAmount? = .seconds(300)
        /// A connection older than this is closed gracefully (GOAWAY, in-flight calls finish); nil: never.
        var maxAge: TimeAmount?
        /// Server keepalive: a PING after this long without frames, and the connection is closed when
        /// its ACK does not come within `keepaliveTimeout` (a peer that vanished); nil: no pings.
        var keepaliveInterval: TimeAmount? = .seconds(60)
        var keepaliveTimeout = TimeAmount.seconds(20)
        /// How long streams may run after the final GOAWAY of a graceful shutdown before the
        /// connection is closed under them.
        var maxGraceTime = TimeAmount.seconds(30)
        /// PING, SETTINGS, PRIORITY, ALTSVC and ORIGIN frames a client may send within
        /// `controlFrameWindow`; past that swift-nio-http2 closes the connection with GOAWAY
        /// ENHANCE_YOUR_CALM (its flood protection). Its default, 200 in 30 s, is far below what
        /// grpc-go and grpc-java send by design: their flow-control auto-tuning (BDP estimation)
        /// sends a PING whenever DATA arrives and none is outstanding, so a client making a few
        /// calls a second passes 200 PINGs within 30 s and loses its connection. 1,000 per 100 ms
        /// (about 10,000 a second, 17-byte ACKs) lets those clients be, and still ends a flood.
        var maxControlFramesPerWindow = 1_000
        var controlFrameWindow = TimeAmount.milliseconds(100)
    }

    let configuration: Configuration
    /// What incomplete request messages hold across every stream (``Configuration/maxBufferedRequestBytes``).
    let inboundBudget: ByteBudget

    /// A connection adopted from the listener, with its stream multiplexer.
    private struct Connection: Sendable {
        let channel: any Channel
        let streams: NIOHTTP2Handler.AsyncStreamMultiplexer<H2CStream>
    }

    private struct State {
        var continuation: AsyncStream<Connection>.Continuation?
        var open: [ObjectIdentifier: any Channel] = [:]
    }

    private let connections: AsyncStream<Connection>
    private let state: Mutex<State>

    init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.inboundBudget = ByteBudget(limit: configuration.maxBufferedRequestBytes)
        let (stream, continuation) = AsyncStream.makeStream(of: Connection.self)
        self.connections = stream
        self.state = Mutex(State(continuation: continuation))
    }

    // MARK: Connections

    /// Serves gRPC on an accepted connection whose first bytes are the HTTP/2 client preface. Call
    /// on the channel's event loop; the caller then passes the bytes it already read down the
    /// pipeline (they reach the HTTP/2 handler added here) and removes itself.
    func adopt(_ channel: any Channel) throws {
        let configuration = configuration
        var http2 = NIOHTTP2Handler.Configuration()
        http2.connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: configuration.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxFrameSize, value: configuration.maxFrameSize),
            HTTP2Setting(parameter: .initialWindowSize, value: configuration.targetWindowSize),
            HTTP2Setting(parameter: .maxHeaderListSize, value: configuration.maxHeaderListSize),
        ]
        http2.stream.targetWindowSize = configuration.targetWindowSize
        // The connection window (65,535 bytes until the server raises it) is shared by all streams.
        http2.connection.targetWindowSize = 2 * configuration.targetWindowSize
        http2.connection.controlFrameRateLimit.maximumCount = configuration.maxControlFramesPerWindow
        http2.connection.controlFrameRateLimit.windowLength = configuration.controlFrameWindow
        let manager = NIOHTTP2ServerConnectionManagementHandler.Configuration(
            maxIdleTime: configuration.maxIdleTime, maxAge: configuration.maxAge, maxGraceTime: configuration.maxGraceTime,
            keepalive: configuration.keepaliveInterval.map { .init(pingInterval: $0, ackTimeout: configuration.keepaliveTimeout) })
        let budget = ByteBudget(limit: configuration.maxBufferedRequestBytesPerConnection, parent: inboundBudget)
        // What `configureAsyncHTTP2Pipeline(mode:connectionManagerConfiguration:…)` builds, plus an
        // ``H2CConnectionErrorGuard`` between the HTTP/2 handler and the connection manager's stream
        // delegate: that helper has no frame delegate parameter.
        let management = NIOHTTP2ServerConnectionManagementHandler(eventLoop: channel.eventLoop, configuration: manager)
        let guardian = H2CConnectionErrorGuard(channel: channel, manager: management.http2StreamDelegate,
                                               grace: configuration.maxGraceTime)
        let streams = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
            mode: .server, streamDelegate: guardian, frameDelegate: guardian, configuration: http2
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try H2CStream(channel: stream, maxMessageBytes: configuration.maxRequestMessageBytes, budget: budget)
            }
        }
        try channel.pipeline.syncOperations.addHandler(management)
        // The connection was active before these handlers were added, so the connection manager never
        // saw channelActive, which starts its idle, age and keepalive timers: deliver it from the
        // HTTP/2 handler's position (the manager is the next handler).
        try channel.pipeline.syncOperations.context(handlerType: NIOHTTP2Handler.self).fireChannelActive()
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state -> Bool in
            guard let continuation = state.continuation else { return false }
            state.open[id] = channel
            continuation.yield(Connection(channel: channel, streams: streams))
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { _ in
            self.state.withLock { _ = $0.open.removeValue(forKey: id) }
        }
    }

    // MARK: ServerTransport

    func listen(
        streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
    ) async throws {
        await withDiscardingTaskGroup { group in
            for await connection in connections {
                group.addTask { await Self.serve(connection, streamHandler: streamHandler) }
            }
        }
    }

    func beginGracefulShutdown() {
        let open = state.withLock { state -> [any Channel] in
            state.continuation?.finish()
            state.continuation = nil
            return Array(state.open.values)
        }
        let deadline = configuration.maxGraceTime + .seconds(10)
        for channel in open {
            // The connection manager sends GOAWAY + PING, then, on the PING's ack, the final GOAWAY,
            // and closes the connection when its last stream ends (or maxGraceTime after that ack).
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            // A client that never acks the PING would hold the connection open: close it regardless.
            let forced = channel.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in forced.cancel() }
        }
    }

    /// Runs every stream of one connection, each in its own task; returns when the connection closed
    /// and its streams finished.
    private static func serve(
        _ connection: Connection,
        streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
    ) async {
        let peers = (remote: describe(connection.channel.remoteAddress), local: describe(connection.channel.localAddress))
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                do {
                    for try await stream in connection.streams.inbound {
                        group.addTask { await stream.run(remotePeer: peers.remote, localPeer: peers.local, streamHandler: streamHandler) }
                    }
                } catch {
                    // A connection error: swift-nio-http2 already sent GOAWAY and closes the connection.
                }
            }
        } onCancel: {
            connection.channel.close(promise: nil)
        }
    }

    /// `ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`, `unix:/path` (GRPCCore's peer format).
    static func describe(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        switch address {
        case .v4: return "ipv4:\(address.ipAddress ?? "?"):\(address.port ?? 0)"
        case .v6: return "ipv6:[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
        case .unixDomainSocket: return "unix:\(address.pathname ?? "")"
        }
    }
}

/// One accepted HTTP/2 stream: the `NIOAsyncChannel` over its ``H2CStreamHandler`` and that handler's
/// promises. Made in the stream initializer, on the event loop, before the first frame is read.
struct H2CStream: Sendable {
    let channel: NIOAsyncChannel<[UInt8], RPCResponsePart<[UInt8]>>
    let head: EventLoopFuture<H2CRequestHead>
    let end: EventLoopFuture<H2CStreamEnd>
    let handler: NIOLoopBound<H2CStreamHandler>

    init(channel: any Channel, maxMessageBytes: Int, budget: ByteBudget? = nil) throws {
        let handler = H2CStreamHandler(maxMessageBytes: maxMessageBytes, eventLoop: channel.eventLoop, budget: budget)
        try channel.pipeline.syncOperations.addHandler(handler)
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        // Half-closure on: finishing the writer reaches the handler as close(mode: .output), which
        // makes sure a status was sent (it never sends a bare END_STREAM).
        self.channel = try NIOAsyncChannel(
            wrappingChannelSynchronously: channel,
            configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8),
                                 isOutboundHalfClosureEnabled: true,
                                 inboundType: [UInt8].self, outboundType: RPCResponsePart<[UInt8]>.self))
        self.head = handler.head.futureResult
        self.end = handler.end.futureResult
    }

    /// Serves the stream: waits for its headers, runs GRPCCore's handler, waits until the response's
    /// last frame is written (flow control may hold it), then closes the stream channel (a RST_STREAM
    /// if the client is still sending).
    func run(remotePeer: String, localPeer: String,
             streamHandler: @escaping @Sendable (RPCStream<H2CServerTransport.Inbound, H2CServerTransport.Outbound>, ServerContext) async -> Void) async {
        let end = end
        let handler = handler
        try? await channel.executeThenClose { inbound, outbound in
            guard case let .rpc(descriptor, metadata) = try await head.get() else {
                _ = try? await end.get()  // the handler answered; wait for that answer to be written
                return
            }
            let rpc = RPCStream(descriptor: descriptor,
                                inbound: RPCAsyncSequence(wrapping: H2CRequestParts(metadata: metadata, messages: inbound)),
                                outbound: RPCWriter.Closable(wrapping: H2CResponseWriter(writer: outbound)))
            await withServerContextRPCCancellationHandle { handle in
                let context = ServerContext(descriptor: descriptor, remotePeer: remotePeer, localPeer: localPeer, cancellation: handle)
                end.whenSuccess { how in
                    if how == .reset { handle.cancel() }
                }
                // The handler runs in a child task so that cancelling the RPC (client reset, deadline)
                // also cancels the Swift task doing the work, not only GRPCCore's handle. It is awaited
                // right here, and inherits the task-local cancellation handle. On a deadline the stream
                // is still open: the stream handler answers DEADLINE_EXCEEDED itself (the cancelled
                // task's own writes may fail).
                let task = Task { await streamHandler(rpc, context) }
                await withTaskCancellationHandler {
                    await withRPCCancellationHandler {
                        await task.value
                    } onCancelRPC: {
                        // The DEADLINE_EXCEEDED status is queued on the event loop before the task is
                        // cancelled: a cancelled task's writes fail at once, and its writer's finish
                        // (which would end the stream with INTERNAL "without a status") must come after.
                        handler.eventLoop.execute { handler.value.deadlineExceeded() }
                        task.cancel()
                    }
                } onCancel: {
                    task.cancel()
                }
            }
            _ = try? await end.get()
        }
    }
}

/// The request parts GRPCCore reads: the metadata from the headers, then each message.
struct H2CRequestParts: AsyncSequence, Sendable {
    typealias Element = RPCRequestPart<[UInt8]>
    let metadata: Metadata
    let messages: NIOAsyncChannelInboundStream<[UInt8]>

    struct AsyncIterator: AsyncIteratorProtocol {
        var metadata: Metadata?
        var messages: NIOAsyncChannelInboundStream<[UInt8]>.AsyncIterator

        mutating func next() async throws -> RPCRequestPart<[UInt8]>? {
            if let metadata {
                self.metadata = nil
                return .metadata(metadata)
            }
            return try await messages.next().map { .message($0) }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(metadata: metadata, messages: messages.makeAsyncIterator())
    }
}

/// The response writer GRPCCore writes to: parts go to ``H2CStreamHandler`` through the
/// `NIOAsyncChannel`'s writer (which waits while the stream's flow-control window is full).
struct H2CResponseWriter: ClosableRPCWriterProtocol {
    typealias Element = RPCResponsePart<[UInt8]>
    let writer: NIOAsyncChannelOutboundWriter<RPCResponsePart<[UInt8]>>

    func write(_ element: Element) async throws { try await writer.write(element) }
    func write(contentsOf elements: some Sequence<Element>) async throws { try await writer.write(contentsOf: elements) }
    func finish() async { writer.finish() }
    func finish(throwing error: any Error) async { writer.finish() }
}
