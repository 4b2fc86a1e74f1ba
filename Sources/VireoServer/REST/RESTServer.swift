import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals
import Synchronization
import Vireo

/// How `vireo serve` runs.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (reported through `onListening`).
    public var port = 19530
    public var authenticator = Authenticator(credentials: [])
    /// Bind a non-loopback address without credentials (refused otherwise).
    public var allowUnauthenticated = false
    public var limits = ServerLimits()
    /// Where `/metrics` reads from (the registry the process bootstrapped swift-metrics with).
    public var prometheus: PrometheusCollectorRegistry?

    public init() {}

    /// Whether `host` resolves to loopback addresses only (decided on the resolved addresses, not the
    /// spelling: `127.evil.example` is a name like any other).
    static func isLoopback(_ host: String) -> Bool {
        guard let address = try? SocketAddress.makeAddressResolvingHost(host, port: 0), let ip = address.ipAddress else { return false }
        // `ip` is the numeric form of the resolved address.
        switch address.protocol {
        case .inet: return ip.hasPrefix("127.")
        case .inet6: return ip == "::1" || ip.hasPrefix("::ffff:127.")
        default: return false
        }
    }

    /// Refuses to expose an unauthenticated API beyond this machine unless explicitly allowed.
    public func validate() throws {
        if !authenticator.isEnabled && !Self.isLoopback(host) && !allowUnauthenticated {
            throw ServerSetupError("refusing to bind \(host) without authentication: configure credentials (--token, --tokens-file or VIREO_TOKENS), bind 127.0.0.1, or pass --allow-unauthenticated")
        }
        guard (0...65_535).contains(port) else { throw ServerSetupError("port \(port) is out of range 0...65535") }
    }
}

/// The Hummingbird adapter: HTTP in, ``RESTEndpoints`` (and through them ``MilvusHandlers``) in
/// the middle, the Milvus envelope out. Transport concerns live here and only here: authentication,
/// body size, the request deadline, metrics and request logs.
public struct RESTServer: Sendable {
    let handlers: MilvusHandlers
    let configuration: ServerConfiguration
    let logger: Logger
    /// The bodies of requests in flight, against ``ServerLimits/maxInFlightBodyBytes``.
    let bodies: ByteBudget

    public init(handlers: MilvusHandlers, configuration: ServerConfiguration, logger: Logger) {
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        bodies = ByteBudget(limit: configuration.limits.maxInFlightBodyBytes)
    }

    static let int64Header = HTTPField.Name("Accept-Type-Allow-Int64")!
    static let timeoutHeader = HTTPField.Name("Request-Timeout")!
    static let dbHeader = HTTPField.Name("DB-Name")!

    /// The router: `/v2/vectordb/...` (POST), `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let endpoints = RESTEndpoints(handlers: handlers)
        for (path, endpoint) in endpoints.routes {
            let full = "/v2/vectordb/" + path
            let writesRows = path == "entities/insert" || path == "entities/upsert"
            router.post(RouterPath(full)) { request, _ -> Response in
                await self.respond(full, request, endpoint, writesRows: writesRows)
            }
        }
        router.get("/healthz") { _, _ in Self.json(200, Array("{\"status\":\"ok\"}".utf8)) }
        // Ready while reads are served. A full disk degrades the server (writes that add data get
        // 507) but reads, deletes and drops work, and taking the pod out of its Service would stop
        // those too: /readyz stays 200 and says "degraded" with the reason, for alerts and humans.
        router.get("/readyz") { _, _ -> Response in
            let n = self.handlers.listCollections().count
            let storage = self.handlers.database.storageStatus
            ServerMetrics.recordStorage(storage)
            if storage.diskFull {
                return Self.json(200, Array("{\"status\":\"degraded\",\"storage\":\"disk_full\",\"collections\":\(n)}".utf8))
            }
            return Self.json(200, Array("{\"status\":\"ready\",\"storage\":\"ok\",\"collections\":\(n)}".utf8))
        }
        // With credentials configured, /metrics (collection names and row counts) and /openapi.json need
        // a token like the API; /healthz and /readyz stay open for probes.
        router.get("/metrics") { request, _ -> Response in
            guard self.configuration.authenticator.accepts(authorization: request.headers[.authorization]) else {
                return Self.errorResponse(.unauthenticated)
            }
            ServerMetrics.refreshCollectionGauges(self.handlers)
            ServerMetrics.recordStorage(self.handlers.database.storageStatus)
            var out: [UInt8] = []
            self.configuration.prometheus?.emit(into: &out)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
        }
        router.get("/openapi.json") { request, _ -> Response in
            guard self.configuration.authenticator.accepts(authorization: request.headers[.authorization]) else {
                return Self.errorResponse(.unauthenticated)
            }
            return Self.json(200, Array(OpenAPIDocument.json.utf8))
        }
        return router
    }

    static func json(_ status: Int, _ bytes: [UInt8]) -> Response {
        Response(status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func errorResponse(_ e: APIError) -> Response {
        var w = JSONWriter()
        w.raw("{")
        w.key("code", first: true)
        w.int((e.restCode ?? e.code).rawValue)
        w.key("message")
        w.string(e.message)
        w.raw("}")
        var response = json(e.httpStatus, w.bytes)
        if e.httpStatus == 503 || e.httpStatus == 429 { response.headers[.retryAfter] = "1" }
        return response
    }

    func respond(_ path: String, _ request: Request, _ endpoint: @escaping RESTEndpoints.Endpoint, writesRows: Bool = false) async -> Response {
        let started = ContinuousClock.now
        let result = await serve(request, endpoint, writesRows: writesRows)
        let response: Response
        let code: Int
        switch result {
        case let .success(reply):
            var w = JSONWriter(reserving: reply.data.count + 64)
            w.raw("{\"code\":0,\"cost\":0,\"data\":")
            w.bytes.append(contentsOf: reply.data)
            for (k, v) in reply.extra {
                w.key(k)
                w.bytes.append(contentsOf: v)
            }
            w.raw("}")
            response = Self.json(200, w.bytes)
            code = 0
        case let .failure(e):
            response = Self.errorResponse(e)
            code = (e.restCode ?? e.code).rawValue
        }
        let elapsed = ContinuousClock.now - started
        ServerMetrics.record(endpoint: path, code: code, duration: elapsed)
        let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        let meta: Logger.Metadata = ["endpoint": "\(path)", "code": "\(code)", "ms": "\(String(format: "%.2f", ms))"]
        switch result {
        case .success: logger.debug("request", metadata: meta)
        case let .failure(e) where e.kind == .internal:
            logger.error("request failed", metadata: meta.merging(["message": "\(e.message)"]) { $1 })
        case let .failure(e):
            logger.info("request rejected", metadata: meta.merging(["message": "\(e.message)"]) { $1 })
        }
        return response
    }

    /// - Parameter writesRows: insert/upsert, whose rows are decoded against the collection's schema
    ///   while parsing (see ``JSONParser/parseWrite(_:schemaFor:)``).
    private func serve(_ request: Request, _ endpoint: @escaping RESTEndpoints.Endpoint, writesRows: Bool) async -> Result<RESTReply, APIError> {
        guard configuration.authenticator.accepts(authorization: request.headers[.authorization]) else {
            return .failure(.unauthenticated)
        }
        // Read the body up to the limit; past it, keep reading and discarding so the client, still
        // sending, gets the 413 instead of a reset connection. Memory stays bounded by the limit.
        let limit = configuration.limits.maxBodyBytes
        var buffer = ByteBuffer()
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        var tooLarge = contentLength.map { $0 > limit } ?? false
        // The announced length is a claim, not bytes: reserve at most 1 MiB up front and grow as data
        // arrives, so idle connections announcing 64 MiB cost nothing.
        if let contentLength, !tooLarge { buffer.reserveCapacity(min(contentLength, 1 << 20)) }
        // Bytes held by this request count against the server-wide budget until it is answered.
        let budget = bodies
        var heldBytes = 0
        defer { budget.release(heldBytes) }
        var overBudget = false
        do {
            for try await chunk in request.body {
                if tooLarge || overBudget { continue }
                guard budget.acquire(chunk.readableBytes) else {
                    overBudget = true
                    budget.release(heldBytes)
                    heldBytes = 0
                    buffer = ByteBuffer()
                    continue
                }
                heldBytes += chunk.readableBytes
                if buffer.readableBytes + chunk.readableBytes > limit {
                    tooLarge = true
                    buffer = ByteBuffer()
                    continue
                }
                var chunk = chunk
                buffer.writeBuffer(&chunk)
            }
        } catch {
            return .failure(APIError(.invalidJSON, "could not read the request body: \(error)"))
        }
        if tooLarge { return .failure(Self.tooLarge(limit)) }
        if overBudget {
            return .failure(APIError(.serviceRateLimit, "the server is receiving too much request data at once (over \(budget.limit >> 20) MiB in flight); retry shortly", httpStatus: 429, kind: .unavailable))
        }
        let bytes = Array(buffer.readableBytesView)
        var json: JSONValue
        var rows: [Row]?
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) {
            json = .object([:])
        } else {
            do throws(JSONParser.Failure) {
                if writesRows {
                    // Rows are typed while parsing, against the schema of the collection in the
                    // `DB-Name` header's database (the body's `dbName` is not known yet); when the
                    // body names another database the rows are decoded again below.
                    let handlers = self.handlers
                    let headerDB = (try? handlers.checkDatabase(request.headers[Self.dbHeader])) ?? Database.defaultDatabaseName
                    let parsed = RequestScope.$database.withValue(headerDB) { () -> Result<(JSONValue, [Row]?), JSONParser.Failure> in
                        do throws(JSONParser.Failure) {
                            return .success(try JSONParser.parseWrite(bytes) { name in try? handlers.schema(of: name) })
                        } catch { return .failure(error) }
                    }
                    switch parsed {
                    case let .success(r): (json, rows) = r
                    case let .failure(e): throw e
                    }
                    if case let .object(members) = json, case let .string(bodyDB)? = members["dbName"], !bodyDB.isEmpty, bodyDB != headerDB {
                        json = try JSONParser.parse(bytes)
                        rows = nil
                    }
                } else {
                    json = try JSONParser.parse(bytes)
                }
            } catch {
                return .failure(APIError(.invalidJSON, "can only accept json format request: malformed JSON at byte \(error.offset): \(error.message)"))
            }
        }
        let call: RESTCall
        do {
            let int64 = request.headers[Self.int64Header]?.lowercased()
            call = RESTCall(body: try JSONBody(json), int64AsString: int64 == "false", dbHeader: request.headers[Self.dbHeader], rows: rows)
        } catch {
            return .failure(ErrorTable.apiError(error))
        }
        var timeout = configuration.limits.defaultTimeoutSeconds
        if let t = request.headers[Self.timeoutHeader].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), t > 0, t.isFinite {
            timeout = min(t, 3600)
        }
        return await Deadline.run(seconds: timeout) {
            do { return .success(try await endpoint(call)) } catch { return .failure(ErrorTable.apiError(error)) }
        }
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.invalidParameter, "request body is larger than the \(limit >> 20) MiB limit; send fewer rows per request (or raise --max-body-mib)", httpStatus: 413)
    }

    /// Runs the server until SIGTERM/SIGINT (or `shutdown`), then stops accepting connections,
    /// lets in-flight requests finish, and returns — the caller then closes the database.
    ///
    /// ## One listener, later two protocols
    /// The listener is built here and only here (`Application(... server: .http1() ...)`). Milvus
    /// serves REST and gRPC on one port; the gRPC adapter can do the same by replacing `.http1()`
    /// with a child-channel builder that reads the first bytes of each connection: an HTTP/2
    /// cleartext (h2c, prior knowledge) client — which is what gRPC is — starts with the 24-byte
    /// preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, while an HTTP/1.1 request starts with a method
    /// token (`POST /v2/...`). A `ByteToMessageDecoder` that waits for enough bytes to compare with
    /// the preface can then install either the HTTP/1 pipeline (this router) or grpc-swift's HTTP/2
    /// server handlers, and remove itself.
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        try configuration.validate()
        let app = Application(
            router: makeRouter(),
            server: .http1(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "vireo"),
            onServerRunning: { channel in
                onListening(configuration.host, channel.localAddress?.port ?? configuration.port)
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
        try await group.run()
    }
}

/// Request deadlines. The engine does not stop a call midway, so on timeout the client gets an
/// error at once while the call finishes in the background: a timed-out write may still be
/// applied (it was never acknowledged); check with get or query before retrying.
enum Deadline {
    /// The deadline's timer task, cancelled as soon as the work finishes (so no sleeping task
    /// outlives its request), whichever of the two is registered first.
    private final class TimerSlot: Sendable {
        private let state = Mutex<(timer: Task<Void, Never>?, done: Bool)>((nil, false))

        func set(_ timer: Task<Void, Never>) {
            let cancelNow = state.withLock { s -> Bool in
                if s.done { return true }
                s.timer = timer
                return false
            }
            if cancelNow { timer.cancel() }
        }

        func finished() {
            let timer = state.withLock { s -> Task<Void, Never>? in
                s.done = true
                defer { s.timer = nil }
                return s.timer
            }
            timer?.cancel()
        }
    }

    private final class Once<T: Sendable>: Sendable {
        let continuation: Mutex<CheckedContinuation<T, Never>?>
        init(_ c: CheckedContinuation<T, Never>) { continuation = Mutex(c) }
        func resume(_ value: T) {
            continuation.withLock { c in
                c?.resume(returning: value)
                c = nil
            }
        }
    }

    static func run(seconds: Double, _ work: @escaping @Sendable () async -> Result<RESTReply, APIError>) async -> Result<RESTReply, APIError> {
        await withCheckedContinuation { (c: CheckedContinuation<Result<RESTReply, APIError>, Never>) in
            let once = Once(c)
            let timer = TimerSlot()
            let worker = Task {
                let r = await work()
                timer.finished()
                once.resume(r)
            }
            timer.set(Task {
                // The answer goes out at the deadline, and the work is cancelled: reads stop between
                // segments (the engine's WorkBudget). A write already handed to the shard writer is
                // not recalled.
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled {
                    once.resume(.failure(APIError(.unexpected, "request timed out after \(seconds) s (Request-Timeout); a write may still be applied — check before retrying", kind: .unavailable)))
                    worker.cancel()
                }
            })
        }
    }
}
