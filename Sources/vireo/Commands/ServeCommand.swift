import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Vireo
import VireoServer

/// `vireo serve`: the Milvus RESTful API v2 and Milvus' gRPC `MilvusService` (pymilvus and the other
/// Milvus SDKs) on one port, over an embedded database.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the Milvus RESTful API v2 (/v2/vectordb/...), /healthz, /readyz, /metrics, /openapi.json and Milvus' gRPC API on one port.",
        discussion: """
        Without credentials the server binds loopback only; binding another address needs --token, \
        --tokens-file or VIREO_TOKENS (comma-separated), or --allow-unauthenticated. \
        SIGTERM/SIGINT stop accepting connections, finish in-flight requests and close the database.
        """
    )

    @Option(name: [.customLong("data"), .customLong("data-dir")], help: "The database directory.")
    var data: String = "./vireo-data"
    @Option(help: "Address to bind.") var host: String = "127.0.0.1"
    @Option(help: "Port (0 = any free port; the chosen one is printed).") var port: Int = 19530
    @Option(name: .customLong("token"), help: "An accepted credential: user:password or an API key. Repeatable.")
    var tokens: [String] = []
    @Option(name: .customLong("tokens-file"), help: "File with one accepted credential per line (# comments).")
    var tokensFile: String?
    @Flag(name: .customLong("allow-unauthenticated"), help: "Allow binding a non-loopback address without credentials.")
    var allowUnauthenticated = false
    @Option(name: .customLong("max-body-mib"), help: "Largest request body, MiB (413 above).") var maxBodyMiB: Int = 64
    @Option(name: .customLong("max-inflight-body-mib"), help: "REST request bodies received and handled at once, MiB (429 above).")
    var maxInFlightBodyMiB: Int = 1024
    @Option(name: .customLong("request-timeout"), help: "Default request deadline in seconds (clients may send Request-Timeout).")
    var requestTimeout: Double = 30
    @Option(name: .customLong("max-topk"), help: "Largest search limit (+ offset).") var maxTopK: Int = 16_384
    @Option(name: .customLong("max-nq"), help: "Most query vectors per search.") var maxNQ: Int = 16_384
    @Option(name: .customLong("max-result-mib"), help: "Largest search or query result with its output fields, MiB (about).")
    var maxResultMiB: Int = 256
    @Option(name: .customLong("max-search-hits"), help: "Most hits per search request: nq × (limit + offset), summed over a hybrid search's searches.")
    var maxSearchHits: Int = 1 << 20
    @Option(name: .customLong("max-insert-rows"), help: "Most rows per insert/upsert.") var maxInsertRows: Int = 100_000
    @Option(name: .customLong("max-concurrent-reads"), help: "Batch searches, queries and counts running at once (default: 2 × cores).")
    var maxConcurrentReads: Int?
    @Option(name: .customLong("max-queued-reads"), help: "Reads waiting beyond those; more get 503 / code 8 (retry later).")
    var maxQueuedReads: Int = 256
    @Option(name: .customLong("max-connections"), help: "Most open connections on the port (REST and gRPC together).")
    var maxConnections: Int = 4096
    @Option(name: .customLong("idle-timeout"), help: "Seconds without traffic after which a connection is closed.")
    var idleTimeout: Double = 300
    @Option(name: .customLong("preface-timeout"), help: "Seconds a new connection has to send its first bytes.")
    var prefaceTimeout: Double = 10
    @Option(name: .customLong("max-connection-age"), help: "Seconds after which a gRPC connection is closed gracefully (GOAWAY); default: never.")
    var maxConnectionAge: Double?
    @Option(name: .customLong("map-size-gib"), help: "Ceiling of each shard's map, in GiB (it starts at --initial-map-mib and doubles on demand).") var mapSizeGiB: Int = 64
    @Option(name: .customLong("initial-map-mib"), help: "Map size a shard opens with, in MiB.") var initialMapMiB: Int = 64
    @Option(name: .customLong("disk-reserve-mib"), help: "Space kept in <data-dir>/RESERVE and freed on a full disk so deletes and drops still work, in MiB (0: none).") var diskReserveMiB: Int = 64
    @Option(name: .customLong("seal-rows"), help: "Rows after which a growing segment is sealed.") var sealRows: Int = 65_536
    @Option(name: .customLong("compaction-interval"), help: "Seconds between background compaction passes (0: only on request).")
    var compactionInterval: Int = 60
    @Option(name: .customLong("compaction-deleted-fraction"), help: "Deleted fraction of a segment's rows from which compaction rewrites it.")
    var compactionDeletedFraction: Double = 0.2
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "vireo.server")
        Database.tuneProcessAllocator()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.allowUnauthenticated = allowUnauthenticated
        config.prometheus = registry
        config.limits.maxBodyBytes = maxBodyMiB << 20
        guard (1...1 << 20).contains(maxInFlightBodyMiB) else { throw ValidationError("--max-inflight-body-mib must be in 1...1048576") }
        config.limits.maxInFlightBodyBytes = maxInFlightBodyMiB << 20
        config.limits.defaultTimeoutSeconds = requestTimeout
        config.limits.maxTopK = maxTopK
        config.limits.maxNQ = maxNQ
        config.limits.maxSearchHits = maxSearchHits
        guard (0...604_800).contains(compactionInterval), (0.0...1.0).contains(compactionDeletedFraction) else {
            throw ValidationError("--compaction-interval must be in 0...604800 s and --compaction-deleted-fraction in 0...1")
        }
        guard (1...1 << 20).contains(maxResultMiB) else { throw ValidationError("--max-result-mib must be in 1...1048576") }
        config.limits.maxResultBytes = maxResultMiB << 20
        config.limits.maxInsertRows = maxInsertRows
        guard maxConnections >= 1, (0.01...86_400).contains(idleTimeout), (0.01...3_600).contains(prefaceTimeout) else {
            throw ValidationError("--max-connections must be ≥ 1, --idle-timeout in 0.01...86400 s, --preface-timeout in 0.01...3600 s")
        }
        config.limits.maxConnections = maxConnections
        config.limits.idleTimeoutSeconds = idleTimeout
        config.limits.prefaceTimeoutSeconds = prefaceTimeout
        if let age = maxConnectionAge {
            guard (1...604_800).contains(age) else { throw ValidationError("--max-connection-age must be in 1...604800 s") }
            config.limits.maxConnectionAgeSeconds = age
        }
        do {
            config.authenticator = try Authenticator.load(tokens: tokens, file: tokensFile, environment: ProcessInfo.processInfo.environment)
            try config.validate()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(2)
        }

        var dbConfig = Configuration()
        guard mapSizeGiB >= 1, initialMapMiB >= 1, diskReserveMiB >= 0 else {
            throw ValidationError("--map-size-gib and --initial-map-mib must be ≥ 1, --disk-reserve-mib ≥ 0")
        }
        dbConfig.mapSize = mapSizeGiB << 30
        dbConfig.initialMapSize = initialMapMiB << 20
        dbConfig.diskReserveBytes = diskReserveMiB << 20
        dbConfig.sealRows = sealRows
        dbConfig.compactionInterval = compactionInterval > 0 ? .seconds(compactionInterval) : nil
        dbConfig.compactionDeletedFraction = compactionDeletedFraction
        if let maxConcurrentReads { dbConfig.maxConcurrentReads = max(1, maxConcurrentReads) }
        dbConfig.maxQueuedReads = max(0, maxQueuedReads)
        try await Self.serve(data: data, dbConfig: dbConfig, config: config, logger: logger)
        // Graceful shutdown finished: every acknowledged write had committed durably before its
        // response was sent, and the database (owned by `serve`) is released, closing its LMDB
        // environments.
        logger.info("stopped")
    }

    private static func serve(data: String, dbConfig: Configuration, config: ServerConfiguration, logger: Logger) async throws {
        let started = ContinuousClock.now
        let database = try Database.open(at: data, configuration: dbConfig)
        logger.info("database open", metadata: ["path": "\(data)", "collections": "\(database.listCollections().count)",
                                                "open": "\(ContinuousClock.now - started)"])
        let server = MilvusServer(handlers: MilvusHandlers(database: database, limits: config.limits), configuration: config, logger: logger)
        let auth = config.authenticator.isEnabled
        try await server.run { host, port in
            // The line scripts wait for (and read the port from, with --port 0).
            FileHandle.standardOutput.write(Data("vireo: listening on http://\(host):\(port) (auth \(auth ? "on" : "off"))\n".utf8))
        }
    }
}
