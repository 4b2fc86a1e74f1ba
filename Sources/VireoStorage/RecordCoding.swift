/// Little-endian record encoding for values stored in LMDB (rows, batches, column chunks).
///
/// Input to ``ByteReader`` comes from checksummed blobs, so a short read is a programming error,
/// trapped by the bounds checks.
/// Appends little-endian values to a byte array.
package struct ByteWriter {
    package init() {}
    package var bytes: [UInt8] = []
    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    package mutating func f32(_ v: Float) { u32(v.bitPattern) }
    package mutating func f64(_ v: Double) { u64(v.bitPattern) }
    package mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
    package mutating func raw(_ b: [UInt8]) {
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }
    package mutating func floats(_ v: [Float]) {
        v.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``ByteWriter`` wrote. Input comes from checksummed blobs, so a short read is a
/// programming error, trapped by the bounds checks.
package struct ByteReader {
    package let buf: UnsafeRawBufferPointer
    package var offset = 0
    package init(_ buf: UnsafeRawBufferPointer) { self.buf = buf }
    package var isAtEnd: Bool { offset >= buf.count }
    package mutating func u8() -> UInt8 {
        defer { offset += 1 }
        return buf[offset]
    }
    package mutating func u32() -> UInt32 {
        precondition(offset + 4 <= buf.count, "truncated record")
        defer { offset += 4 }
        return UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    package mutating func u64() -> UInt64 {
        precondition(offset + 8 <= buf.count, "truncated record")
        defer { offset += 8 }
        return UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    package mutating func i64() -> Int64 { Int64(bitPattern: u64()) }
    /// A big-endian UInt32 (keys are big-endian so byte order is numeric order).
    package mutating func u32be() -> UInt32 { UInt32(bigEndian: UInt32(littleEndian: u32())) }
    /// A big-endian UInt64.
    package mutating func u64be() -> UInt64 { UInt64(bigEndian: UInt64(littleEndian: u64())) }
    /// A little-endian Int32.
    package mutating func i32() -> Int32 { Int32(bitPattern: u32()) }
    /// Skips `n` bytes.
    package mutating func skip(_ n: Int) { _ = bytes(n) }
    package mutating func f32() -> Float { Float(bitPattern: u32()) }
    package mutating func f64() -> Double { Double(bitPattern: u64()) }
    package mutating func bytes(_ n: Int) -> UnsafeRawBufferPointer {
        precondition(offset + n <= buf.count, "truncated record")
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buf[offset..<(offset + n)])
    }
    package mutating func string() -> String {
        let n = Int(u32())
        return String(decoding: bytes(n), as: UTF8.self)
    }
    package mutating func raw() -> [UInt8] { Array(bytes(Int(u32()))) }
    /// `count` little-endian Float32 values, copied in one go.
    package mutating func floats(_ count: Int) -> [Float] {
        let src = bytes(count * 4)
        return [Float](unsafeUninitializedCapacity: count) { dst, initialized in
            // SAFETY: dst has room for `count` floats = src.count bytes; the source is little-endian,
            // as is every platform Vireo runs on.
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
            initialized = count
        }
    }
}
