import Foundation
import VireoBenchKit
import Vireo

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
