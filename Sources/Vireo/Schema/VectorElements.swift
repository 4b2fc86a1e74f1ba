@_exported import enum VireoKernels.VectorElement
import VireoStorage

extension VectorElement {
    /// The element encoding of a vector type; nil for a scalar type.
    public init?(_ type: DataType) {
        switch type {
        case .floatVector: self = .float32
        case .float16Vector: self = .float16
        case .bfloat16Vector: self = .bfloat16
        case .int8Vector: self = .int8
        case .binaryVector: self = .binary
        default: return nil
        }
    }

    /// Appends the encoding of `v` to a batch record.
    func encode(_ v: [Float], into w: inout ByteWriter) {
        switch self {
        case .float32: w.floats(v)
        default: w.bytes.append(contentsOf: bytes(v))
        }
    }

    /// Reads one vector of `dim` dimensions from a batch record.
    func read(_ r: inout ByteReader, dim: Int) -> [Float] {
        self == .float32 ? r.floats(dim) : floats(r.bytes(bytesPerVector(dim: dim)), dim: dim)
    }
}

/// Base64 (RFC 4648, with padding), the form Milvus' REST API gives and takes binary, float16 and
/// bfloat16 vectors in (Go's JSON encoding of `[]byte`).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ b: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            for s in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(s)) & 63)]) }
            i += 3
        }
        let rest = b.count - i
        if rest > 0 {
            let n = UInt32(b[i]) << 16 | (rest == 2 ? UInt32(b[i + 1]) << 8 : 0)
            out.append(alphabet[Int((n >> 18) & 63)])
            out.append(alphabet[Int((n >> 12) & 63)])
            out.append(rest == 2 ? alphabet[Int((n >> 6) & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard or URL-safe base64, padding optional; nil for any other character or a
    /// length no encoding has.
    public static func decode(_ s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        var ended = false
        for c in s.utf8 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): v = 63
            case UInt8(ascii: "="): ended = true; continue
            default: return nil
            }
            if ended { return nil }
            acc = ((acc << 6) | v) & 0xFFFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        return bits >= 6 ? nil : out
    }
}
