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
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw VireoError.invalid(.invalidArgument, exists ? "cannot read \(path); check its permissions" : "cannot read \(path): no such file; check the path")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            // With a limit, read only the records wanted (the first one tells the record size).
            if limit < Int.max, let head = try handle.read(upToCount: 4), head.count == 4 {
                let h = Array(head)
                let d = Int(Int32(bitPattern: UInt32(h[0]) | UInt32(h[1]) << 8 | UInt32(h[2]) << 16 | UInt32(h[3]) << 24))
                let record = 4 + max(d, 0) * format.elementSize
                let rest = try handle.read(upToCount: max(0, min(limit, Int.max / max(record, 1)) * record - 4)) ?? Data()
                data = head + rest
            } else {
                data = try handle.readToEnd() ?? Data()
            }
        } catch {
            throw VireoError.invalid(.invalidArgument, "cannot read \(path): \(error.localizedDescription)")
        }
        let what = ".\(format.rawValue)"
        guard !data.isEmpty else {
            throw VireoError.invalid(.invalidArgument, "\(path) is empty; a \(what) file holds records of an int32 dimension followed by that many \(format.elementSize)-byte values")
        }
        return try data.withUnsafeBytes { buf -> [[T]] in
            var out: [[T]] = []
            var r = ByteReader(buf)
            var first: Int?
            while r.offset < buf.count && out.count < limit {
                let at = r.offset
                guard at + 4 <= buf.count else {
                    throw VireoError.invalid(.invalidArgument, "\(path) is truncated: \(buf.count - at) stray byte(s) at byte \(at) after record \(out.count - 1); a \(what) record starts with a 4-byte dimension")
                }
                let d = Int(r.i32())
                guard d > 0, d <= CollectionSchema.maxDimension else {
                    throw VireoError.invalid(.invalidArgument, "\(path) is not a valid \(what) file: record \(out.count) at byte \(at) has dimension \(d), outside 1...\(CollectionSchema.maxDimension) (is it another format?)")
                }
                if let first, d != first {
                    throw VireoError.invalid(.invalidArgument, "\(path): record \(out.count) at byte \(at) has dimension \(d), but the first record has \(first); every vector of a \(what) file must have the same dimension")
                }
                first = d
                let need = d * format.elementSize
                guard r.offset + need <= buf.count else {
                    throw VireoError.invalid(.invalidArgument, "\(path) is truncated: record \(out.count) at byte \(at) needs \(need) bytes of values, only \(buf.count - r.offset) remain")
                }
                out.append(row(&r, d))
            }
            return out
        }
    }
}
