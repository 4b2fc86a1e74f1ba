import Dispatch
import Foundation
import Vireo

/// Client mode: a running `vireo serve` (or any Milvus REST API v2 server) measured as a client,
/// over HTTP/1.1 with keep-alive; latency is what the client sees, JSON encoding included.
///
/// `prepare` drops and re-creates collection `vireo_bench` with its index (custom schema: `id` Int64
/// primary key, `vec` FloatVector, optional `bucket` Int64; `indexParams` with the metric, as the
/// field's metric is fixed at create), inserts in batches (`entities/insert`), flushes
/// (`collections/flush`) and polls `indexes/describe` until `indexState` is `Finished`: `build_s` is
/// seal + build here. `search` posts
/// `{"collectionName", "annsField", "limit", "data": [[...]], "searchParams": {"params": {...}}, "filter"}`
/// to `entities/search` and splits the flat hit list by `topks`.
public final class RESTTarget: SearchTarget {
    public let system = "vireo-rest"
    public let host: String
    public let port: Int
    public let collection = "vireo_bench"
    private let http: HTTPClientPool
    private let token: String?
    private let insertBatch: Int

    /// Parses `rest://host:port`.
    ///
    /// - Parameter token: bearer token (`user:password` or an API key) when the server requires one.
    public init(url: String, token: String? = nil, insertBatch: Int = 1000) throws {
        guard url.hasPrefix("rest://"), let colon = url.dropFirst(7).lastIndex(of: ":"),
              let port = Int(url[url.index(after: colon)...]), !url.dropFirst(7)[..<colon].isEmpty else {
            throw BenchError("--target must look like rest://host:port, got \(url)")
        }
        self.host = String(url.dropFirst(7)[..<colon])
        self.port = port
        self.token = token
        self.insertBatch = insertBatch
        http = HTTPClientPool(host: host, port: port)
    }

    /// POSTs `body` to `/v2/vectordb/<path>`; returns the parsed envelope (code 0 checked).
    @discardableResult
    func call(_ path: String, _ body: [String: Any], allowError: Bool = false) async throws -> [String: Any] {
        try await call(path, json: try JSONSerialization.data(withJSONObject: body), allowError: allowError)
    }

    /// POSTs a JSON body already encoded (vectors are written by ``appendVector(_:to:)``, much faster
    /// than JSONSerialization on Linux, so client-side encoding does not dominate what is measured).
    @discardableResult
    func call(_ path: String, json: Data, allowError: Bool = false) async throws -> [String: Any] {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let response: HTTPClientPool.Response
        do {
            response = try await http.post("/v2/vectordb/\(path)", headers: headers, body: [UInt8](json))
        } catch {
            throw BenchError("cannot reach the REST server at \(host):\(port) (\(path)): \(error); start it with `vireo serve --port \(port)`")
        }
        let status = response.status
        let data = Data(response.body)
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BenchError("\(path): HTTP \(status), not a JSON envelope: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        let code = (o["code"] as? NSNumber)?.intValue ?? -1
        if code != 0 && !allowError {
            throw BenchError("\(path): Milvus error \(code) (HTTP \(status)): \(o["message"] ?? "")")
        }
        return o
    }

    public func prepare(_ data: BenchData, plan: IndexPlan, buckets: [Int64]?, progress: ProgressBar) async throws -> BuildReport {
        try await call("collections/drop", ["collectionName": collection], allowError: true)
        var fields: [[String: Any]] = [
            ["fieldName": "id", "dataType": "Int64", "isPrimary": true],
            ["fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": ["dim": data.dimension]],
        ]
        if buckets != nil { fields.append(["fieldName": "bucket", "dataType": "Int64"]) }
        // The index goes with the create request: the field's metric is fixed there. Rows sealed by
        // the flush below are then indexed in the background, as in Milvus.
        try await call("collections/create", [
            "collectionName": collection, "schema": ["autoID": false, "enableDynamicField": false, "fields": fields],
            "indexParams": [["fieldName": "vec", "indexName": "vec", "metricType": plan.metric.rawValue, "indexType": plan.kind.milvusName,
                             "params": plan.milvusParams(rows: data.base.count).mapValues { "\($0)" }.merging(plan.milvusTextParams) { a, _ in a }]],
        ])
        let n = data.base.count
        progress.start("ingest (REST)", total: n)
        let t0 = DispatchTime.now().uptimeNanoseconds
        for start in stride(from: 0, to: n, by: insertBatch) {
            let range = start..<min(n, start + insertBatch)
            var body = "{\"collectionName\":\"\(collection)\",\"data\":["
            for i in range {
                body += i == start ? "{\"id\":\(i),\"vec\":" : ",{\"id\":\(i),\"vec\":"
                Self.appendVector(data.base[i], to: &body)
                if let buckets { body += ",\"bucket\":\(buckets[i])" }
                body += "}"
            }
            body += "]}"
            try await call("entities/insert", json: Data(body.utf8))
            progress.advance(range.count)
        }
        let ingest = seconds(since: t0)
        progress.finish(String(format: "%.0f rows/s", Double(n) / ingest))
        progress.start("seal + build \(plan.kind.milvusName) (REST)", total: n)
        let t1 = DispatchTime.now().uptimeNanoseconds
        try await call("collections/flush", ["collectionName": collection])
        let seal = seconds(since: t1)
        let t2 = t1
        while true {
            let o = try await call("indexes/describe", ["collectionName": collection, "indexName": "vec"])
            let d = (o["data"] as? [[String: Any]])?.first ?? [:]
            if d["indexState"] as? String == "Finished" { break }
            if let failed = d["failReason"] as? String, !failed.isEmpty { throw BenchError("index build failed: \(failed)") }
            progress.set((d["indexedRows"] as? NSNumber)?.intValue ?? 0)
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let build = seconds(since: t2)
        progress.finish(String(format: "%.2f s", build))
        while true {
            let o = try await call("collections/get_load_state", ["collectionName": collection])
            if (o["data"] as? [String: Any])?["loadState"] as? String == "LoadStateLoaded" { break }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return BuildReport(rows: n, ingestSeconds: ingest, sealSeconds: seal, buildSeconds: build, trainSeconds: nil, sealedSegments: 0)
    }

    public func search(_ queries: [[Float]], limit: Int, parameters: SearchParameters, filter: String?) async throws -> [[Int64]] {
        var params: [String: Int] = [:]
        if let ef = parameters.ef { params["ef"] = ef }
        if let p = parameters.nprobe { params["nprobe"] = p }
        if let r = parameters.refineK { params["refine_k"] = r }
        var body = "{\"collectionName\":\"\(collection)\",\"annsField\":\"vec\",\"limit\":\(limit),\"data\":["
        for (i, q) in queries.enumerated() {
            if i > 0 { body += "," }
            Self.appendVector(q, to: &body)
        }
        body += "],\"searchParams\":{\"params\":{" + params.map { "\"\($0.key)\":\($0.value)" }.sorted().joined(separator: ",") + "}}"
        if let filter { body += ",\"filter\":" + JSONLineWriter.quoted(filter) }
        body += "}"
        let o = try await call("entities/search", json: Data(body.utf8))
        let hits = (o["data"] as? [[String: Any]] ?? []).map { h -> Int64 in
            if let n = h["id"] as? NSNumber { return n.int64Value }
            return Int64(h["id"] as? String ?? "") ?? -1
        }
        let topks = (o["topks"] as? [NSNumber])?.map(\.intValue) ?? (queries.count == 1 ? [hits.count] : [])
        guard topks.reduce(0, +) == hits.count, topks.count == queries.count else {
            throw BenchError("entities/search returned \(hits.count) hits for \(queries.count) queries without usable topks")
        }
        var out: [[Int64]] = []
        var at = 0
        for k in topks {
            out.append(Array(hits[at..<(at + k)]))
            at += k
        }
        return out
    }

    public func storageBytes() async throws -> Int? { nil }

    /// `[x0,x1,...]` with each Float's shortest round-trip decimal form.
    static func appendVector(_ v: [Float], to s: inout String) {
        s += "["
        for (j, x) in v.enumerated() {
            if j > 0 { s += "," }
            s += x.description
        }
        s += "]"
    }

    public func cleanup() async {
        _ = try? await call("collections/drop", ["collectionName": collection], allowError: true)
        http.shutdown()
    }
}
