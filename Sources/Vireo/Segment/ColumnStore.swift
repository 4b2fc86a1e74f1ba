import VireoKernels
import VireoStorage

/// The stored form of a sealed segment's typed scalar column (key `SegmentKeys.column`), written at
/// seal and zstd-compressed when that saves at least 1/16 (``Blob/write``): low-cardinality and
/// small-range columns shrink several-fold, random doubles are kept raw.
///
/// Layout (little-endian): `u8 tag` (1 int, 2 double, 3 bool, 4 string), `u32 rows`, the validity
/// bits packed 8 rows per byte, then the values: Int64 or Float64 per row, one byte per Bool, or
/// `rows + 1` UInt32 offsets followed by the UTF-8 bytes. Null rows hold a zero value.
enum ColumnCodec {
    static func encode(_ column: ScalarColumn, rows: Int) -> [UInt8]? {
        var w = ByteWriter()
        func header(_ tag: UInt8, _ valid: Bitset) {
            w.u8(tag)
            w.u32(UInt32(rows))
            var byte: UInt8 = 0
            for i in 0..<rows {
                if valid.contains(i) { byte |= 1 << UInt8(i & 7) }
                if i & 7 == 7 || i == rows - 1 {
                    w.u8(byte)
                    byte = 0
                }
            }
        }
        switch column {
        case let .int(values, valid):
            header(1, valid)
            w.bytes.reserveCapacity(w.bytes.count + rows * 8)
            for v in values { w.i64(v) }
        case let .double(values, valid):
            header(2, valid)
            w.bytes.reserveCapacity(w.bytes.count + rows * 8)
            for v in values { w.f64(v) }
        case let .bool(values, valid):
            header(3, valid)
            for v in values { w.u8(v ? 1 : 0) }
        case let .string(values, valid):
            header(4, valid)
            var offset: UInt32 = 0
            w.u32(0)
            for v in values {
                offset += UInt32(v.utf8.count)
                w.u32(offset)
            }
            for v in values { w.bytes.append(contentsOf: v.utf8) }
        case .unsupported:
            return nil
        }
        return w.bytes
    }

    static func decode(_ payload: [UInt8], rows expected: Int, what: String) throws -> ScalarColumn {
        try payload.withUnsafeBytes { buf -> ScalarColumn in
            func corrupt(_ reason: String) -> StorageError { StorageError.corrupted(what: what, reason: reason) }
            guard buf.count >= 5 else { throw corrupt("\(buf.count) bytes") }
            var r = ByteReader(buf)
            let tag = r.u8()
            let rows = Int(r.u32())
            guard rows == expected else { throw corrupt("\(rows) rows, expected \(expected)") }
            let validBytes = (rows + 7) / 8
            let perRow: Int
            switch tag {
            case 1, 2: perRow = 8
            case 3: perRow = 1
            case 4: perRow = 4
            default: throw corrupt("unknown column tag \(tag)")
            }
            guard buf.count >= 5 + validBytes + rows * perRow + (tag == 4 ? 4 : 0) else { throw corrupt("\(buf.count) bytes is too short for \(rows) rows") }
            var valid = Bitset(capacity: rows)
            for b in 0..<validBytes {
                let byte = r.u8()
                if byte == 0 { continue }
                for j in 0..<8 where byte & (1 << UInt8(j)) != 0 && b * 8 + j < rows { valid.insert(b * 8 + j) }
            }
            switch tag {
            case 1: return .int((0..<rows).map { _ in r.i64() }, valid: valid)
            case 2: return .double((0..<rows).map { _ in r.f64() }, valid: valid)
            case 3: return .bool((0..<rows).map { _ in r.u8() != 0 }, valid: valid)
            default:
                let offsets = (0...rows).map { _ in Int(r.u32()) }
                let base = r.offset
                guard offsets.last! + base <= buf.count, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                    throw corrupt("string offsets out of range")
                }
                return .string((0..<rows).map { i in
                    String(decoding: UnsafeRawBufferPointer(rebasing: buf[(base + offsets[i])..<(base + offsets[i + 1])]), as: UTF8.self)
                }, valid: valid)
            }
        }
    }
}

/// A scalar index over one column of a sealed segment: the valid rows sorted by value, so that
/// `==`, `in`, ranges and (ASCII) prefix `like` are binary searches that touch only matching rows.
struct SortedScalarIndex<Key: Comparable & Sendable>: Sendable {
    let keys: [Key]
    let rows: [UInt32]
    let rowCount: Int

    init(keys: [Key], rows: [UInt32], rowCount: Int) {
        self.keys = keys
        self.rows = rows
        self.rowCount = rowCount
    }

    init(values: [Key], valid: Bitset) {
        var order = (0..<values.count).filter { valid.contains($0) }
        order.sort { values[$0] < values[$1] }
        keys = order.map { values[$0] }
        rows = order.map { UInt32($0) }
        rowCount = values.count
    }

    /// First position whose key is not below `v` (`strict`: above `v`).
    func bound(_ v: Key, strict: Bool) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if strict ? keys[mid] <= v : keys[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func bits(_ range: Range<Int>, into out: inout Bitset) {
        for p in range { out.insert(Int(rows[p])) }
    }

    /// Rows with `value op bound`; nil for an operator it does not serve.
    func select(_ op: String, _ v: Key) -> Bitset? {
        var out = Bitset(capacity: rowCount)
        switch op {
        case "==": bits(bound(v, strict: false)..<bound(v, strict: true), into: &out)
        case "!=":
            bits(0..<bound(v, strict: false), into: &out)
            bits(bound(v, strict: true)..<keys.count, into: &out)
        case "<": bits(0..<bound(v, strict: false), into: &out)
        case "<=": bits(0..<bound(v, strict: true), into: &out)
        case ">": bits(bound(v, strict: true)..<keys.count, into: &out)
        case ">=": bits(bound(v, strict: false)..<keys.count, into: &out)
        default: return nil
        }
        return out
    }

    /// Rows whose value is one of `values`.
    func members(_ values: [Key]) -> Bitset {
        var out = Bitset(capacity: rowCount)
        for v in values {
            bits(bound(v, strict: false)..<bound(v, strict: true), into: &out)
        }
        return out
    }
}

extension SortedScalarIndex where Key == String {
    /// Rows whose value starts with the ASCII `prefix` (contiguous in sorted order).
    func prefix(_ prefix: String) -> Bitset {
        var out = Bitset(capacity: rowCount)
        var p = bound(prefix, strict: false)
        while p < keys.count, keys[p].utf8.starts(with: prefix.utf8) {
            out.insert(Int(rows[p]))
            p += 1
        }
        return out
    }
}

/// The scalar index of one field of one sealed segment.
enum ScalarIndex: Sendable {
    case int(SortedScalarIndex<Int64>)
    case double(SortedScalarIndex<Double>)
    case string(SortedScalarIndex<String>)
    /// Bool values as 0 / 1.
    case bool(SortedScalarIndex<Int64>)

    init?(_ column: ScalarColumn) {
        switch column {
        case let .int(v, valid): self = .int(SortedScalarIndex(values: v, valid: valid))
        case let .double(v, valid): self = .double(SortedScalarIndex(values: v, valid: valid))
        case let .string(v, valid): self = .string(SortedScalarIndex(values: v, valid: valid))
        case let .bool(v, valid): self = .bool(SortedScalarIndex(values: v.map { $0 ? 1 : 0 }, valid: valid))
        case .unsupported: return nil
        }
    }

    /// Rows with `field op literal`, with the literal coerced as the column comparisons do; nil when
    /// the index does not serve this comparison (the caller scans the column).
    func select(_ op: String, _ literal: JSONValue) -> Bitset? {
        switch (self, literal) {
        case let (.int(i), .int(x)): return i.select(op, x)
        case let (.double(i), .double(x)): return i.select(op, x)
        case let (.double(i), .int(x)): return i.select(op, Double(x))
        case let (.string(i), .string(x)): return i.select(op, x)
        case let (.bool(i), .bool(x)) where op == "==" || op == "!=": return i.select(op, x ? 1 : 0)
        default: return nil
        }
    }

    /// Rows whose value is in `literals`; nil when a literal's type needs the general path.
    func members(_ literals: [JSONValue]) -> Bitset? {
        switch self {
        case let .int(i):
            var keys: [Int64] = []
            for l in literals {
                switch l {
                case let .int(x): keys.append(x)
                case let .double(x): if let exact = Int64(exactly: x) { keys.append(exact) }
                default: break
                }
            }
            return i.members(keys)
        case let .double(i):
            return i.members(literals.compactMap(FilterEvaluator.number))
        case let .string(i):
            return i.members(literals.compactMap { if case let .string(s) = $0 { return s } else { return nil } })
        case .bool:
            return nil
        }
    }

    /// Rows matching an ASCII prefix pattern; nil for other patterns.
    func like(_ pattern: LikePattern) -> Bitset? {
        guard case let .string(i) = self, pattern.needle.allSatisfy({ $0 < 0x80 }) else { return nil }
        let needle = String(decoding: pattern.needle, as: UTF8.self)
        switch pattern.kind {
        case .prefix: return i.prefix(needle)
        case .exact: return i.select("==", needle)
        default: return nil
        }
    }
}
