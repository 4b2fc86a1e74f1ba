import Foundation
import Vireo

/// One measured point of a recall/QPS curve.
struct CurvePoint: Sendable {
    var params: String
    var recall: Double
    var qps: Double
    var p50: Double
    var p99: Double
}

/// QPS at `target` recall, interpolated between the two sweep points around it (log-linear in QPS);
/// nil when the curve never reaches the target.
func qps(at target: Double, on curve: [CurvePoint]) -> Double? {
    let pts = curve.sorted { $0.recall < $1.recall }
    guard let hi = pts.firstIndex(where: { $0.recall >= target }) else { return nil }
    // The fastest point at or above the target bounds the answer from below.
    let best = pts[hi...].map(\.qps).max()!
    guard hi > 0 else { return best }
    let a = pts[hi - 1], b = pts[hi]
    let t = (target - a.recall) / max(b.recall - a.recall, 1e-12)
    let interpolated = exp(log(a.qps) + t * (log(b.qps) - log(a.qps)))
    return max(interpolated, best)
}

/// Runs `../shared/peers/bench_peers.py` for the given configs and reads its CSV.
enum PeerRunner {
    struct Row: Sendable {
        var library: String
        var index: String
        var params: String
        var buildSeconds: Double
        var point: CurvePoint
        var rssMB: Double
        var serializedMB: Double
        /// Resident memory the index adds once built (hnswlib: steady_index_mb).
        var steadyIndexMB: Double
    }

    static func run(python: String, script: String, dataset: String, only: String) -> [Row] {
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: script) else {
            FileHandle.standardError.write(Data("peers skipped: \(python) or \(script) missing (see bench/README.md)\n".utf8))
            return []
        }
        let out = NSTemporaryDirectory() + "vireo-peers-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: out) }
        FileHandle.standardError.write(Data("running peers (\(only)) ...\n".utf8))
        guard RunInfo.shell("'\(python)' '\(script)' '\(dataset)' --only \(only) --out '\(out)' 1>&2") != nil,
              let text = try? String(contentsOfFile: out, encoding: .utf8) else {
            FileHandle.standardError.write(Data("peer run failed\n".utf8))
            return []
        }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
        func col(_ name: String) -> Int? { header.firstIndex(of: name) }
        var rows: [Row] = []
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func v(_ name: String) -> String { col(name).flatMap { $0 < f.count ? f[$0] : nil } ?? "" }
            func d(_ name: String) -> Double { Double(v(name)) ?? .nan }
            rows.append(Row(library: v("library"), index: v("index"), params: v("params"), buildSeconds: d("build_s"),
                            point: CurvePoint(params: v("params"), recall: d("recall@10"), qps: d("qps"), p50: d("p50_ms"), p99: d("p99_ms")),
                            rssMB: d("rss_mb"), serializedMB: d("serialized_mb"), steadyIndexMB: d("steady_index_mb")))
        }
        return rows
    }
}

/// Resident and peak memory of this process, in MB (from /proc/self/status).
func memoryMB() -> (rss: Double, peak: Double) {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Double {
        guard let line = s.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return 0 }
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

/// A TEXMEX-layout dataset directory: `base.fvecs`, `query.fvecs`, `groundtruth.ivecs`.
struct BenchDataset {
    let base: [[Float]]
    let queries: [[Float]]
    let truth: [[Int32]]

    static func load(_ dir: String) throws -> BenchDataset {
        BenchDataset(base: try VectorFiles.readFVecs("\(dir)/base.fvecs"),
                     queries: try VectorFiles.readFVecs("\(dir)/query.fvecs"),
                     truth: try VectorFiles.readIVecs("\(dir)/groundtruth.ivecs"))
    }

    var parts: ([[Float]], [[Float]], [[Int32]]) { (base, queries, truth) }
}
