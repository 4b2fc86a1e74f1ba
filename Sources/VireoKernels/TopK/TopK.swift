import CVireoKernels

/// The `k` smallest (distance, id) pairs seen so far: a bounded binary max-heap on distance.
///
/// ## Invariants
/// - `count <= k`; the root holds the largest retained distance.
/// - ``threshold`` is `+infinity` until `k` items are held, then the root's distance: a candidate is
///   worth pushing only if its distance is below it.
///
/// - Complexity: ``push(_:id:)`` is O(log k); ``sorted()`` is O(k log k).
public struct TopK: Sendable {
    public let k: Int
    @usableFromInline var distances: [Float]
    @usableFromInline var ids: [Int64]

    public init(k: Int) {
        precondition(k > 0, "top-k needs k >= 1")
        self.k = k
        distances = []
        ids = []
        distances.reserveCapacity(k)
        ids.reserveCapacity(k)
    }

    public var count: Int { distances.count }

    /// Distance a new candidate must beat to enter the heap.
    @inlinable
    public var threshold: Float { distances.count < k ? .infinity : distances[0] }

    /// Offers a candidate; keeps it if it is among the k smallest so far.
    @inlinable
    public mutating func push(_ distance: Float, id: Int64) {
        if distances.count < k {
            distances.append(distance)
            ids.append(id)
            siftUp(distances.count - 1)
        } else if distance < distances[0] {
            distances[0] = distance
            ids[0] = id
            siftDown(0)
        }
    }

    @usableFromInline
    mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let p = (i - 1) >> 1
            if distances[p] >= distances[i] { break }
            distances.swapAt(p, i)
            ids.swapAt(p, i)
            i = p
        }
    }

    @usableFromInline
    mutating func siftDown(_ start: Int) {
        var i = start
        let n = distances.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var m = l
            if l + 1 < n && distances[l + 1] > distances[l] { m = l + 1 }
            if distances[i] >= distances[m] { break }
            distances.swapAt(i, m)
            ids.swapAt(i, m)
            i = m
        }
    }

    /// Offers the rows whose distance `out[i] + bias` beats the threshold, as `idBase + rows[i]`,
    /// skipping rows in `excluded`: `vk_select_below` picks them, so the work follows the candidates.
    ///
    /// - Precondition: `out` and `rows` hold `count` entries, `scratch` room for `count` indices.
    @inlinable
    package mutating func offer(_ out: UnsafePointer<Float>, count: Int, bias: Float = 0, rows: UnsafePointer<UInt32>,
                                scratch: UnsafeMutablePointer<UInt32>, excluded: Bitset? = nil, idBase: Int64) {
        // SAFETY: out and rows hold count entries, scratch room for count indices (caller).
        let found = vk_select_below(out, count, threshold - bias, scratch)
        for s in 0..<found {
            let r = Int(scratch[s])
            let row = Int(rows[r])
            if let excluded, excluded.contains(row) { continue }
            push(out[r] + bias, id: idBase + Int64(row))
        }
    }

    /// The retained ids, in heap order (for callers that re-score them all and need no order).
    public var unorderedIDs: [Int64] { ids }

    /// The retained pairs, closest first (ties broken by id).
    public func sorted() -> [(distance: Float, id: Int64)] {
        var out: [(distance: Float, id: Int64)] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append((distances[i], ids[i])) }
        out.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.id < $1.id }
        return out
    }
}
