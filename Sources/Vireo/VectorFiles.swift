import Foundation

/// Readers for the TEXMEX vector formats used by ANN benchmarks (`.fvecs`, `.ivecs`): per vector a
/// little-endian Int32 dimension followed by that many Float32 (or Int32) values.
public enum VectorFiles {
    /// Reads an `.fvecs` file into rows.
    ///
    /// - Parameter limit: read at most this many vectors.
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for a malformed file.
    public static func readFVecs(_ path: String, limit: Int = .max) throws -> [[Float]] {
        try read(path, limit: limit) { raw, d in (0..<d).map { Float(bitPattern: raw($0)) } }
    }

    /// Reads an `.ivecs` file into rows.
    public static func readIVecs(_ path: String, limit: Int = .max) throws -> [[Int32]] {
        try read(path, limit: limit) { raw, d in (0..<d).map { Int32(bitPattern: raw($0)) } }
    }

    private static func read<T>(_ path: String, limit: Int, _ row: ((Int) -> UInt32, Int) -> [T]) throws -> [[T]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VireoError.invalid(.invalidArgument, "cannot read \(path); check the path")
        }
        return try data.withUnsafeBytes { buf -> [[T]] in
            var out: [[T]] = []
            var offset = 0
            while offset < buf.count && out.count < limit {
                guard offset + 4 <= buf.count else { break }
                let d = Int(Int32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                guard d > 0, d <= CollectionSchema.maxDimension, offset + 4 + 4 * d <= buf.count else {
                    throw VireoError.invalid(.invalidArgument, "\(path) is not a valid vecs file (bad dimension \(d) at byte \(offset))")
                }
                let start = offset + 4
                out.append(row({ UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self)) }, d))
                offset = start + 4 * d
            }
            return out
        }
    }
}
