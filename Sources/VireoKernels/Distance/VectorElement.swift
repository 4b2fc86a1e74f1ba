import CVireoKernels

/// How a vector field's elements are encoded: on the wire (gRPC bytes, REST base64), in batch records
/// and in sealed segments. Compact types are stored compactly (2 bytes per dimension for FLOAT16 and
/// BFLOAT16, 1 for INT8, dimension/8 for BINARY). Sealed segments keep them compact in memory
/// (``CompactMatrix``) and exact scans run compact kernels on them; growing segments, indexes and
/// queries use their float32 widening, which is exact for every one of them (a half, a bfloat16 and
/// an int8 are float32 values; a bit is 0 or 1), so search results are those of the stored values.
///
/// Bit order of BINARY vectors is Milvus' (and numpy's `packbits`): dimension `i` is bit `7 − i % 8`
/// of byte `i / 8`.
public enum VectorElement: Sendable, Hashable {
    case float32, float16, bfloat16, int8, binary

    /// Stored bytes of one vector of `dim` dimensions.
    public func bytesPerVector(dim: Int) -> Int {
        switch self {
        case .float32: return dim * 4
        case .float16, .bfloat16: return dim * 2
        case .int8: return dim
        case .binary: return dim / 8
        }
    }

    /// The encoding of `v` (little-endian 16-bit patterns, two's-complement int8, packed bits). The
    /// values must be representable (finite; integers in -128...127 for INT8; 0 or 1 for BINARY).
    public func bytes(_ v: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytesPerVector(dim: v.count))
        switch self {
        case .float32:
            for x in v { let b = x.bitPattern; for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: b >> UInt32(s))) } }
        case .float16:
            for x in v { let b = Float16(x).bitPattern; out.append(UInt8(b & 0xFF)); out.append(UInt8(b >> 8)) }
        case .bfloat16:
            for x in v { let b = Self.bfloat16Bits(x); out.append(UInt8(b & 0xFF)); out.append(UInt8(b >> 8)) }
        case .int8:
            for x in v { out.append(UInt8(bitPattern: Int8(x))) }
        case .binary:
            var byte: UInt8 = 0
            for (i, x) in v.enumerated() {
                if x != 0 { byte |= 0x80 >> UInt8(i % 8) }
                if i % 8 == 7 { out.append(byte); byte = 0 }
            }
        }
        return out
    }

    /// Decodes one vector of `dim` dimensions from exactly ``bytesPerVector(dim:)`` bytes.
    public func floats(_ b: UnsafeRawBufferPointer, dim: Int) -> [Float] {
        precondition(b.count == bytesPerVector(dim: dim), "vector of \(b.count) bytes, expected \(bytesPerVector(dim: dim))")
        return [Float](unsafeUninitializedCapacity: dim) { dst, n in
            // SAFETY: dst has room for dim floats, b holds one vector of dim elements (checked above).
            if dim > 0 { widen(b, rows: 1, dim: dim, into: dst.baseAddress!) }
            n = dim
        }
    }

    public func floats(_ b: [UInt8], dim: Int) -> [Float] {
        b.withUnsafeBytes { floats($0, dim: dim) }
    }

    /// Widens `rows` contiguous stored vectors to float32 into `dst` (`rows × dim` floats): the C
    /// kernels for half (F16C) and bfloat16 (a shift), plain loops for int8 and bits.
    ///
    /// - Precondition: `b.count == rows × bytesPerVector(dim:)`; `dst` holds `rows × dim` floats.
    package func widen(_ b: UnsafeRawBufferPointer, rows: Int, dim: Int, into dst: UnsafeMutablePointer<Float>) {
        let count = rows * dim
        precondition(b.count == rows * bytesPerVector(dim: dim))
        guard count > 0, let src = b.baseAddress else { return }
        switch self {
        case .float32:
            // SAFETY: b holds count float32 values; loads are unaligned-safe.
            for i in 0..<count { dst[i] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        case .float16, .bfloat16:
            // The kernels read uint16 patterns; copy into an aligned scratch when the bytes are not 2-aligned.
            let aligned = Int(bitPattern: src) % 2 == 0
            let scratch: [UInt16] = aligned ? [] : (0..<count).map { b.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self) }
            // SAFETY: the source holds count 16-bit values (precondition); dst holds count floats.
            func run(_ p: UnsafePointer<UInt16>) {
                if self == .float16 { vk_f16_to_f32(p, count, dst) } else { vk_bf16_to_f32(p, count, dst) }
            }
            if aligned { run(src.assumingMemoryBound(to: UInt16.self)) } else { scratch.withUnsafeBufferPointer { run($0.baseAddress!) } }
        case .int8:
            for i in 0..<count { dst[i] = Float(Int8(bitPattern: b[i])) }
        case .binary:
            for i in 0..<count { dst[i] = (b[i / 8] & (0x80 >> UInt8(i % 8))) != 0 ? 1 : 0 }
        }
    }

    /// Writes `views` back to back in this element's stored encoding (float32 rows copied as they are).
    package func store(_ views: [MatrixView], into buf: UnsafeMutableRawBufferPointer) {
        if self == .float32 {
            MatrixView.concatenate(views, into: buf)
        } else {
            encode(views, into: buf)
        }
    }

    /// Encodes the rows of `views` (float32 values representable in this type) one after the other
    /// into `dst` (`Σ rows × bytesPerVector` bytes): how a sealed segment stores compact vectors.
    package func encode(_ views: [MatrixView], into dst: UnsafeMutableRawBufferPointer) {
        var at = 0
        for view in views {
            for r in 0..<view.rows {
                let encoded = bytes(view.rowArray(r))
                // SAFETY: the caller sized dst for every row; the slice is bounds-checked.
                UnsafeMutableRawBufferPointer(rebasing: dst[at..<(at + encoded.count)]).copyBytes(from: encoded)
                at += encoded.count
            }
        }
        precondition(at == dst.count, "encoded \(at) bytes into a \(dst.count)-byte blob")
    }

    /// Rounds `x` to the nearest bfloat16 (ties to even) and returns its bit pattern.
    package static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// `x` rounded to this element type's precision (float32, int8 and bits: unchanged).
    public func rounded(_ x: Float) -> Float {
        switch self {
        case .float32, .int8, .binary: return x
        case .float16: return Float(Float16(x))
        case .bfloat16: return Float(bitPattern: UInt32(Self.bfloat16Bits(x)) << 16)
        }
    }

    /// Milvus' name of the vector type (for messages).
    public var typeName: String {
        switch self {
        case .float32: return "FloatVector"
        case .float16: return "Float16Vector"
        case .bfloat16: return "BFloat16Vector"
        case .int8: return "Int8Vector"
        case .binary: return "BinaryVector"
        }
    }
}
