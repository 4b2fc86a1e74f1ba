import Foundation

/// Vireo against the peers measured in the same run: QPS at fixed recall@10 (interpolated on each
/// curve), build time and memory, as ratios.
public enum Comparison {
    /// A Vireo curve and the peer curves it is compared with.
    public struct Pair: Sendable, Hashable {
        public var label: String
        /// Vireo's Milvus index type.
        public var index: String
        /// Whether the Vireo curve re-ranks (IVF_PQ `refine_k` > 0).
        public var refine: Bool
        /// Peer curve names (``PeerRow/curveName``).
        public var peers: [String]
        /// `bench_peers.py --only` configs that produce them.
        public var peerConfigs: [String]
    }

    /// The pairs, with the peers `bench/peers/peers_batch.py` measures (same build parameters:
    /// HNSW M 16 / efConstruction 200, IVF nlist round(4√N), IVF_PQ m 48 nbits 8 refine ×4,
    /// HNSW_SQ refine ×2).
    public static let pairs: [Pair] = [
        Pair(label: "HNSW", index: "HNSW", refine: false, peers: ["hnswlib HNSW", "faiss HNSWFlat"], peerConfigs: ["hnswlib_hnsw", "faiss_hnswflat16"]),
        Pair(label: "HNSW_SQ", index: "HNSW_SQ", refine: false, peers: ["faiss HNSWSQ8"], peerConfigs: ["faiss_hnswsq"]),
        Pair(label: "HNSW_SQ + refine", index: "HNSW_SQ", refine: true, peers: ["faiss HNSWSQ8+RefineFlat"], peerConfigs: ["faiss_hnswsq_refine"]),
        Pair(label: "IVF_SQ8", index: "IVF_SQ8", refine: false, peers: ["faiss IVFSQ8"], peerConfigs: ["faiss_ivfsq8"]),
        Pair(label: "IVF_PQ + refine", index: "IVF_PQ", refine: true, peers: ["faiss IVFPQ+RefineFlat"], peerConfigs: ["faiss_ivfpq_refine"]),
        Pair(label: "IVF_FLAT", index: "IVF_FLAT", refine: false, peers: ["faiss IVFFlat"], peerConfigs: ["faiss_ivfflat"]),
        Pair(label: "FLAT", index: "FLAT", refine: false, peers: ["faiss FlatIP"], peerConfigs: ["faiss_flatip"]),
    ]

    /// The peer configs the pairs of these Vireo index types need (`refine`: only the re-ranking
    /// pairs, nil: both).
    public static func peerConfigs(for indexes: [String], refine: Bool? = nil) -> [String] {
        pairs.filter { indexes.contains($0.index) && (refine == nil || $0.refine == refine) }.flatMap(\.peerConfigs)
            .reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Vireo's records of `pair` (`batched`: calls of more than one query; else one query per call).
    public static func records(_ pair: Pair, in records: [ResultRecord], batched: Bool? = nil) -> [ResultRecord] {
        records.filter { r in
            r.index == pair.index && r.params.contains { $0.name == "refine_k" && $0.value > 0 } == pair.refine
                && (batched == nil || (r.batch > 1) == batched!)
        }
    }

    static func curve(_ records: [ResultRecord]) -> [CurvePoint] {
        records.compactMap { r in r.recallAt10.map { CurvePoint(params: r.paramsText, recall: $0, qps: r.qps) } }
    }

    /// The ratio table (Markdown): one row per (Vireo curve, peer curve) with data on both sides.
    /// Each target recall gives two cells: Vireo's batch path (calls of many queries, one thread)
    /// against the peer's batch call on one thread (`batch1t_qps`), and Vireo one query per call
    /// against the same peer batch. QPS are interpolated on each curve (log-linear between the
    /// sweep points around the target).
    public static func table(vireo: [ResultRecord], peers: [PeerRow], targets: [Double] = [0.90, 0.95, 0.99]) -> String {
        var rows: [[String]] = []
        for pair in pairs {
            let v = records(pair, in: vireo)
            guard !v.isEmpty else { continue }
            let batchCurve = curve(records(pair, in: vireo, batched: true))
            let singleCurve = curve(records(pair, in: vireo, batched: false))
            for peerName in pair.peers {
                let p = peers.filter { $0.curveName == peerName }
                guard let p0 = p.first else { continue }
                let peerCurve = p.map(\.batchPoint)
                var row = [pair.label, peerName]
                for t in targets {
                    let peerQPS = qps(at: t, on: peerCurve)
                    row.append(ratioCell(batchCurve.isEmpty ? nil : qps(at: t, on: batchCurve), peerQPS, "%.0f"))
                    row.append(ratioCell(singleCurve.isEmpty ? nil : qps(at: t, on: singleCurve), peerQPS, "%.0f"))
                }
                row.append(ratioCell(v[0].buildSeconds, p0.buildSeconds, "%.2f"))
                row.append(ratioCell(v.compactMap(\.rssMB).max(), p0.rssMB, "%.0f"))
                row.append(ratioCell(v[0].indexBytes.map { Double($0) / 1_048_576 }, p0.serializedMB, "%.1f"))
                row.append(String(format: "%.4f / %.4f", v.compactMap(\.recallAt10).max() ?? .nan, p.map(\.point.recall).max() ?? .nan))
                rows.append(row)
            }
        }
        let header = ["Vireo", "peer"] + targets.flatMap { t in
            [String(format: "R@10 %.2f: Vireo batch / peer batch", t), String(format: "R@10 %.2f: Vireo per query / peer batch", t)]
        } + ["build s (ratio)", "peak RSS MiB (ratio)", "index MiB (ratio)", "max R@10"]
        return MarkdownReport.table(header: header, rows: rows, rightAligned: Set(2..<header.count))
    }

    /// Vireo one query per call against its own batch path at the same setting: one row per setting
    /// measured both ways (`per query / batch`, the per-call overhead's share).
    public static func perQueryTable(vireo: [ResultRecord]) -> String {
        var rows: [[String]] = []
        let single = vireo.filter { $0.batch == 1 }
        for b in vireo where b.batch > 1 {
            guard let s = single.first(where: { $0.index == b.index && $0.paramsText == b.paramsText }) else { continue }
            rows.append([b.index, b.paramsText, String(format: "%.4f", b.recallAt10 ?? .nan), grouped(String(format: "%.0f", b.qps)),
                         grouped(String(format: "%.0f", s.qps)), String(format: "%.2f×", s.qps / b.qps)])
        }
        let header = ["index", "setting", "R@10", "batch QPS", "per-query QPS", "per query / batch"]
        return MarkdownReport.table(header: header, rows: rows, rightAligned: Set(2..<header.count))
    }

    /// `a / b (a/b×)`; `not reached` for a missing Vireo value, `-` for a missing peer value.
    public static func ratioCell(_ a: Double?, _ b: Double?, _ format: String) -> String {
        let av = a.flatMap { $0.isFinite ? $0 : nil }, bv = b.flatMap { $0.isFinite ? $0 : nil }
        let left = av.map { grouped(String(format: format, $0)) } ?? "not reached"
        let right = bv.map { grouped(String(format: format, $0)) } ?? "not reached"
        guard let av, let bv, bv > 0 else { return "\(left) / \(right)" }
        return "\(left) / \(right) (\(String(format: "%.2f", av / bv))×)"
    }

    /// Thousands separators for the integer part (`8919` → `8,919`).
    static func grouped(_ s: String) -> String {
        let parts = s.split(separator: ".", maxSplits: 1)
        var int = String(parts[0])
        let neg = int.hasPrefix("-")
        if neg { int.removeFirst() }
        var out = ""
        for (i, c) in int.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (neg ? "-" : "") + String(out.reversed()) + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// Peer rows as records (for one JSON file and one plot with both sides): one per point for
    /// one query per call (`batch` 1) and, where measured, one for all queries in one call on one
    /// thread (`batch` = the run's query count).
    public static func records(peers: [PeerRow], gitSHA: String) -> [ResultRecord] {
        peers.flatMap { p -> [ResultRecord] in
            func record(batch: Int, qps: Double, p50: Double?, p99: Double?) -> ResultRecord {
                ResultRecord(system: p.library, index: p.index, params: peerParams(p.params), threads: 1, batch: batch, buildSeconds: p.buildSeconds,
                             recallAt1: nil, recallAt10: p.point.recall, recallAt100: nil, qps: qps, p50Ms: p50,
                             p95Ms: nil, p99Ms: p99, rssMB: p.rssMB, indexBytes: p.serializedMB.isFinite ? Int(p.serializedMB * 1_048_576) : nil,
                             dataset: p.dataset, gitSHA: gitSHA)
            }
            var out = [record(batch: 1, qps: p.point.qps, p50: p.point.p50, p99: p.point.p99)]
            if p.batchQPS.isFinite { out.append(record(batch: max(p.queryCount, 2), qps: p.batchQPS, p50: nil, p99: nil)) }
            return out
        }
    }

    /// `M=16 efC=200 ef=10` → params (the last `ef`/`efSearch`/`nprobe`/`expS` is the swept one).
    static func peerParams(_ text: String) -> [Param] {
        text.split(separator: " ").compactMap { tok -> Param? in
            let kv = tok.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = Int(kv[1]) else { return nil }
            let name = String(kv[0])
            return Param(name, v, swept: Param.sweptNames.contains(name))
        }
    }
}
