import Foundation
import VireoStorage

/// Readers for the TEXMEX vector formats used by ANN benchmarks (`.fvecs`, `.ivecs`): per vector a
/// little-endian Int32 dimension followed by that many Float32 (or Int32) values.
public enum VectorFiles {
    /// Reads an `.fvecs` file into rows.
    ///
    /// - Parameter limit: read at most this many vectors.
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for a malformed file.
    public static func readFVecs(_ path: String, limit: Int = .max) throws -> [[Float]] {
        try read(path, limit: limit) { r, d in r.floats(d) }
    }

    /// Reads an `.ivecs` file into rows.
    public static func readIVecs(_ path: String, limit: Int = .max) throws -> [[Int32]] {
        try read(path, limit: limit) { r, d in (0..<d).map { _ in r.i32() } }
    }

    private static func read<T>(_ path: String, limit: Int, _ row: (inout ByteReader, Int) -> [T]) throws -> [[T]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VireoError.invalid(.invalidArgument, "cannot read \(path); check the path")
        }
        return try data.withUnsafeBytes { buf -> [[T]] in
            var out: [[T]] = []
            var r = ByteReader(buf)
            while r.offset + 4 <= buf.count && out.count < limit {
                let at = r.offset
                let d = Int(r.i32())
                guard d > 0, d <= CollectionSchema.maxDimension, r.offset + 4 * d <= buf.count else {
                    throw VireoError.invalid(.invalidArgument, "\(path) is not a valid vecs file (bad dimension \(d) at byte \(at))")
                }
                out.append(row(&r, d))
            }
            return out
        }
    }
}
