import Foundation
import VireoBenchKit
import Vireo

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
