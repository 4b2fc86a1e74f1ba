import Foundation
import VireoStorage

/// Readers and writers for the TEXMEX vector formats used by ANN benchmarks: per vector a
/// little-endian Int32 dimension followed by that many values, Float32 (`.fvecs`), Int32 (`.ivecs`)
/// or UInt8 (`.bvecs`).
///
/// Every record of a file must have the same dimension; a file that ends inside a record, has a
/// record of another dimension, or a dimension outside 1…``CollectionSchema/maxDimension`` is
/// rejected with a message naming the record, its byte offset and what was expected.
public enum VectorFiles {
    /// The element type of a vecs file, from its extension.
    public enum Format: String, Sendable, CaseIterable {
        case fvecs, ivecs, bvecs

        /// Bytes per value.
        public var elementSize: Int { self == .bvecs ? 1 : 4 }

        /// The format named by a path's extension (`.fvecs`, `.ivecs`, `.bvecs`), if any.
        public init?(path: String) {
            self.init(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased())
        }
    }

    /// Reads an `.fvecs` file into rows.
    ///
    /// - Parameter limit: read at most this many vectors (only their bytes are read).
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for a missing or malformed file.
    public static func readFVecs(_ path: String, limit: Int = .max) throws -> [[Float]] {
        try read(path, format: .fvecs, limit: limit) { r, d in r.floats(d) }
    }

    /// Reads an `.ivecs` file into rows.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for a missing or malformed file.
    public static func readIVecs(_ path: String, limit: Int = .max) throws -> [[Int32]] {
        try read(path, format: .ivecs, limit: limit) { r, d in (0..<d).map { _ in r.i32() } }
    }

    /// Reads a `.bvecs` file (UInt8 components, e.g. BIGANN/SIFT1B) into Float rows.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for a missing or malformed file.
    public static func readBVecs(_ path: String, limit: Int = .max) throws -> [[Float]] {
        try read(path, format: .bvecs, limit: limit) { r, d in r.bytes(d).map { Float($0) } }
    }

    /// Reads an `.fvecs` or `.bvecs` file (by extension) into Float rows.
    ///
    /// - Throws: ``VireoError`` for another extension or a malformed file.
    public static func readVectors(_ path: String, limit: Int = .max) throws -> [[Float]] {
        switch Format(path: path) {
        case .fvecs?: return try readFVecs(path, limit: limit)
        case .bvecs?: return try readBVecs(path, limit: limit)
        default:
            throw VireoError.invalid(.invalidArgument, "\(path): vectors must be an .fvecs or .bvecs file (ground truth is .ivecs)")
        }
    }

    /// Writes rows as an `.fvecs` file (atomically).
    public static func writeFVecs(_ rows: [[Float]], to path: String) throws {
        try write(rows.map { $0.map(\.bitPattern) }, to: path)
    }

    /// Writes rows as an `.ivecs` file (atomically).
    public static func writeIVecs(_ rows: [[Int32]], to path: String) throws {
        try write(rows.map { $0.map { UInt32(bitPattern: $0) } }, to: path)
    }

    private static func write(_ rows: [[UInt32]], to path: String) throws {
        var w = ByteWriter()
        for r in rows {
            w.u32(UInt32(r.count))
            for v in r { w.u32(v) }
        }
        do {
            try Data(w.bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw VireoError.invalid(.invalidArgument, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    private static func read<T>(_ path: String, format: Format, limit: Int, _ row: (inout ByteReader, Int) -> [T]) throws -> [[T]] {
        var out: [[T]] = []
        try forEachRecord(path, format: format, limit: limit) { values, d in
            var r = ByteReader(values)
            out.append(row(&r, d))
        }
        return out
    }

    /// Reads an `.fvecs` or `.bvecs` file (by extension) into one contiguous row-major array, for
    /// callers that hold many rows (a benchmark's base set): no per-row arrays, and the file is
    /// streamed, never held whole beside the result.
    ///
    /// - Returns: the dimension (0 for no rows) and `rows × dimension` values.
    /// - Throws: ``VireoError`` for another extension or a malformed file, as ``readVectors(_:limit:)``.
    public static func readMatrix(_ path: String, limit: Int = .max) throws -> (dimension: Int, values: [Float]) {
        guard let format = Format(path: path), format != .ivecs else {
            throw VireoError.invalid(.invalidArgument, "\(path): vectors must be an .fvecs or .bvecs file (ground truth is .ivecs)")
        }
        var values: [Float] = []
        var dimension = 0
        try forEachRecord(path, format: format, limit: limit) { bytes, d in
            if dimension == 0, let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int {
                values.reserveCapacity(min(limit, size / (4 + d * format.elementSize)) * d)
            }
            dimension = d
            if format == .bvecs {
                for b in bytes { values.append(Float(b)) }
            } else {
                var r = ByteReader(bytes)
                for _ in 0..<d { values.append(r.f32()) }
            }
        }
        return (dimension, values)
    }

    /// Bytes read from the file at a time.
    static let chunkBytes = 4 << 20

    /// Streams the records of a vecs file in order, `chunkBytes` at a time, passing each record's
    /// value bytes and dimension to `body`; stops after `limit` records. Every record is validated
    /// (dimension in range and equal to the first's, no truncation) before `body` sees it.
    private static func forEachRecord(_ path: String, format: Format, limit: Int,
                                      _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw VireoError.invalid(.invalidArgument, exists ? "cannot read \(path); check its permissions" : "cannot read \(path): no such file; check the path")
        }
        defer { try? handle.close() }
        let what = ".\(format.rawValue)"
        var pending: [UInt8] = []  // bytes read but not yet consumed
        var consumed = 0  // file offset of pending[0]
        var records = 0
        var first: Int?
        var atEnd = false
        while records < limit {
            if !atEnd {
                let chunk: Data?
                do { chunk = try handle.read(upToCount: chunkBytes) } catch {
                    throw VireoError.invalid(.invalidArgument, "cannot read \(path): \(error.localizedDescription)")
                }
                if let chunk, !chunk.isEmpty { pending.append(contentsOf: chunk) } else { atEnd = true }
            }
            if atEnd && consumed == 0 && pending.isEmpty {
                throw VireoError.invalid(.invalidArgument, "\(path) is empty; a \(what) file holds records of an int32 dimension followed by that many \(format.elementSize)-byte values")
            }
            // Whole records in `pending`; a partial one waits for the next chunk (or is an error at the end).
            let used = try pending.withUnsafeBytes { buf -> Int in
                var offset = 0
                while records < limit, offset + 4 <= buf.count {
                    var r = ByteReader(UnsafeRawBufferPointer(rebasing: buf[offset...]))
                    let d = Int(r.i32())
                    let at = consumed + offset
                    guard d > 0, d <= CollectionSchema.maxDimension else {
                        throw VireoError.invalid(.invalidArgument, "\(path) is not a valid \(what) file: record \(records) at byte \(at) has dimension \(d), outside 1...\(CollectionSchema.maxDimension) (is it another format?)")
                    }
                    if let first, d != first {
                        throw VireoError.invalid(.invalidArgument, "\(path): record \(records) at byte \(at) has dimension \(d), but the first record has \(first); every vector of a \(what) file must have the same dimension")
                    }
                    first = d
                    let need = d * format.elementSize
                    guard offset + 4 + need <= buf.count else {
                        if atEnd {
                            throw VireoError.invalid(.invalidArgument, "\(path) is truncated: record \(records) at byte \(at) needs \(need) bytes of values, only \(buf.count - offset - 4) remain")
                        }
                        break
                    }
                    try body(UnsafeRawBufferPointer(rebasing: buf[(offset + 4)..<(offset + 4 + need)]), d)
                    records += 1
                    offset += 4 + need
                }
                if atEnd, records < limit, offset < buf.count, offset + 4 > buf.count {
                    throw VireoError.invalid(.invalidArgument, "\(path) is truncated: \(buf.count - offset) stray byte(s) at byte \(consumed + offset) after record \(records - 1); a \(what) record starts with a 4-byte dimension")
                }
                return offset
            }
            pending.removeFirst(used)
            consumed += used
            if atEnd && (pending.isEmpty || records >= limit) { break }
            if atEnd && used == 0 { break }
        }
    }
}
