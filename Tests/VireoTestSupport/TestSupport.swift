import Foundation
import Vireo
import VireoKernels

/// The seeded generator of test data (Vireo's SplitMix64): data is reproducible from the seed,
/// which tests put in their failure messages.
package typealias SeededGenerator = SplitMix64

/// Seeded datasets.
public enum Datasets {
    /// `n` vectors of dimension `dim`, uniform in [-1, 1).
    public static func uniform(n: Int, dim: Int, seed: UInt64) -> [[Float]] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) } }
    }

    /// `n` vectors around `clusters` random centres (Gaussian-ish noise), like real embeddings.
    public static func clustered(n: Int, dim: Int, clusters: Int, seed: UInt64) -> [[Float]] {
        var g = SeededGenerator(seed: seed)
        let centres = (0..<clusters).map { _ in (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) } }
        return (0..<n).map { _ in
            let c = centres[Int.random(in: 0..<clusters, using: &g)]
            return c.map { $0 + 0.25 * (Float.random(in: -1..<1, using: &g) + Float.random(in: -1..<1, using: &g)) }
        }
    }
}

extension Datasets {
    /// Embedding-like data: points of `clusters` clusters in a `latent`-dimensional space, mapped to
    /// `dim` dimensions by a fixed random linear map, plus a little noise. Real text embeddings have
    /// such low intrinsic dimension; uniform noise in every dimension would not be a fair ANN test.
    /// Queries drawn with another seed from the same clusters and map need the same `mapSeed`.
    public static func embeddingLike(n: Int, dim: Int, latent: Int = 8, clusters: Int = 30, seed: UInt64, mapSeed: UInt64 = 1) -> [[Float]] {
        var mg = SeededGenerator(seed: mapSeed)
        let map = (0..<dim).map { _ in (0..<latent).map { _ in Float.random(in: -1..<1, using: &mg) } }
        let centres = (0..<clusters).map { _ in (0..<latent).map { _ in Float.random(in: -2..<2, using: &mg) } }
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in
            let c = centres[Int.random(in: 0..<clusters, using: &g)]
            let z = c.map { $0 + Float.random(in: -0.6..<0.6, using: &g) }
            return map.map { row in
                var s: Float = 0
                for j in 0..<latent { s += row[j] * z[j] }
                return s + Float.random(in: -0.05..<0.05, using: &g)
            }
        }
    }
}

/// The exact oracle: a naive O(n·d) scan in Double precision.
public enum Oracle {
    /// Indices of the `k` nearest rows of `base` to `query` for `metric` (COSINE on normalised copies).
    public static func nearest(_ query: [Float], in base: [[Float]], k: Int, metric: Metric, excluded: Set<Int> = []) -> [(index: Int, distance: Double)] {
        let q = metric == .cosine ? normalized(query) : query
        var all: [(Int, Double)] = []
        for (i, x) in base.enumerated() where !excluded.contains(i) {
            let v = metric == .cosine ? normalized(x) : x
            all.append((i, Distances.Reference.distance(metric, q, v)))
        }
        all.sort { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return all.prefix(k).map { (index: $0.0, distance: $0.1) }
    }

    public static func normalized(_ v: [Float]) -> [Float] {
        let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return v.map { Float(Double($0) / n) }
    }

    /// Milvus score of an oracle distance.
    public static func score(_ distance: Double, metric: Metric) -> Double {
        metric.largerIsCloser ? -distance : distance
    }
}

extension Metric {
    /// The metrics of dense (non-binary) vectors: L2, IP, COSINE.
    public static let dense: [Metric] = [.l2, .ip, .cosine]
}

/// A temporary directory removed when the value is deinitialised.
public final class TemporaryDirectory: Sendable {
    public let path: String
    public init(_ label: String = "vireo-test") {
        let p = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Rows for a simple schema (`id` Int64, `vec`, `tag` VarChar).
public func makeRows(_ vectors: [[Float]], firstID: Int64 = 0) -> [Row] {
    vectors.enumerated().map { i, v in
        ["id": .int(firstID + Int64(i)), "vec": .floatVector(v), "tag": .string("t\(Int(firstID) + i)")]
    }
}

public func simpleSchema(_ name: String = "items", dim: Int, metric: Metric = .l2, shards: Int = 1) -> CollectionSchema {
    CollectionSchema(name: name, fields: [
        .int64PrimaryKey("id"),
        .floatVector("vec", dimension: dim, metric: metric),
        FieldSchema(name: "tag", dataType: .varChar, maxLength: 64),
    ], shardsNum: shards)
}

/// What the process holds resident, from `/proc/self/smaps` (Linux).
public enum ResidentMemory {
    /// Resident bytes (`Rss`) of the mappings that overlap `range`: whole mappings, so a check of
    /// one blob should allow for what shares its mapping.
    public static func bytes(overlapping range: UnsafeRawBufferPointer) throws -> Int {
        let lo = UInt(bitPattern: range.baseAddress), hi = lo + UInt(range.count)
        // Read to the end (procfs files report size 0, so a read sized by stat would find nothing).
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return 0 }
        defer { try? handle.close() }
        let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var total = 0
        var overlaps = false
        for line in text.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let start = UInt(line[..<dash], radix: 16), let end = UInt(line[line.index(after: dash)..<space], radix: 16) {
                overlaps = start < hi && end > lo
            } else if overlaps, line.hasPrefix("Rss:") {
                total += (Int(line.split(separator: " ")[1]) ?? 0) * 1024
            }
        }
        return total
    }
}
