/// Bounded top-k of hits: higher score first, ties to the smaller row. A min-heap whose root is the
/// worst kept hit.
struct TopHits {
    let k: Int
    /// Scores are kept in Double: a row's score is the Double sum of its Float term scores, which is
    /// exact (hence independent of summation order) whenever the terms' magnitudes span less than
    /// 2^(53−24−log2(terms)), true of any BM25 query; so every algorithm ranks identically.
    private(set) var heap: [(row: UInt32, score: Double)] = []

    init(k: Int) {
        self.k = k
        heap.reserveCapacity(k)
    }

    /// `a` ranks below `b`.
    @inline(__always)
    static func worse(_ a: (row: UInt32, score: Double), _ b: (row: UInt32, score: Double)) -> Bool {
        a.score < b.score || (a.score == b.score && a.row > b.row)
    }

    var isFull: Bool { heap.count >= k }

    /// The score a new hit must beat (rows arrive in increasing order in DAAT, so a tie never wins).
    var threshold: Double { isFull ? heap[0].score : -.infinity }

    @inline(__always)
    mutating func offer(row: UInt32, score: Double) {
        let hit = (row: row, score: score)
        if heap.count < k {
            heap.append(hit)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.worse(heap[i], heap[p]) else { break }
                heap.swapAt(i, p)
                i = p
            }
        } else if k > 0, Self.worse(heap[0], hit) {
            heap[0] = hit
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, Self.worse(heap[l], heap[m]) { m = l }
                if r < heap.count, Self.worse(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
    }

    func sorted() -> [SparseHit] { heap.sorted { Self.worse($1, $0) }.map { SparseHit(row: $0.row, score: Float($0.score)) } }
}
