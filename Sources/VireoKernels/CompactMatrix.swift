import CVireoKernels

/// A read-only view of `rows × dim` vectors in a compact stored encoding (FLOAT16, BFLOAT16, INT8 or
/// BINARY; ``VectorElement``), row after row, ``VectorElement/bytesPerVector(dim:)`` bytes each.
///
/// Sealed segments of compact fields keep their vectors this way, mapped in place from the LMDB
/// blob, so memory and exact scans touch 2, 4 or 32 times fewer bytes than a float32 widening.
/// Like ``MatrixView`` the view does not own its memory; `owner` keeps it alive.
///
/// ## Invariants
/// - `element != .float32` (float32 rows are a ``MatrixView``).
/// - `base` holds `rows × bytesPerRow` bytes, 2-byte aligned for FLOAT16 and BFLOAT16.
///
/// ## Thread safety
/// The bytes are immutable for the view's lifetime, so views are shared freely.
package struct CompactMatrix: @unchecked Sendable {
    // SAFETY: `base` points at rows*bytesPerRow bytes that nobody mutates while `owner` is alive, and
    // the view holds `owner` strongly (LMDB pages of a committed blob, or a ByteArena filled at init).
    package let element: VectorElement
    package let base: UnsafeRawPointer
    package let rows: Int
    package let dim: Int
    package let owner: AnyObject?

    package init(element: VectorElement, base: UnsafeRawPointer, rows: Int, dim: Int, owner: AnyObject?) {
        precondition(element != .float32, "float32 rows are a MatrixView")
        precondition(rows >= 0 && dim > 0 && element.bytesPerVector(dim: dim) > 0)
        precondition(element == .int8 || element == .binary || Int(bitPattern: base) % 2 == 0, "16-bit rows must be 2-byte aligned")
        self.element = element
        self.base = base
        self.rows = rows
        self.dim = dim
        self.owner = owner
    }

    /// Stored bytes of one row.
    @inlinable
    package var bytesPerRow: Int { element.bytesPerVector(dim: dim) }

    /// Bytes held by the view (`rows × bytesPerRow`).
    package var byteCount: Int { rows * bytesPerRow }

    /// The stored bytes of row `i`, valid while this view is alive.
    package func rowBytes(_ i: Int) -> UnsafeRawBufferPointer {
        precondition(i >= 0 && i < rows, "row \(i) out of 0..<\(rows)")
        // SAFETY: i is in bounds (checked), so the row lies inside the rows*bytesPerRow bytes.
        return UnsafeRawBufferPointer(start: base + i * bytesPerRow, count: bytesPerRow)
    }

    /// Row `i` widened to float32 (exact).
    package func rowArray(_ i: Int) -> [Float] { element.floats(rowBytes(i), dim: dim) }

    /// Widens rows `start..<start+count` into `dst` (`count × dim` floats).
    package func widen(rows start: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= rows)
        // SAFETY: the range lies inside the view (checked above); dst holds count*dim floats (caller).
        element.widen(UnsafeRawBufferPointer(start: base + start * bytesPerRow, count: count * bytesPerRow), rows: count, dim: dim, into: dst)
    }

    /// A float32 copy of every row: for what needs float32 rows (index builds, k-means).
    package func widened() -> MatrixView {
        FloatArena(count: rows * dim) { buf in
            if rows > 0 { widen(rows: 0, count: rows, into: buf.baseAddress!) }
        }.matrix(dim: dim)
    }

    /// A view of a stored blob of `element` rows. Used in place when its address suits the element
    /// (2-byte aligned for 16-bit types: LMDB guarantees that inside pages and 16 bytes on overflow
    /// pages); copied into an owned arena otherwise.
    ///
    /// - Important: `owner` must keep the bytes alive and unchanged for the view's lifetime.
    package static func inPlaceOrCopy(bytes: UnsafeRawBufferPointer, element: VectorElement, dim: Int, owner: AnyObject?) -> CompactMatrix {
        let perRow = element.bytesPerVector(dim: dim)
        precondition(perRow > 0 && bytes.count % perRow == 0, "blob is not a whole number of rows")
        let rows = bytes.count / perRow
        let needs2 = element == .float16 || element == .bfloat16
        if let base = bytes.baseAddress, !needs2 || Int(bitPattern: base) % 2 == 0 {
            return CompactMatrix(element: element, base: base, rows: rows, dim: dim, owner: owner)
        }
        let arena = ByteArena(copying: bytes)
        return CompactMatrix(element: element, base: UnsafeRawPointer(arena.pointer), rows: rows, dim: dim, owner: arena)
    }

    /// The encoding of `rows` (float32 values representable in `element`) in an owned arena.
    package static func encoding(_ rows: [[Float]], element: VectorElement, dim: Int) -> CompactMatrix {
        let bytes = rows.flatMap { r -> [UInt8] in
            precondition(r.count == dim, "row of \(r.count) floats in a \(dim)-dimensional matrix")
            return element.bytes(r)
        }
        let arena = bytes.withUnsafeBytes { ByteArena(copying: $0) }
        return CompactMatrix(element: element, base: UnsafeRawPointer(arena.pointer), rows: rows.count, dim: dim, owner: arena)
    }
}

/// An owned, 64-byte-aligned, immutable-after-init block of bytes (a compact matrix that could not
/// be used in place).
package final class ByteArena: @unchecked Sendable {
    // SAFETY: written only in init, before the arena is shared; read-only until deinit frees it.
    package let pointer: UnsafeMutableRawPointer
    package let count: Int

    package init(copying bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        // SAFETY: pointer holds count bytes; the source holds count bytes.
        if let src = bytes.baseAddress, count > 0 { pointer.copyMemory(from: src, byteCount: count) }
    }

    deinit { pointer.deallocate() }
}

/// The vectors of one field of a sealed segment: float32 rows, or compact rows kept in their stored
/// encoding.
///
/// Exact scans read either form directly (``ExactScanner``). What needs float32 rows of a compact
/// field (HNSW / IVF builds and the graph or lists they keep, compaction's re-encoding) asks for
/// ``floatMatrix()``, a widened copy owned by the caller: an index holds its own float32 copy for
/// as long as it lives, the segment never does.
package enum VectorRows: Sendable {
    case float32(MatrixView)
    case compact(CompactMatrix)

    package var rows: Int {
        switch self {
        case let .float32(m): return m.rows
        case let .compact(c): return c.rows
        }
    }

    package var dim: Int {
        switch self {
        case let .float32(m): return m.dim
        case let .compact(c): return c.dim
        }
    }

    /// The object keeping the rows' memory alive (a mapped blob, an arena).
    package var owner: AnyObject? {
        switch self {
        case let .float32(m): return m.owner
        case let .compact(c): return c.owner
        }
    }

    /// The element type the rows are held in.
    package var element: VectorElement {
        switch self {
        case .float32: return .float32
        case let .compact(c): return c.element
        }
    }

    /// Bytes of vector data this value refers to (4 per dimension for float32, the stored size for
    /// compact rows).
    package var byteCount: Int {
        switch self {
        case let .float32(m): return m.rows * m.dim * MemoryLayout<Float>.stride
        case let .compact(c): return c.byteCount
        }
    }

    /// Row `i` as float32 values (widened for compact rows).
    package func rowArray(_ i: Int) -> [Float] {
        switch self {
        case let .float32(m): return m.rowArray(i)
        case let .compact(c): return c.rowArray(i)
        }
    }

    /// The rows as float32: the view itself for float32 rows, a widened copy (owned by the returned
    /// view) for compact ones.
    ///
    /// - Complexity: O(rows × dim) time and `rows × dim × 4` bytes for compact rows.
    package func floatMatrix() -> MatrixView {
        switch self {
        case let .float32(m): return m
        case let .compact(c): return c.widened()
        }
    }

    /// `1 / |row|` per row (see ``MatrixView/inverseNorms()``), for rows sealed before norms were stored.
    package func inverseNorms() -> MatrixView { floatMatrix().inverseNorms() }

    /// The listed rows of each part, widened to float32, in order, in one new matrix (compaction).
    package static func gather(_ parts: [(rows: VectorRows, indices: [Int])], dim: Int) -> MatrixView {
        let total = parts.reduce(0) { $0 + $1.indices.count }
        let arena = FloatArena(count: total * dim) { dst in
            var offset = 0
            for (part, indices) in parts {
                precondition(part.dim == dim, "gathering \(part.dim)-dimensional rows into a \(dim)-dimensional matrix")
                for r in indices {
                    precondition(r >= 0 && r < part.rows, "row \(r) of a \(part.rows)-row matrix")
                    // SAFETY: dst holds total*dim floats and offset + dim ≤ total*dim (one dim per
                    // gathered row); row r is in range (checked).
                    switch part {
                    case let .float32(m): (dst.baseAddress! + offset).update(from: m.base + r * dim, count: dim)
                    case let .compact(c): c.widen(rows: r, count: 1, into: dst.baseAddress! + offset)
                    }
                    offset += dim
                }
            }
        }
        return arena.matrix(dim: dim)
    }
}
