import Foundation
import Testing
@testable import VireoBenchKit

@Suite("Recall, latency and interpolation")
struct MeasuresTests {
    @Test("recall@k on hand-made cases")
    func recallCases() {
        let truth: [[Int32]] = [[1, 2, 3, 4], [5, 6, 7, 8]]
        // Query 0: all of the top 2 found, in another order; query 1: one of two.
        let results: [[Int64]] = [[2, 1, 9, 9], [5, 9, 6, 7]]
        #expect(Recall.at(1, results: results, truth: truth, limit: 4) == 0.5)    // 2≠1 miss, 5 hit
        #expect(Recall.at(2, results: results, truth: truth, limit: 4) == 0.75)   // {1,2}: 2 hits; {5,6}: 1 hit
        #expect(Recall.at(4, results: results, truth: truth, limit: 4) == 5.0 / 8) // {1,2,3,4}∩{2,1,9}: 2; {5..8}∩{5,9,6,7}: 3
        // Duplicates count once; fewer hits than k count as misses.
        #expect(Recall.at(2, results: [[1, 1], [5]], truth: truth, limit: 2) == 0.5)
    }

    @Test("recall@k is unknown when the search asked for fewer than k hits or the truth is shorter")
    func recallUnknown() {
        let truth: [[Int32]] = [[1, 2, 3]]
        #expect(Recall.at(10, results: [[1, 2, 3]], truth: truth, limit: 10) == nil)  // truth has 3
        #expect(Recall.at(3, results: [[1, 2]], truth: truth, limit: 2) == nil)       // limit 2 < 3
        #expect(Recall.at(3, results: [[1, 2, 3]], truth: truth, limit: 3) == 1)
    }

    @Test("latency percentiles come from the histogram (3 significant digits)")
    func latency() {
        var a = LatencyRecorder(), b = LatencyRecorder()
        for i in 1...50 { a.record(nanoseconds: UInt64(i) * 1_000_000) }  // 1…50 ms
        for i in 51...100 { b.record(nanoseconds: UInt64(i) * 1_000_000) }
        a.add(b)
        #expect(a.count == 100)
        #expect(abs(a.milliseconds(atPercentile: 50)! - 50) < 0.1)
        #expect(abs(a.milliseconds(atPercentile: 95)! - 95) < 0.1)
        #expect(abs(a.milliseconds(atPercentile: 99)! - 99) < 0.1)
        #expect(LatencyRecorder().milliseconds(atPercentile: 50) == nil)
    }

    @Test("QPS at a recall target: log-linear between the points around it; nil when never reached")
    func interpolation() {
        let curve = [CurvePoint(params: "a", recall: 0.80, qps: 10_000), CurvePoint(params: "b", recall: 0.90, qps: 1_000),
                     CurvePoint(params: "c", recall: 0.99, qps: 100)]
        #expect(abs(qps(at: 0.85, on: curve)! - 10_000 / 10.0.squareRoot()) < 1e-6 * 3162)
        #expect(qps(at: 0.90, on: curve) == 1_000)
        #expect(qps(at: 0.70, on: curve) == 10_000)
        #expect(qps(at: 0.995, on: curve) == nil)
    }
}
