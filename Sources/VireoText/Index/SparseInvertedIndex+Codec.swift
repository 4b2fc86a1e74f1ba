extension SparseInvertedIndex {
    static let magic: UInt32 = 0x5849_5456  // "VTIX"
    /// Bumped on any change of the layout below; a reader refuses versions it does not know.
    public static let formatVersion: UInt32 = 1

    /// The stored form, a blob for the segment layer (little-endian):
    ///
    /// | field | type |
    /// |---|---|
    /// | magic `VTIX`, format version (1) | u32, u32 |
    /// | metric (0 BM25, 1 IP), block size (128) | u32, u32 |
    /// | row count | u64 |
    /// | lengths, terms, blockStart, termDocCount, termMaxValue, termMinLength, blockLastRow, blockWordOffset, blockShape, blockMaxValue, blockMinLength, blockPostingOffset, words, weights | each a u64 count then its u32 / f32 elements |
    /// | CRC-32C of everything before | u32 |
    ///
    /// ``init(serialized:)`` checks the checksum and every structural invariant the search relies on
    /// (sorted terms, block ranges, bit widths, words in bounds, rows in range), so a damaged blob is
    /// a ``TextError/Kind/corrupted`` error, never a wrong answer or a crash.
    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.u32(Self.magic)
        w.u32(Self.formatVersion)
        w.u32(metric == .bm25 ? 0 : 1)
        w.u32(UInt32(Self.blockSize))
        w.u64(UInt64(rowCount))
        w.u32s(lengths); w.u32s(terms); w.u32s(blockStart); w.u32s(termDocCount)
        w.f32s(termMaxValue); w.u32s(termMinLength); w.u32s(blockLastRow); w.u32s(blockWordOffset)
        w.u32s(blockShape); w.f32s(blockMaxValue); w.u32s(blockMinLength); w.u32s(blockPostingOffset)
        w.u32s(words); w.f32s(weights)
        w.appendChecksum()
        return w.bytes
    }

    public convenience init(serialized bytes: [UInt8]) throws(TextError) {
        var r = try ByteReader(checked: bytes, what: "sparse index")
        guard try r.u32() == Self.magic else { throw .corrupted("sparse index: bad magic") }
        let version = try r.u32()
        guard version == Self.formatVersion else {
            throw .corrupted("sparse index: format version \(version) is not one this Vireo reads (\(Self.formatVersion)); rebuild the index")
        }
        let metric: SparseMetric
        switch try r.u32() {
        case 0: metric = .bm25
        case 1: metric = .ip
        case let m: throw .corrupted("sparse index: unknown metric code \(m)")
        }
        guard try r.u32() == UInt32(Self.blockSize) else { throw .corrupted("sparse index: unexpected block size") }
        let rows = try r.u64()
        guard rows < UInt64(UInt32.max) else { throw .corrupted("sparse index: row count \(rows) out of range") }
        let parts = Parts(
            lengths: try r.u32s(), terms: try r.u32s(), blockStart: try r.u32s(), termDocCount: try r.u32s(),
            termMaxValue: try r.f32s(), termMinLength: try r.u32s(), blockLastRow: try r.u32s(), blockWordOffset: try r.u32s(),
            blockShape: try r.u32s(), blockMaxValue: try r.f32s(), blockMinLength: try r.u32s(), blockPostingOffset: try r.u32s(),
            words: try r.u32s(), weights: try r.f32s())
        try r.expectEnd()
        try parts.validate(metric: metric, rowCount: Int(rows))
        self.init(metric: metric, rowCount: Int(rows), parts: parts)
        try validatePostings()
    }

    /// Decodes every block and checks its rows rise, stay below the row count and end at the stored
    /// last row, and that counts and weights respect the stored maxima the pruning bounds rely on.
    private func validatePostings() throws(TextError) {
        var buffer = BlockBuffer()
        for t in 0..<terms.count {
            var previous: UInt32 = .max
            for b in Int(blockStart[t])..<Int(blockStart[t + 1]) {
                let n = decode(block: b, after: previous, into: &buffer)
                var last: Int64 = previous == .max ? -1 : Int64(previous)
                for k in 0..<n {
                    let row = Int64(buffer.rows[k])
                    let v = buffer.values[k]
                    guard row > last, row < Int64(rowCount), v > 0, v <= blockMaxValue[b],
                          metric == .ip || lengths[Int(row)] >= blockMinLength[b] else {
                        throw .corrupted("sparse index: block \(b) of term \(terms[t]) does not decode to valid postings")
                    }
                    last = row
                }
                guard last == Int64(blockLastRow[b]) else { throw .corrupted("sparse index: block \(b) ends at the wrong row") }
                previous = blockLastRow[b]
            }
        }
    }

    struct Parts {
        var lengths, terms, blockStart, termDocCount: [UInt32]
        var termMaxValue: [Float]
        var termMinLength, blockLastRow, blockWordOffset, blockShape: [UInt32]
        var blockMaxValue: [Float]
        var blockMinLength, blockPostingOffset, words: [UInt32]
        var weights: [Float]

        func validate(metric: SparseMetric, rowCount: Int) throws(TextError) {
            func fail(_ m: String) -> TextError { .corrupted("sparse index: \(m)") }
            let nt = terms.count, nb = blockLastRow.count
            guard lengths.count == (metric == .bm25 ? rowCount : 0) else { throw fail("length table size") }
            guard blockStart.count == nt + 1, termDocCount.count == nt, termMaxValue.count == nt, termMinLength.count == nt else { throw fail("term table sizes") }
            guard blockWordOffset.count == nb, blockShape.count == nb, blockMaxValue.count == nb, blockMinLength.count == nb,
                  blockPostingOffset.count == nb else { throw fail("block table sizes") }
            for i in 1..<max(nt, 1) where terms[i - 1] >= terms[i] { throw fail("terms not sorted") }
            guard blockStart.first == 0, blockStart.last.map(Int.init) == nb else { throw fail("block ranges") }
            var postings = 0
            for t in 0..<nt {
                let lo = Int(blockStart[t]), hi = Int(blockStart[t + 1])
                guard lo < hi, hi <= nb else { throw fail("block range of term \(terms[t])") }
                var docs = 0
                var previous: Int64 = -1
                for b in lo..<hi {
                    let shape = blockShape[b]
                    let n = Int(shape & 0x7F) + 1
                    let gapBits = Int((shape >> 8) & 0x3F), tfBits = Int((shape >> 16) & 0x3F)
                    guard gapBits <= 32, tfBits <= 32, shape & ~0x3F3F7F == 0 else { throw fail("block shape") }
                    guard metric == .bm25 || tfBits == 0 else { throw fail("block shape") }
                    let needed = BitPacking.wordCount(count: n, width: gapBits) + BitPacking.wordCount(count: n, width: tfBits)
                    guard Int(blockWordOffset[b]) + needed <= words.count else { throw fail("block words out of range") }
                    if metric == .ip { guard Int(blockPostingOffset[b]) + n <= weights.count else { throw fail("weights out of range") } }
                    let last = Int64(blockLastRow[b])
                    // Each of n rows is at least one past the previous: the last row is ≥ previous + n.
                    guard last >= previous + Int64(n), last < Int64(rowCount) else { throw fail("block rows out of range") }
                    previous = last
                    docs += n
                }
                guard docs == Int(termDocCount[t]) else { throw fail("posting count of term \(terms[t])") }
                postings += docs
            }
            guard metric == .bm25 || weights.count == postings else { throw fail("weight table size") }
        }
    }
}
