import CVireoKernels
import Dispatch
import Synchronization

/// Lloyd's k-means with the assignment step as blocked GEMM (``ExactScanner``), for IVF coarse
/// quantisers and PQ codebooks.
///
/// - Initialisation: `k` distinct rows drawn with a seeded generator (faiss' default; k-means++ costs
///   a sequential O(n·k·d) pass that dominates training for large `k` and gains little after 10
///   Lloyd iterations on real embeddings).
/// - Empty clusters are repaired by splitting the largest cluster: the empty centroid becomes a
///   slightly perturbed copy of the large one (±1/1024 per coordinate, in opposite directions), as
///   faiss does.
/// - The caller bounds the training sample (IVF: 256 rows per centroid).
package enum KMeans {
    /// Nearest centroid of every row of `data`: one GEMM per block of rows
    /// (`−2·X·Cᵀ + |c|²` for L2, `−X·Cᵀ` for IP) and a vectorised arg-min per row.
    ///
    /// - Returns: labels (row → centroid) and distances (internal convention, smaller is closer).
    package static func assign(
        data: MatrixView, centroids: MatrixView, metric: Metric, backend: any ComputeBackend, threads: Int
    ) -> (labels: [UInt32], distances: [Float]) {
        let n = data.rows, k = centroids.rows, d = data.dim
        precondition(centroids.dim == d)
        var centroidNorms = [Float](repeating: 0, count: k)
        if metric.usesL2Kernel {
            centroidNorms.withUnsafeMutableBufferPointer { vk_norms_sq(centroids.base, k, d, $0.baseAddress!) }
        }
        let block = max(1, min(1024, (1 << 22) / max(k, 1)))  // tile of at most 4M floats
        let blocks = (n + block - 1) / block
        let out = AssignOutput(n: n)
        let workers = max(1, min(threads, blocks))
        let norms = centroidNorms
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var tile = [Float](repeating: 0, count: block * k)
            var b = w
            while b < blocks {
                let start = b * block
                let count = min(block, n - start)
                tile.withUnsafeMutableBufferPointer { t in
                    norms.withUnsafeBufferPointer { nb in
                        // SAFETY: t holds block*k ≥ count*k floats; rows [start, start+count) lie in
                        // data; out's arrays hold n entries and blocks write disjoint ranges.
                        backend.gemmNT(nq: count, n: k, d: d, alpha: metric.usesL2Kernel ? -2 : -1,
                                       queries: data.base + start * d, base: centroids.base, beta: 0, out: t.baseAddress!)
                        vk_argmin_rows(t.baseAddress!, count, k, metric.usesL2Kernel ? nb.baseAddress : nil,
                                       out.labels + start, out.distances + start)
                    }
                }
                b += workers
            }
        }
        let labels = Array(UnsafeBufferPointer(start: out.labels, count: n))
        var distances = Array(UnsafeBufferPointer(start: out.distances, count: n))
        if metric.usesL2Kernel {
            // Add |x|² so the distances are squared L2.
            var xn = [Float](repeating: 0, count: n)
            xn.withUnsafeMutableBufferPointer { vk_norms_sq(data.base, n, d, $0.baseAddress!) }
            for i in 0..<n { distances[i] += xn[i] }
        }
        return (labels, distances)
    }

    /// Trains `k` centroids on the rows of `data`.
    ///
    /// - Precondition: `data.rows >= k`.
    /// - Complexity: `iterations` × O(n·k·d), as GEMM.
    package static func train(
        data: MatrixView, k: Int, iterations: Int, metric: Metric, seed: UInt64, backend: any ComputeBackend, threads: Int
    ) -> FloatArena {
        let n = data.rows, d = data.dim
        precondition(n >= k && k > 0, "k-means needs at least k rows")
        var rng = SplitMix64(seed: seed)
        // Distinct random rows as initial centroids (partial Fisher-Yates over indices).
        var order = Array(0..<n)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(n - i))
            order.swapAt(i, j)
        }
        var centroids = [Float](repeating: 0, count: k * d)
        for c in 0..<k {
            let row = data.row(order[c])
            for t in 0..<d { centroids[c * d + t] = row[t] }
        }
        for _ in 0..<iterations {
            let view = FloatArena(copying: centroids).matrix(dim: d)
            let (labels, _) = assign(data: data, centroids: view, metric: metric, backend: backend, threads: threads)
            var sums = [Float](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                let c = Int(labels[i])
                counts[c] += 1
                let row = data.row(i)
                let base = c * d
                for t in 0..<d { sums[base + t] += row[t] }
            }
            for c in 0..<k where counts[c] > 0 {
                let inv = 1 / Float(counts[c])
                for t in 0..<d { centroids[c * d + t] = sums[c * d + t] * inv }
            }
            // Empty clusters: split the largest one.
            for c in 0..<k where counts[c] == 0 {
                let big = counts.indices.max { counts[$0] < counts[$1] }!
                guard counts[big] > 1 else { break }
                for t in 0..<d {
                    let v = centroids[big * d + t]
                    let eps: Float = 1.0 / 1024
                    if t % 2 == 0 {
                        centroids[c * d + t] = v * (1 + eps)
                        centroids[big * d + t] = v * (1 - eps)
                    } else {
                        centroids[c * d + t] = v * (1 - eps)
                        centroids[big * d + t] = v * (1 + eps)
                    }
                }
                counts[c] = counts[big] / 2
                counts[big] -= counts[c]
            }
        }
        return FloatArena(copying: centroids)
    }
}

/// Output arrays of a parallel assignment.
private final class AssignOutput: @unchecked Sendable {
    // SAFETY: workers write disjoint index ranges (one block each); read after concurrentPerform.
    let labels: UnsafeMutablePointer<UInt32>
    let distances: UnsafeMutablePointer<Float>
    init(n: Int) {
        labels = .allocate(capacity: max(n, 1))
        distances = .allocate(capacity: max(n, 1))
    }
    deinit {
        labels.deallocate()
        distances.deallocate()
    }
}
