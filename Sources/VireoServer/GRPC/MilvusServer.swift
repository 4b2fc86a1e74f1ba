import GRPCCore
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `vireo serve`: Milvus' REST API v2 and its gRPC `MilvusService` on one port.
///
/// Three services in one group: the REST server (Hummingbird, on a loopback-only ephemeral port),
/// the gRPC server (grpc-swift-2's `GRPCServer` on our ``H2CServerTransport``), and the public
/// ``SharedPortListener`` on `host:port`, which hands each connection to gRPC or splices it to REST
/// by its first bytes (see there). Both adapters call the same ``MilvusHandlers``, so auth, limits,
/// the error table and metrics are shared. On SIGTERM/SIGINT the listener stops accepting first,
/// then gRPC (GOAWAY on each connection, in-flight calls finish) and REST finish their calls; then
/// `run` returns and the caller closes the database.
public struct MilvusServer: Sendable {
    let handlers: MilvusHandlers
    let configuration: ServerConfiguration
    let logger: Logger

    public init(handlers: MilvusHandlers, configuration: ServerConfiguration, logger: Logger) {
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
    }

    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        try configuration.validate()
        let rest = RESTServer(handlers: handlers, configuration: configuration, logger: logger)
        let (restPorts, restPortSink) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let app = Application(
            router: rest.makeRouter(),
            server: .http1(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "vireo"),
            onServerRunning: { channel in
                restPortSink.yield(channel.localAddress?.port ?? 0)
                restPortSink.finish()
            },
            logger: logger
        )

        var transportConfig = H2CServerTransport.Configuration()
        transportConfig.maxRequestMessageBytes = configuration.limits.maxBodyBytes
        transportConfig.maxIdleTime = .milliseconds(Int64(configuration.limits.idleTimeoutSeconds * 1000))
        transportConfig.maxAge = configuration.limits.maxConnectionAgeSeconds.map { .milliseconds(Int64($0 * 1000)) }
        let transport = H2CServerTransport(configuration: transportConfig)
        let grpc = GRPCServer(transport: transport, services: [MilvusGRPCService(handlers: handlers, logger: logger)],
                              interceptors: [MilvusGRPCInterceptor(authenticator: configuration.authenticator)])

        let limits = configuration.limits
        let listener = SharedPortListener(host: configuration.host, port: configuration.port, grpc: transport, logger: logger,
                                          sniffTimeout: .milliseconds(Int64(limits.prefaceTimeoutSeconds * 1000)),
                                          idleTimeout: .milliseconds(Int64(limits.idleTimeoutSeconds * 1000)),
                                          maxConnections: limits.maxConnections)
        let front = FrontService(listener: listener, logger: logger) {
            // gRPC connections that arrive before GRPCServer listens wait in the transport.
            var ports = restPorts.makeAsyncIterator()
            guard let restPort = await ports.next() else { throw ServerSetupError("the REST server did not start") }
            let port = try await listener.bind(restPort: restPort)
            onListening(configuration.host, port)
        }
        // Shut down in reverse order: the public listener first, then gRPC, then REST.
        let group = ServiceGroup(configuration: .init(services: [app, GRPCService(server: grpc), front],
                                                      gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
        try await group.run()
    }
}

/// The gRPC server as a service-lifecycle service.
struct GRPCService: Service {
    let server: GRPCServer<H2CServerTransport>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

/// The public listener as a service: binds once both internal servers listen, runs until the
/// graceful shutdown starts, then stops accepting.
struct FrontService: Service {
    let listener: SharedPortListener
    let logger: Logger
    let start: @Sendable () async throws -> Void

    func run() async throws {
        try await start()
        try? await gracefulShutdown()
        let closed = listener.closeFuture
        listener.close()
        try? await closed?.get()
    }
}
