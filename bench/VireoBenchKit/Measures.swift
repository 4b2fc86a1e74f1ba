import Foundation
import Histogram

/// Recall of search results against exact ground truth.
public enum Recall {
    /// Mean recall@`k`: per query |first k results ∩ first k true neighbours| / k, averaged over queries.
    ///
    /// Returns nil when it cannot be measured: a query has fewer than `k` true neighbours, or `results`
    /// were asked for fewer than `k` hits (`limit < k`). Duplicate ids in a result count once.
    ///
    /// - Parameters:
    ///   - results: returned ids per query, best first.
    ///   - truth: exact neighbour ids per query, best first (at least as many rows as `results`).
    ///   - limit: the number of hits each search asked for.
    public static func at(_ k: Int, results: [[Int64]], truth: [[Int32]], limit: Int) -> Double? {
        guard k > 0, k <= limit, !results.isEmpty, truth.count >= results.count else { return nil }
        var found = 0
        for (q, hits) in results.enumerated() {
            guard truth[q].count >= k else { return nil }
            let want = Set(truth[q].prefix(k).map(Int64.init))
            found += Set(hits.prefix(k)).intersection(want).count
        }
        return Double(found) / Double(k * results.count)
    }
}

/// Latencies of search calls, in an HdrHistogram (3 significant digits, nanoseconds).
public struct LatencyRecorder: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    /// Records one call's latency.
    public mutating func record(nanoseconds: UInt64) {
        _ = histogram.record(max(1, nanoseconds))
    }

    /// Merges another recorder's values (one recorder per worker).
    public mutating func add(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
    }

    public var count: UInt64 { histogram.totalCount }

    /// The latency at `percentile` (0…100) in milliseconds; nil when nothing was recorded.
    public func milliseconds(atPercentile percentile: Double) -> Double? {
        histogram.totalCount == 0 ? nil : Double(histogram.valueAtPercentile(percentile)) / 1e6
    }
}

/// Memory of this process from `/proc/self/status`, in MiB (as `ru_maxrss / 1024`, the peers' unit).
public enum ProcessMemory {
    /// Resident set size now (`VmRSS`) and its peak so far (`VmHWM`).
    public static func current() -> (rss: Double, peak: Double) {
        let v = status(["VmRSS:", "VmHWM:"])
        return (v[0], v[1])
    }

    /// Fields of `/proc/self/status` given in kB (`VmRSS:`, `RssAnon:`, …), in MiB; 0 when absent.
    public static func status(_ names: [String]) -> [Double] {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return names.map { _ in 0 } }
        let lines = s.split(separator: "\n")
        return names.map { name in
            guard let line = lines.first(where: { $0.hasPrefix(name) }) else { return 0 }
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
    }
}

/// One point of a recall/QPS curve.
public struct CurvePoint: Sendable, Hashable {
    public var params: String
    public var recall: Double
    public var qps: Double
    public var p50: Double
    public var p99: Double

    public init(params: String, recall: Double, qps: Double, p50: Double = .nan, p99: Double = .nan) {
        self.params = params
        self.recall = recall
        self.qps = qps
        self.p50 = p50
        self.p99 = p99
    }
}

/// QPS at `target` recall, interpolated log-linearly in QPS between the two sweep points around it,
/// and never below the fastest point at or above the target; nil when the curve never reaches it.
public func qps(at target: Double, on curve: [CurvePoint]) -> Double? {
    let pts = curve.filter { $0.recall.isFinite && $0.qps.isFinite && $0.qps > 0 }.sorted { $0.recall < $1.recall }
    guard let hi = pts.firstIndex(where: { $0.recall >= target }) else { return nil }
    let best = pts[hi...].map(\.qps).max()!
    guard hi > 0 else { return best }
    let a = pts[hi - 1], b = pts[hi]
    let t = (target - a.recall) / max(b.recall - a.recall, 1e-12)
    return max(exp(log(a.qps) + t * (log(b.qps) - log(a.qps))), best)
}
