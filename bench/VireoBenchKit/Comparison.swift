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

    public static let pairs: [Pair] = [
        Pair(label: "HNSW", index: "HNSW", refine: false, peers: ["hnswlib HNSW", "faiss HNSWFlat"], peerConfigs: ["hnswlib_hnsw", "faiss_hnswflat"]),
        Pair(label: "IVF_PQ", index: "IVF_PQ", refine: false, peers: ["faiss IVFPQ"], peerConfigs: ["faiss_ivfpq"]),
        Pair(label: "IVF_PQ + refine", index: "IVF_PQ", refine: true, peers: ["faiss IVFPQ+RefineFlat"], peerConfigs: ["faiss_ivfpq_refine"]),
        Pair(label: "IVF_FLAT", index: "IVF_FLAT", refine: false, peers: ["faiss IVFFlat"], peerConfigs: ["faiss_ivfflat"]),
        Pair(label: "FLAT", index: "FLAT", refine: false, peers: ["faiss FlatIP"], peerConfigs: ["faiss_flatip"]),
    ]

    /// The `bench_peers.py` configs the pairs of these Vireo index types need.
    public static func peerConfigs(for indexes: [String]) -> [String] {
        pairs.filter { indexes.contains($0.index) }.flatMap(\.peerConfigs).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// Vireo's records of `pair`.
    public static func records(_ pair: Pair, in records: [ResultRecord]) -> [ResultRecord] {
        records.filter { r in
            r.index == pair.index && r.params.contains { $0.name == "refine_k" && $0.value > 0 } == pair.refine
        }
    }

    /// The ratio table (Markdown): one row per (Vireo curve, peer curve) with data on both sides.
    public static func table(vireo: [ResultRecord], peers: [PeerRow], targets: [Double] = [0.90, 0.95, 0.99]) -> String {
        var rows: [[String]] = []
        for pair in pairs {
            let v = records(pair, in: vireo)
            guard !v.isEmpty else { continue }
            let vCurve = v.compactMap { r in r.recallAt10.map { CurvePoint(params: r.paramsText, recall: $0, qps: r.qps) } }
            for peerName in pair.peers {
                let p = peers.filter { $0.curveName == peerName }
                guard let p0 = p.first else { continue }
                var row = [pair.label, peerName]
                for t in targets {
                    row.append(ratioCell(qps(at: t, on: vCurve), qps(at: t, on: p.map(\.point)), "%.0f"))
                }
                row.append(ratioCell(v[0].buildSeconds, p0.buildSeconds, "%.2f"))
                row.append(ratioCell(v.compactMap(\.rssMB).max(), p0.rssMB, "%.0f"))
                row.append(ratioCell(v[0].indexBytes.map { Double($0) / 1_048_576 }, p0.serializedMB, "%.1f"))
                row.append(String(format: "%.4f / %.4f", v.compactMap(\.recallAt10).max() ?? .nan, p.map(\.point.recall).max() ?? .nan))
                rows.append(row)
            }
        }
        let header = ["Vireo", "peer"] + targets.map { String(format: "QPS at R@10 %.2f: Vireo / peer (ratio)", $0) } +
            ["build s (ratio)", "peak RSS MiB (ratio)", "index MiB on disk (ratio)", "max R@10"]
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

    /// Peer rows as records (for one JSON file and one plot with both sides).
    public static func records(peers: [PeerRow], gitSHA: String) -> [ResultRecord] {
        peers.map { p in
            ResultRecord(system: p.library, index: p.index, params: peerParams(p.params), threads: 1, batch: 1, buildSeconds: p.buildSeconds,
                         recallAt1: nil, recallAt10: p.point.recall, recallAt100: nil, qps: p.point.qps, p50Ms: p.point.p50,
                         p95Ms: nil, p99Ms: p.point.p99, rssMB: p.rssMB, indexBytes: p.serializedMB.isFinite ? Int(p.serializedMB * 1_048_576) : nil,
                         dataset: p.dataset, gitSHA: gitSHA)
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
