import VireoKernels

/// A stored vector index together with the metric it ranks by and, for COSINE over vectors that are
/// stored as inserted, the unit-normalised copy of the vectors it was built on and searches.
///
/// Milvus keeps the metric on the index and the vectors as inserted; faiss and Milvus' own HNSW keep
/// their copy of the data inside the index as well. Vireo does the same for COSINE: the segment's
/// vectors stay exactly as inserted (what `get` returns, and what an L2 or IP index reads in place),
/// and a COSINE index reads its own normalised copy, so its graph walk or list scan runs the inner
/// product kernel with no per-distance scaling. The cost is one more copy of the vectors per COSINE
/// index (the price Milvus pays for every index); exact scans need no copy (they scale inner products
/// by stored inverse norms).
///
/// ## Stored form
/// A 64-byte header, then the copy (when present), then the inner index's own stored form at a
/// 64-byte-aligned offset:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `VIXE` |
/// | 4 | 4 | format version (1) |
/// | 8 | 4 | metric: 0 L2, 1 IP, 2 COSINE |
/// | 12 | 4 | flags (bit 0: a normalised copy follows the header) |
/// | 16 | 8 | rows |
/// | 24 | 4 | dim |
/// | 28 | 4 | reserved |
/// | 32 | 8 | offset of the inner index |
/// | 40 | 24 | reserved, zero |
///
/// Index blobs written before the envelope existed start with the inner index's own magic; they are
/// read as legacy blobs (``parse(_:owner:)`` returns nil) and carry no metric of their own.
package final class IndexEnvelope<Inner: SerializableIndex>: SerializableIndex {
    package let inner: Inner
    /// The metric the index ranks by.
    package let metric: Metric
    /// The unit-normalised copy the inner index reads (COSINE over vectors stored as inserted).
    package let normalized: MatrixView?

    package init(inner: Inner, metric: Metric, normalized: MatrixView?) {
        self.inner = inner
        self.metric = metric
        self.normalized = normalized
    }

    static var magic: UInt32 { 0x4558_4956 }  // "VIXE" little-endian
    static var formatVersion: UInt32 { 1 }
    static var headerSize: Int { 64 }

    private static func innerOffset(copyBytes: Int) -> Int { (headerSize + copyBytes + 63) / 64 * 64 }

    private var copyBytes: Int { normalized.map { $0.rows * $0.dim * MemoryLayout<Float>.stride } ?? 0 }

    package var byteCount: Int { Self.innerOffset(copyBytes: copyBytes) + inner.byteCount }

    package func serialize(into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == byteCount)
        let offset = Self.innerOffset(copyBytes: copyBytes)
        for i in 0..<offset { destination[i] = 0 }
        writeHeader(into: destination, innerOffset: offset)
        if let normalized {
            // SAFETY: the destination holds header + copy + inner (byteCount, checked above); the copy
            // region [headerSize, headerSize + copyBytes) lies before `offset`.
            normalized.copyRows(into: UnsafeMutableRawBufferPointer(rebasing: destination[Self.headerSize..<(Self.headerSize + copyBytes)]))
        }
        inner.serialize(into: UnsafeMutableRawBufferPointer(rebasing: destination[offset...]))
    }

    package func withStoredParts<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        let offset = Self.innerOffset(copyBytes: copyBytes)
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        header.withUnsafeMutableBytes { writeHeader(into: $0, innerOffset: offset) }
        let padding = [UInt8](repeating: 0, count: offset - Self.headerSize - copyBytes)
        return try header.withUnsafeBytes { h in
            try padding.withUnsafeBytes { p in
                try inner.withStoredParts { innerParts in
                    // SAFETY: a MatrixView's rows are contiguous, copyBytes long from its base.
                    let copy = normalized.map { [UnsafeRawBufferPointer(start: $0.base, count: copyBytes)] } ?? []
                    return try body([h] + copy + [p] + innerParts)
                }
            }
        }
    }

    /// The first ``headerSize`` bytes of the stored form (the rest of `destination` untouched).
    private func writeHeader(into destination: UnsafeMutableRawBufferPointer, innerOffset offset: Int) {
        destination.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        destination.storeBytes(of: Self.formatVersion.littleEndian, toByteOffset: 4, as: UInt32.self)
        destination.storeBytes(of: Self.code(metric).littleEndian, toByteOffset: 8, as: UInt32.self)
        destination.storeBytes(of: UInt32(normalized == nil ? 0 : 1).littleEndian, toByteOffset: 12, as: UInt32.self)
        destination.storeBytes(of: UInt64(normalized?.rows ?? 0).littleEndian, toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: UInt32(normalized?.dim ?? 0).littleEndian, toByteOffset: 24, as: UInt32.self)
        destination.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: 32, as: UInt64.self)
    }

    private static func code(_ m: Metric) -> UInt32 {
        switch m {
        case .l2: return 0
        case .ip: return 1
        case .cosine: return 2
        case .hamming: return 3
        case .jaccard: return 4
        case .bm25: return 5  // sparse only; no dense envelope holds it
        }
    }
}

/// What a stored envelope holds (see ``IndexEnvelope``).
package struct StoredEnvelope {
    package var metric: Metric
    package var normalized: MatrixView?
    /// The inner index's stored form.
    package var inner: UnsafeRawBufferPointer
}

extension IndexEnvelope {
    /// Reads the envelope of a stored index; nil for a legacy blob (no envelope).
    ///
    /// - Parameter owner: keeps `stored` alive and unchanged for the views returned.
    /// - Throws: ``IndexError`` for an envelope whose fields do not fit its size.
    package static func parse(_ stored: UnsafeRawBufferPointer, owner: AnyObject) throws(IndexError) -> StoredEnvelope? {
        func bad(_ s: String) -> IndexError { IndexError(parameter: "stored index", message: "stored index envelope is invalid: \(s)") }
        guard stored.count >= headerSize,
              UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == magic else { return nil }
        guard UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) == formatVersion else { throw bad("unknown version") }
        let metric: Metric
        switch UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) {
        case 0: metric = .l2
        case 1: metric = .ip
        case 2: metric = .cosine
        case 3: metric = .hamming
        case 4: metric = .jaccard
        default: throw bad("unknown metric")
        }
        let hasCopy = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 12, as: UInt32.self)) & 1 == 1
        let rows = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let dim = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        let offset = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        // Bounded before any arithmetic: rows × dim × 4 must fit inside the blob.
        guard rows <= UInt64(stored.count), dim <= 65_536, offset <= UInt64(stored.count) else { throw bad("sizes out of range") }
        let copyBytes = hasCopy ? Int(rows) * Int(dim) * MemoryLayout<Float>.stride : 0
        guard Int(offset) == innerOffset(copyBytes: copyBytes), !hasCopy || dim > 0 else { throw bad("inner offset does not match") }
        var normalized: MatrixView?
        if hasCopy {
            let bytes = UnsafeRawBufferPointer(rebasing: stored[headerSize..<(headerSize + copyBytes)])
            normalized = MatrixView.inPlaceOrCopy(bytes: bytes, dim: Int(dim), owner: owner)
        }
        return StoredEnvelope(metric: metric, normalized: normalized, inner: UnsafeRawBufferPointer(rebasing: stored[Int(offset)...]))
    }
}
