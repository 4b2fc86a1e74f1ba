import Metrics
import Synchronization
import Vireo

/// The server's metrics, through swift-metrics (the `vireo serve` process bootstraps it with
/// swift-prometheus; `/metrics` renders the registry).
///
/// - `vireo_requests_total{endpoint, code}`: requests by endpoint and Milvus code (0 = success).
/// - `vireo_request_duration_seconds{endpoint}`: latency histogram.
/// - `vireo_collection_rows{collection}`, `vireo_collection_sealed_segments{collection}`,
///   `vireo_collection_growing_rows{collection}`: refreshed when `/metrics` is scraped.
/// - `vireo_index_build_progress{collection, field}`: indexed fraction of sealed rows (0…1).
/// - `vireo_storage_disk_full` (1 while the disk is full and writes that add data are refused),
///   `vireo_storage_disk_full_episodes` (times it filled up since start) and
///   `vireo_storage_available_bytes`: refreshed on `/metrics` and `/readyz`.
enum ServerMetrics {
    static func recordStorage(_ s: StorageStatus) {
        Gauge(label: "vireo_storage_disk_full").record(s.diskFull ? 1 : 0)
        Gauge(label: "vireo_storage_disk_full_episodes").record(s.diskFullEpisodes)
        if let free = s.availableBytes { Gauge(label: "vireo_storage_available_bytes").record(free) }
    }

    static func record(endpoint: String, code: Int, duration: Duration) {
        Counter(label: "vireo_requests_total", dimensions: [("endpoint", endpoint), ("code", String(code))]).increment()
        Metrics.Timer(label: "vireo_request_duration_seconds", dimensions: [("endpoint", endpoint)]).record(duration: duration)
    }

    private static let reported = Mutex<Set<String>>([])

    static func refreshCollectionGauges(_ handlers: MilvusHandlers) {
        // Every database's collections; those outside `default` are labelled `database.collection`.
        let db = handlers.database
        let all = db.listDatabases().flatMap { d in db.listCollections(in: d.name).map { (d.name, $0) } }
        var seen = Set<String>()
        for (database, collection) in all {
            guard let c = try? db.collection(collection, in: database) else { continue }
            let name = database == Database.defaultDatabaseName ? collection : "\(database).\(collection)"
            seen.insert(name)
            let stats = c.statistics()
            Gauge(label: "vireo_collection_rows", dimensions: [("collection", name)]).record(c.count())
            Gauge(label: "vireo_collection_sealed_segments", dimensions: [("collection", name)]).record(stats.reduce(0) { $0 + $1.sealedSegments })
            Gauge(label: "vireo_collection_growing_rows", dimensions: [("collection", name)]).record(stats.reduce(0) { $0 + $1.growingRows })
            for spec in c.indexes {
                guard let s = try? c.indexStatus(field: spec.field) else { continue }
                let progress = s.totalRows == 0 ? 1.0 : Double(s.indexedRows) / Double(s.totalRows)
                Gauge(label: "vireo_index_build_progress", dimensions: [("collection", name), ("field", spec.field)]).record(progress)
            }
        }
        let gone = reported.withLock { r in
            let g = r.subtracting(seen)
            r = seen
            return g
        }
        for name in gone {
            for label in ["vireo_collection_rows", "vireo_collection_sealed_segments", "vireo_collection_growing_rows"] {
                Gauge(label: label, dimensions: [("collection", name)]).record(0)
            }
        }
    }
}
