import Foundation
import Vireo

/// Milvus' parameter objects, decoded into the typed requests of this layer in one place for both
/// adapters: REST sends them as JSON objects in the body, gRPC as JSON-encoded key/values that its
/// adapter gathers into the same object shape (`ProtoConversions`). Each parameter is named, checked
/// and defaulted here only.
enum MilvusParams {
    /// A metric name (`L2`, `IP`, `COSINE`, any case).
    static func metric(_ s: String) throws -> Metric {
        guard let m = Metric(milvusName: s) else { throw APIError.invalid("metric type '\(s)' is not supported; use L2, IP or COSINE (dense vectors) or HAMMING, JACCARD (binary vectors)") }
        return m
    }

    /// Search options: the metric (`metricType` at the top or in `searchParams`, or `metric_type`)
    /// and the index parameters in `searchParams.params` (or `searchParams` itself, or `params`):
    /// `ef`, `nprobe`, `refine_k` (alias `reorder_k`), and Vireo's `exact`; `searchParams.ignoreGrowing`.
    static func searchOptions(_ body: JSONBody) throws -> SearchOptions {
        var o = SearchOptions()
        if let m = try body.string("metricType") { o.metric = try metric(m) }
        guard let sp = try body.object("searchParams") ?? body.object("params") else { return o }
        if let m = try sp.string("metricType") ?? sp.string("metric_type") { o.metric = try metric(m) }
        let p = try sp.object("params") ?? sp
        if let m = try p.string("metric_type"), o.metric == nil { o.metric = try metric(m) }
        o.ef = try p.int("ef")
        o.nprobe = try p.int("nprobe")
        o.refineK = try p.int("refine_k") ?? p.int("reorder_k")
        o.dropRatio = try p.double("drop_ratio_search")
        // Sparse searches: knowhere's bound on dim_max_score_ratio (it scales WAND/MaxScore bounds; a
        // ratio below 1 prunes approximately). Vireo's pruning is always exact, so the value is checked
        // and not used.
        if let r = try p.double("dim_max_score_ratio"), !(0.5...1.3).contains(r) {
            throw APIError.invalid("dim_max_score_ratio \(r) should be in range [0.500000, 1.300000]")
        }
        o.exact = try p.bool("exact") ?? sp.bool("exact") ?? false
        do {
            o.ignoreGrowing = try sp.bool("ignoreGrowing") ?? sp.bool("ignore_growing") ?? p.bool("ignore_growing") ?? false
        } catch let e as APIError {
            // Milvus' wording first (clients match on it), then what is wrong.
            throw APIError(e.code, "parse ignore growing field failed: \(e.message)")
        }
        if let radius = try p.double("radius") {
            o.range = ScoreRange(radius: Float(radius), rangeFilter: try p.double("range_filter").map { Float($0) })
        } else if p["range_filter"] != nil {
            throw APIError.invalid("range_filter needs radius: a range search is bounded by radius (and optionally range_filter)")
        }
        return o
    }

    /// A boolean given as JSON true/false or as a string (`"true"`, `"True"`, `"1"`, `"false"`, `"0"`, …).
    static func flag(_ v: JSONValue, _ key: String) throws -> Bool {
        try JSONBody(object: [key: v]).bool(key) ?? false
    }

    /// A grouping search: the field, `group_size` (default 1) and `strict_group_size` (default false).
    static func grouping(field: String?, size: JSONValue?, strict: JSONValue?, names: (size: String, strict: String)) throws -> SearchGrouping? {
        guard let field, !field.isEmpty else {
            if size != nil || strict != nil { throw APIError.invalid("\(names.size) and \(names.strict) need a grouping field") }
            return nil
        }
        var g = SearchGrouping(field: field)
        if let size { g.size = try JSONBody.int(size, names.size) }
        if let strict { g.strictSize = try flag(strict, names.strict) }
        return g
    }

    /// One index: `fieldName` (required), `indexName`, `indexType` (default AUTOINDEX; also read
    /// from `params.index_type`), `metricType` (also `params.metric_type`; nil lets the engine keep
    /// the field's metric, COSINE for a new index) and integer build parameters in `params`.
    /// The build parameters Vireo's indexes read; each must be an integer (a JSON integer, an
    /// integral number or a numeric string).
    static let integerIndexParams: Set<String> = ["M", "efConstruction", "nlist", "m", "nbits"]
    /// The string build parameters of a JSON path index (Milvus 2.6).
    static let textIndexParams: Set<String> = ["json_path", "json_cast_type", "json_cast_function"]
    /// The build parameters of a sparse index, kept as text and checked by the engine.
    static let sparseIndexParams: Set<String> = ["inverted_index_algo", "bm25_k1", "bm25_b", "drop_ratio_build"]
    /// HNSW_SQ's text build parameters (checked by the engine).
    static let quantizationIndexParams: Set<String> = ["sq_type", "refine", "refine_type"]

    static func indexRequest(_ b: JSONBody, what: String) throws -> IndexRequest {
        let field = try b.requiredString("fieldName", hint: "\(what) needs the field to index")
        var params: [String: Int] = [:]
        var text: [String: String] = [:]
        var type = try b.string("indexType")
        var metricName = try b.string("metricType")
        if let p = try b.object("params") {
            for (k, v) in p.object {
                switch (k, v) {
                case let ("index_type", .string(s)): type = type ?? s
                case let ("metric_type", .string(s)): metricName = metricName ?? s
                case ("index_type", _), ("metric_type", _):
                    throw APIError.wrongType("\(what).params.\(k)", expected: "a string", got: v)
                case (_, .null): continue
                case let (_, .string(s)) where textIndexParams.contains(k) || sparseIndexParams.contains(k) || quantizationIndexParams.contains(k):
                    text[k] = s
                case let (_, .bool(b)) where quantizationIndexParams.contains(k): text[k] = b ? "true" : "false"
                case let (_, .int(i)) where sparseIndexParams.contains(k): text[k] = String(i)
                case let (_, .double(d)) where sparseIndexParams.contains(k): text[k] = String(d)
                case let ("json_cast_type", .int(i)), let ("json_cast_function", .int(i)):
                    text[k] = String(i)  // refused by name below, with Milvus' "… is not supported"
                case let ("json_cast_type", .double(d)), let ("json_cast_function", .double(d)):
                    text[k] = String(d)
                case _ where textIndexParams.contains(k):
                    throw APIError.wrongType("\(what).params.\(k)", expected: "a string (\(k == "json_cast_type" ? "BOOL, DOUBLE, VARCHAR, ARRAY_BOOL, ARRAY_DOUBLE or ARRAY_VARCHAR" : k == "json_path" ? "a path such as meta[\"a\"][\"b\"]" : "STRING_TO_DOUBLE"))", got: v)
                case _ where integerIndexParams.contains(k):
                    params[k] = try JSONBody.int(v, "\(what).params.\(k)")
                case (_, .int), (_, .double), (_, .string), (_, .bool):
                    // Other Milvus build parameters (bm25_k1, bm25_b, drop_ratio_build, …) come
                    // as numbers or strings; Vireo's indexes do not use them.
                    if let i = try? JSONBody.int(v, k) { params[k] = i }
                default:
                    throw APIError.wrongType("\(what).params.\(k)", expected: "a number or a string", got: v)
                }
            }
        }
        var request = IndexRequest(fieldName: field, indexName: try b.string("indexName"), metric: try metricName.map { try metric($0) },
                                   indexType: type ?? "AUTOINDEX", params: params, textParams: text)
        // What Milvus' REST handler passes on as the "user index params", which DescribeIndex echoes:
        // index_type, metric_type and the build parameters as one JSON `params` pair (pymilvus' ORM
        // reads that back as a dict).
        var sent = [IndexSpec.RequestParam(key: "index_type", value: type ?? "AUTOINDEX")]
        if let metricName { sent.append(IndexSpec.RequestParam(key: "metric_type", value: metricName)) }
        if let p = try b.object("params") {
            let build = p.object.filter { $0.key != "index_type" && $0.key != "metric_type" }
            if !build.isEmpty { sent.append(IndexSpec.RequestParam(key: "params", value: JSONValue.object(build).jsonText)) }
        }
        request.requestParams = sent
        return request
    }
}
