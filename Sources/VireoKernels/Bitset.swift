import CVireoKernels

/// A fixed-universe set of row offsets, one bit per row: tombstones and (later) filter results.
///
/// A value type with copy-on-write storage, so a snapshot can hold one while the writer prepares the
/// next version.
public struct Bitset: Sendable, Hashable {
    @usableFromInline package var words: [UInt64]
    /// Number of rows the set can address (bits past `capacity` are always zero).
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = capacity
        self.words = Array(repeating: 0, count: (capacity + 63) / 64)
    }

    /// Grows the universe to at least `capacity` rows; new rows are not members.
    public mutating func reserve(_ capacity: Int) {
        guard capacity > self.capacity else { return }
        self.capacity = capacity
        let needed = (capacity + 63) / 64
        if needed > words.count { words.append(contentsOf: repeatElement(0, count: needed - words.count)) }
    }

    @inlinable
    public func contains(_ i: Int) -> Bool {
        guard i >= 0, i < capacity else { return false }
        return words[i >> 6] & (1 << UInt64(i & 63)) != 0
    }

    /// Adds row `i`, growing the universe if needed. Returns whether it was newly added.
    @discardableResult
    public mutating func insert(_ i: Int) -> Bool {
        precondition(i >= 0, "bitset index must be non-negative")
        if i >= capacity { reserve(i + 1) }
        let mask: UInt64 = 1 << UInt64(i & 63)
        let was = words[i >> 6] & mask != 0
        words[i >> 6] |= mask
        return !was
    }

    /// Sets exactly the rows `i` in `0..<capacity` for which `predicate(i)` holds, a word at a time.
    @inlinable
    public mutating func fill(_ predicate: (Int) -> Bool) {
        var w = 0
        var base = 0
        while base < capacity {
            var word: UInt64 = 0
            let end = min(64, capacity - base)
            for b in 0..<end where predicate(base + b) { word |= 1 << UInt64(b) }
            words[w] = word
            w += 1
            base += 64
        }
    }

    /// Offsets of the rows in `0..<universe` that are not members, ascending.
    public func complementIndices(universe: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(universe - count)
        var w = 0
        var base = 0
        while base < universe {
            let word = w < words.count ? words[w] : 0
            var free = ~word
            if universe - base < 64 { free &= (1 << UInt64(universe - base)) - 1 }
            while free != 0 {
                let b = free.trailingZeroBitCount
                out.append(base + b)
                free &= free - 1
            }
            w += 1
            base += 64
        }
        return out
    }

    /// Members of either set (the universe of the larger).
    public func union(_ other: Bitset) -> Bitset {
        var out = capacity >= other.capacity ? self : other
        let small = capacity >= other.capacity ? other : self
        for i in small.words.indices { out.words[i] |= small.words[i] }
        return out
    }

    /// Members of this set that are not in `other`.
    public func subtracting(_ other: Bitset) -> Bitset {
        var out = self
        for i in out.words.indices where i < other.words.count { out.words[i] &= ~other.words[i] }
        return out
    }

    /// Rows in `0..<capacity` that are not members.
    public func inverted() -> Bitset {
        var out = self
        out.words.withUnsafeMutableBufferPointer { w in
            for i in w.indices { w[i] = ~w[i] }
        }
        let tail = capacity & 63
        if tail != 0, !out.words.isEmpty { out.words[out.words.count - 1] &= (1 << UInt64(tail)) - 1 }
        return out
    }

    /// Number of members.
    public var count: Int {
        // A 50,000-row segment's set is 782 words, counted once or twice per filtered search.
        words.withUnsafeBufferPointer { Int(vk_popcount_words($0.baseAddress, $0.count)) }
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
}
