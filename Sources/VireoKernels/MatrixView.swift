import CVireoKernels
#if canImport(Glibc)
import Glibc
#endif

/// A read-only view of `rows × dim` row-major Float32 values (element (i, j) at `base[i*dim + j]`).
///
/// The view does not own its memory; `owner` keeps whatever does (a ``FloatArena``, an LMDB
/// environment whose memory map holds a sealed segment) alive as long as the view exists.
///
/// ## Thread safety
/// The memory behind a view is immutable for the view's lifetime, so views are shared freely.
package struct MatrixView: @unchecked Sendable {
    // SAFETY: `base` points at rows*dim floats that nobody mutates while `owner` is alive, and the view
    // holds `owner` strongly; the only writes happen before the view is created (arena fill) or never
    // (LMDB pages of committed, immutable blobs).
    package let base: UnsafePointer<Float>
    package let rows: Int
    package let dim: Int
    package let owner: AnyObject?

    package init(base: UnsafePointer<Float>, rows: Int, dim: Int, owner: AnyObject?) {
        precondition(rows >= 0 && dim > 0)
        self.base = base
        self.rows = rows
        self.dim = dim
        self.owner = owner
    }

    /// Row `i` as a buffer of `dim` floats, valid while this view is alive.
    @inlinable
    package func row(_ i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < rows, "row \(i) out of 0..<\(rows)")
        // SAFETY: i is in bounds (checked above), so the row lies inside the rows*dim floats.
        return UnsafeBufferPointer(start: base + i * dim, count: dim)
    }

    /// A copy of row `i`.
    package func rowArray(_ i: Int) -> [Float] { Array(row(i)) }

    /// Rows `start..<start+count` as a view sharing this view's owner.
    package func slice(_ start: Int, _ count: Int) -> MatrixView {
        precondition(start >= 0 && count >= 0 && start + count <= rows)
        return MatrixView(base: base + start * dim, rows: count, dim: dim, owner: owner)
    }
}

/// An owned, 64-byte-aligned, immutable-after-fill block of Float32 values.
///
/// Arenas of ``mappedBytes`` or more get their own anonymous mapping (zeroed by the kernel, given
/// back by `munmap` when the arena goes): a growing segment's blocks are such arenas, and through
/// `malloc` the freed blocks of a sealed segment stayed resident in the allocator's heaps (about
/// the segment's vector bytes again: 75 MiB for 50,000 × 384 rows, measured with `malloc_trim`).
package final class FloatArena: @unchecked Sendable {
    // SAFETY: the buffer is written only inside `init`'s fill closure, before the arena is shared;
    // afterwards it is read-only until `deinit` frees (or unmaps) it.
    package let pointer: UnsafeMutablePointer<Float>
    package let count: Int
    /// Length of this arena's own mapping; 0 when it came from `malloc`.
    private let mappedLength: Int

    /// Arenas from this size up are mapped directly rather than taken from `malloc`.
    package static let mappedBytes = 1 << 20

    /// Allocates `count` floats and lets `fill` initialise all of them.
    package init(count: Int, fill: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let base: UnsafeMutableRawPointer
        if bytes >= Self.mappedBytes, let m = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED {
            // SAFETY: a fresh private mapping of `bytes` bytes, page-aligned (so 64-byte aligned) and
            // zero-filled; unmapped only in deinit (or below if fill throws).
            base = m
            mappedLength = bytes
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            mappedLength = 0
        }
        pointer = base.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        let buf = UnsafeMutableBufferPointer(start: pointer, count: count)
        if mappedLength == 0 { buf.initialize(repeating: 0) }  // a mapping starts zeroed
        do { try fill(buf) } catch {
            if mappedLength > 0 { munmap(base, mappedLength) } else { base.deallocate() }
            throw error
        }
    }

    /// An arena holding a copy of `values`.
    package convenience init(copying values: [Float]) {
        self.init(count: values.count) { buf in
            _ = buf.initialize(from: values)
        }
    }

    /// An arena holding `views`' rows one after another (all of one dimension).
    package convenience init(concatenating views: [MatrixView]) {
        self.init(count: views.reduce(0) { $0 + $1.rows * $1.dim }) { buf in
            MatrixView.concatenate(views, into: UnsafeMutableRawBufferPointer(buf))
        }
    }

    /// An arena holding `rows`' vectors one after another (each `dim` floats).
    package convenience init<Rows: Collection>(rows: Rows, dim: Int) where Rows.Element == [Float] {
        self.init(count: rows.count * dim) { buf in
            var offset = 0
            for r in rows {
                precondition(r.count == dim, "row of \(r.count) floats in a \(dim)-dimensional arena")
                // SAFETY: rows.count * dim floats were allocated and each row holds exactly dim floats.
                _ = UnsafeMutableBufferPointer(rebasing: buf[offset ..< offset + dim]).initialize(from: r)
                offset += dim
            }
        }
    }

    deinit {
        if mappedLength > 0 { munmap(UnsafeMutableRawPointer(pointer), mappedLength) } else { pointer.deallocate() }
    }

    /// The arena as an `n × dim` matrix.
    package func matrix(dim: Int) -> MatrixView {
        precondition(dim > 0 && count % dim == 0)
        return MatrixView(base: UnsafePointer(pointer), rows: count / dim, dim: dim, owner: self)
    }
}

extension MatrixView {
    /// A view of raw bytes holding `bytes.count / (4*dim)` row-major Float32 rows (a stored blob).
    ///
    /// Large blobs sit on LMDB overflow pages, 16-byte aligned, and are used in place. Small ones
    /// (under about 2 KiB) sit inside a leaf page where LMDB only guarantees 2-byte alignment; those
    /// are copied into an aligned arena (a few rows, so the copy is negligible).
    ///
    /// - Important: `owner` must keep the bytes alive and unchanged for the view's lifetime.
    package static func inPlaceOrCopy(bytes: UnsafeRawBufferPointer, dim: Int, owner: AnyObject?) -> MatrixView {
        precondition(bytes.count % (dim * MemoryLayout<Float>.stride) == 0, "blob is not a whole number of rows")
        let rows = bytes.count / (dim * MemoryLayout<Float>.stride)
        if let base = bytes.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            // SAFETY: the address is 4-byte aligned (checked) and holds rows*dim floats that `owner`
            // keeps alive and immutable.
            return MatrixView(base: base.assumingMemoryBound(to: Float.self), rows: rows, dim: dim, owner: owner)
        }
        let arena = FloatArena(count: rows * dim) { dst in
            // SAFETY: dst holds rows*dim floats = bytes.count bytes; copyMemory tolerates misalignment.
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: bytes)
        }
        return arena.matrix(dim: dim)
    }

    /// Copies rows `0..<rows` into `destination` (which holds rows*dim floats).
    package func copyRows(into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= rows * dim * MemoryLayout<Float>.stride)
        // SAFETY: sizes checked above; the source holds rows*dim floats.
        destination.baseAddress!.copyMemory(from: base, byteCount: rows * dim * MemoryLayout<Float>.stride)
    }
}

/// An owner of rows whose resident pages can be given back without losing the rows: a read-only
/// mapping of a file (the pages stay in the page cache and fault back in on the next read).
package protocol ReleasableResidentPages: AnyObject {
    /// Gives back the resident pages that hold any of `bytes` (which lie inside the owner's memory).
    func releaseResidentPages(_ bytes: UnsafeRawBufferPointer)
}

extension MatrixView {
    /// Gives back the resident pages of rows `range` when the view's owner is a file mapping that
    /// allows it (``ReleasableResidentPages``); otherwise does nothing. For one pass over rows that
    /// are not read again soon (an index build encoding a segment's vectors): without it each page
    /// read stays in the process' resident set until the mapping goes.
    package func releaseResidentPages(rows range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows)
        guard let owner = owner as? any ReleasableResidentPages, !range.isEmpty else { return }
        // SAFETY: rows `range` lie inside the view (checked), whose memory the owner holds.
        owner.releaseResidentPages(UnsafeRawBufferPointer(start: base + range.lowerBound * dim,
                                                          count: range.count * dim * MemoryLayout<Float>.stride))
    }
}

extension MatrixView {
    /// All rows as one flat array (a copy).
    package var flatArray: [Float] {
        // SAFETY: the view holds rows*dim floats.
        Array(UnsafeBufferPointer(start: base, count: rows * dim))
    }
}

extension [MatrixView] {
    /// Rows `start..<start+count` of these views taken as one matrix (their rows in order), as views
    /// of the parts that hold them.
    package func rows(_ start: Int, _ count: Int) -> [MatrixView] {
        var out: [MatrixView] = []
        var skip = start
        var left = count
        for v in self where left > 0 {
            if skip >= v.rows {
                skip -= v.rows
                continue
            }
            let n = Swift.min(v.rows - skip, left)
            out.append(v.slice(skip, n))
            left -= n
            skip = 0
        }
        precondition(left == 0, "rows \(start)..<\(start + count) are past the views' rows")
        return out
    }
}

extension MatrixView {
    /// Copies `views` back to back into `destination` (sized to hold all their floats).
    package static func concatenate(_ views: [MatrixView], into destination: UnsafeMutableRawBufferPointer) {
        var offset = 0
        for v in views {
            let bytes = v.rows * v.dim * MemoryLayout<Float>.stride
            precondition(offset + bytes <= destination.count, "destination too small")
            // SAFETY: bounds checked above; each view holds rows*dim floats.
            (destination.baseAddress! + offset).copyMemory(from: v.base, byteCount: bytes)
            offset += bytes
        }
    }
}

extension MatrixView {
    /// `1 / |row|` for every row, as an `n × 1` view (0 for an all-zero row, whose cosine with anything
    /// is taken as 0). COSINE scans multiply inner products by these instead of normalising the rows,
    /// so vectors are stored exactly as inserted.
    package func inverseNorms() -> MatrixView {
        let arena = FloatArena(count: rows) { out in
            guard rows > 0 else { return }
            // SAFETY: out holds `rows` floats; base holds rows*dim floats.
            vk_norms_sq(base, rows, dim, out.baseAddress!)
            for i in 0..<rows { out[i] = out[i] > 0 ? 1 / out[i].squareRoot() : 0 }
        }
        return arena.matrix(dim: 1)
    }

    /// A unit-length copy of every row (all-zero rows stay zero): what a COSINE index is built on.
    package func normalizedCopy() -> MatrixView {
        let inv = inverseNorms()
        let arena = FloatArena(count: rows * dim) { out in
            // SAFETY: out holds rows*dim floats and inv rows floats; i < rows and j < dim.
            for i in 0..<rows {
                let s = inv.base[i]
                let src = row(i)
                for j in 0..<dim { out[i * dim + j] = src[j] * s }
            }
        }
        return arena.matrix(dim: dim)
    }
}

extension MatrixView {
    /// Rows `rows` of each view, in order, copied into one new matrix (compaction gathers the live
    /// rows of several segments this way).
    ///
    /// - Precondition: every view has dimension `dim` and every row index is in range.
    package static func gather(_ parts: [(view: MatrixView, rows: [Int])], dim: Int) -> MatrixView {
        VectorRows.gather(parts.map { (rows: .float32($0.view), indices: $0.rows) }, dim: dim)
    }
}
