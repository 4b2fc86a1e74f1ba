import Foundation

/// A named integer parameter of a run (`M`, `efConstruction`, `nlist`, `ef`, `nprobe`, `refine_k`, ...).
public struct Param: Sendable, Hashable {
    public var name: String
    public var value: Int
    /// Whether this is the swept search parameter (ef, nprobe): points differing only in swept
    /// parameters belong to one curve.
    public var swept: Bool

    /// Names of swept search parameters (Vireo/Milvus and the peers' spellings).
    public static let sweptNames: Set<String> = ["ef", "nprobe", "efSearch", "expS"]

    public init(_ name: String, _ value: Int, swept: Bool = false) {
        self.name = name
        self.value = value
        self.swept = swept
    }
}

/// One measured point: what `--json FILE` writes as one line, with exactly the keys of
/// ``ResultRecord/jsonKeys``.
public struct ResultRecord: Sendable, Hashable {
    /// `vireo` (in-process), `vireo-rest` (client of `vireo serve`), or a peer's library name.
    public var system: String
    /// Milvus index type (`HNSW`, `IVF_PQ`, `IVF_FLAT`, `FLAT`) or the peer's index name.
    public var index: String
    public var params: [Param]
    public var threads: Int
    public var batch: Int
    /// Index build time in seconds (train + add + store, after the data is sealed).
    public var buildSeconds: Double?
    public var recallAt1: Double?
    public var recallAt10: Double?
    public var recallAt100: Double?
    public var qps: Double
    public var p50Ms: Double?
    public var p95Ms: Double?
    public var p99Ms: Double?
    /// Peak resident memory of the measuring process so far, MiB (`VmHWM`; the peers' `ru_maxrss`).
    public var rssMB: Double?
    /// Bytes of the index's storage (engine: live LMDB data of the collection; peers: serialized index).
    public var indexBytes: Int?
    public var dataset: String
    public var gitSHA: String

    public init(system: String, index: String, params: [Param], threads: Int, batch: Int, buildSeconds: Double?,
                recallAt1: Double?, recallAt10: Double?, recallAt100: Double?, qps: Double, p50Ms: Double?, p95Ms: Double?,
                p99Ms: Double?, rssMB: Double?, indexBytes: Int?, dataset: String, gitSHA: String) {
        self.system = system
        self.index = index
        self.params = params
        self.threads = threads
        self.batch = batch
        self.buildSeconds = buildSeconds
        self.recallAt1 = recallAt1
        self.recallAt10 = recallAt10
        self.recallAt100 = recallAt100
        self.qps = qps
        self.p50Ms = p50Ms
        self.p95Ms = p95Ms
        self.p99Ms = p99Ms
        self.rssMB = rssMB
        self.indexBytes = indexBytes
        self.dataset = dataset
        self.gitSHA = gitSHA
    }

    /// The keys of a JSON line, in order (issue #7).
    public static let jsonKeys = ["system", "index", "params", "threads", "batch", "build_s", "recall_at_1", "recall_at_10",
                                  "recall_at_100", "qps", "p50_ms", "p95_ms", "p99_ms", "rss_mb", "index_bytes", "dataset", "git_sha"]

    /// The parameters as `M=16 efConstruction=200 ef=64`.
    public var paramsText: String { params.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }

    /// The curve this point belongs to: system, index and the parameters that are not swept.
    public var curveName: String {
        ([system, index] + params.filter { !$0.swept }.map { "\($0.name)=\($0.value)" } + (batch > 1 ? ["batch=\(batch)"] : [])).joined(separator: " ")
    }

    /// One JSON object on one line; unknown values are `null`, `params` is an object.
    public var jsonLine: String {
        var w = JSONLineWriter()
        w.string("system", system)
        w.string("index", index)
        w.raw("params", "{" + params.map { "\(JSONLineWriter.quoted($0.name)):\($0.value)" }.joined(separator: ",") + "}")
        w.int("threads", threads)
        w.int("batch", batch)
        w.number("build_s", buildSeconds)
        w.number("recall_at_1", recallAt1)
        w.number("recall_at_10", recallAt10)
        w.number("recall_at_100", recallAt100)
        w.number("qps", qps)
        w.number("p50_ms", p50Ms)
        w.number("p95_ms", p95Ms)
        w.number("p99_ms", p99Ms)
        w.number("rss_mb", rssMB)
        w.int("index_bytes", indexBytes)
        w.string("dataset", dataset)
        w.string("git_sha", gitSHA)
        return w.text
    }

    /// Parses a line written by ``jsonLine``.
    ///
    /// - Throws: ``BenchError`` for a line that is not such an object.
    public init(jsonLine line: String) throws {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw BenchError("not a JSON object: \(line.prefix(80))")
        }
        func d(_ k: String) -> Double? { (o[k] as? NSNumber)?.doubleValue }
        func s(_ k: String) throws -> String {
            guard let v = o[k] as? String else { throw BenchError("JSON line lacks the string \"\(k)\": \(line.prefix(80))") }
            return v
        }
        let params = (o["params"] as? [String: Any] ?? [:]).compactMap { k, v in (v as? NSNumber).map { Param(k, $0.intValue) } }
        let order = ["M", "efConstruction", "nlist", "m", "nbits", "refine_k", "ef", "nprobe"]
        self.init(system: try s("system"), index: try s("index"),
                  params: params.sorted { (order.firstIndex(of: $0.name) ?? 99, $0.name) < (order.firstIndex(of: $1.name) ?? 99, $1.name) }
                      .map { Param($0.name, $0.value, swept: Param.sweptNames.contains($0.name)) },
                  threads: Int(d("threads") ?? 1), batch: Int(d("batch") ?? 1), buildSeconds: d("build_s"),
                  recallAt1: d("recall_at_1"), recallAt10: d("recall_at_10"), recallAt100: d("recall_at_100"), qps: d("qps") ?? .nan,
                  p50Ms: d("p50_ms"), p95Ms: d("p95_ms"), p99Ms: d("p99_ms"), rssMB: d("rss_mb"), indexBytes: d("index_bytes").map { Int($0) },
                  dataset: try s("dataset"), gitSHA: try s("git_sha"))
    }
}

/// Builds one JSON object with keys in insertion order.
struct JSONLineWriter {
    private var parts: [String] = []

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    mutating func raw(_ key: String, _ json: String) { parts.append("\(Self.quoted(key)):\(json)") }
    mutating func string(_ key: String, _ v: String) { raw(key, Self.quoted(v)) }
    mutating func int(_ key: String, _ v: Int?) { raw(key, v.map(String.init) ?? "null") }
    mutating func number(_ key: String, _ v: Double?) {
        guard let v, v.isFinite else { return raw(key, "null") }
        raw(key, v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.6g", v))
    }
    var text: String { "{" + parts.joined(separator: ",") + "}" }
}

/// Markdown tables of results.
public enum MarkdownReport {
    /// One row per measured point.
    public static func table(_ records: [ResultRecord]) -> String {
        var lines = ["| system | index | params | threads | batch | build s | R@1 | R@10 | R@100 | QPS | p50 ms | p95 ms | p99 ms | peak RSS MiB | index MiB |",
                     "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in records {
            let cells = [escape(r.system), escape(r.index), escape(r.paramsText), "\(r.threads)", "\(r.batch)",
                         fmt(r.buildSeconds, "%.2f"), fmt(r.recallAt1, "%.4f"), fmt(r.recallAt10, "%.4f"), fmt(r.recallAt100, "%.4f"),
                         fmt(r.qps, "%.0f"), fmt(r.p50Ms, "%.3f"), fmt(r.p95Ms, "%.3f"), fmt(r.p99Ms, "%.3f"), fmt(r.rssMB, "%.0f"),
                         fmt(r.indexBytes.map { Double($0) / 1_048_576 }, "%.1f")]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A generic table.
    public static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var lines = ["| " + header.map(escape).joined(separator: " | ") + " |",
                     "|" + header.indices.map { rightAligned.contains($0) ? "---:" : "---" }.joined(separator: "|") + "|"]
        for r in rows { lines.append("| " + r.map(escape).joined(separator: " | ") + " |") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `-` for a missing or non-finite value.
    public static func fmt(_ v: Double?, _ format: String) -> String {
        guard let v, v.isFinite else { return "-" }
        return String(format: format, v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
