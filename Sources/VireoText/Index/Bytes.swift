import CVireoKernels

/// Little-endian writer for the stored forms (statistics, index), ending with a CRC-32C.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }

    mutating func u32s(_ a: [UInt32]) {
        u64(UInt64(a.count))
        bytes.reserveCapacity(bytes.count + a.count * 4)
        for v in a { u32(v) }
    }

    mutating func f32s(_ a: [Float]) {
        u64(UInt64(a.count))
        bytes.reserveCapacity(bytes.count + a.count * 4)
        for v in a { u32(v.bitPattern) }
    }

    mutating func appendChecksum() {
        let crc = bytes.withUnsafeBytes { b in
            // SAFETY: the kernel reads exactly b.count bytes of the live buffer.
            vk_crc32c(0, b.baseAddress, b.count)
        }
        u32(crc)
    }
}

/// Bounds-checked little-endian reader: every count is checked against the bytes left before
/// anything is allocated, so a corrupt or hostile blob is an error, never a crash or a huge
/// allocation.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0
    private let end: Int
    let what: String

    /// Checks the trailing CRC-32C and reads the bytes before it.
    init(checked bytes: [UInt8], what: String) throws(TextError) {
        guard bytes.count >= 4 else { throw .corrupted("\(what): \(bytes.count) bytes is too short") }
        let body = bytes.count - 4
        let crc = bytes.withUnsafeBytes { b in
            // SAFETY: reads the first `body` bytes of the live buffer (body ≤ count).
            vk_crc32c(0, b.baseAddress, body)
        }
        var stored: UInt32 = 0
        for k in 0..<4 { stored |= UInt32(bytes[body + k]) << (8 * UInt32(k)) }
        guard crc == stored else { throw .corrupted("\(what): checksum mismatch (stored \(stored), computed \(crc)); the blob is damaged") }
        self.bytes = bytes
        self.end = body
        self.what = what
    }

    var remaining: Int { end - offset }

    mutating func u32() throws(TextError) -> UInt32 {
        guard remaining >= 4 else { throw .corrupted("\(what): truncated") }
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[offset + k]) << (8 * UInt32(k)) }
        offset += 4
        return v
    }

    mutating func u64() throws(TextError) -> UInt64 {
        let lo = UInt64(try u32())
        let hi = UInt64(try u32())
        return lo | (hi << 32)
    }

    mutating func f32() throws(TextError) -> Float { Float(bitPattern: try u32()) }

    /// A count whose elements of `elementSize` bytes must fit in what is left.
    mutating func count(_ n: UInt64, elementSize: Int) throws(TextError) -> Int {
        guard n <= UInt64(remaining / max(elementSize, 1)) else { throw .corrupted("\(what): a count of \(n) exceeds the blob") }
        return Int(n)
    }

    mutating func u32s() throws(TextError) -> [UInt32] {
        let n = try count(try u64(), elementSize: 4)
        var a = [UInt32](repeating: 0, count: n)
        for i in 0..<n { a[i] = try u32() }
        return a
    }

    mutating func f32s() throws(TextError) -> [Float] {
        let n = try count(try u64(), elementSize: 4)
        var a = [Float](repeating: 0, count: n)
        for i in 0..<n { a[i] = try f32() }
        return a
    }

    func expectEnd() throws(TextError) {
        guard remaining == 0 else { throw .corrupted("\(what): \(remaining) unexpected trailing bytes") }
    }
}
