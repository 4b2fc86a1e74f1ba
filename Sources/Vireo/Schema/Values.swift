import Foundation

/// A JSON document, as stored in JSON fields and the dynamic field (`$meta`).
public indirect enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        if let o = try? c.decode([String: JSONValue].self) { self = .object(o); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .int(i): try c.encode(i)
        case let .double(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// Parses JSON text.
    public init(parsing text: String) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Compact JSON text with sorted keys.
    public var jsonText: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? enc.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    public var description: String { jsonText }
}

/// A field value in a row: what `insert` takes and `get`/`search` return.
public enum FieldValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// Any integer type (Int8 … Int64); range-checked against the field's type on insert.
    case int(Int64)
    case float(Float)
    case double(Double)
    case string(String)
    case json(JSONValue)
    case array([FieldValue])
    case floatVector([Float])
    /// A FLOAT16, BFLOAT16 or BINARY vector in its field's encoding (little-endian 16-bit patterns, or
    /// packed bits): what gRPC carries and REST shows as base64. INT8 vectors are read back as
    /// ``array(_:)`` of integers.
    case vectorBytes([UInt8])
    /// A sparse float vector (SparseFloatVector fields): strictly increasing indices with their weights.
    case sparseVector(SparseVector)

    public var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return String(b)
        case let .int(i): return String(i)
        case let .float(f): return String(f)
        case let .double(d): return String(d)
        case let .string(s): return "\"\(s)\""
        case let .json(j): return j.jsonText
        case let .array(a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case let .floatVector(v): return "<vector dim=\(v.count)>"
        case let .vectorBytes(b): return "<vector \(b.count) bytes>"
        case let .sparseVector(v): return "<sparse vector nnz=\(v.count)>"
        }
    }

    /// A short name of the value's kind for error messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .float, .double: return "a number"
        case .string: return "a string"
        case .json: return "a JSON value"
        case .array: return "an array"
        case .floatVector: return "a float vector"
        case .vectorBytes: return "vector bytes"
        case .sparseVector: return "a sparse vector"
        }
    }
}

/// A row: field name → value. Dynamic fields (when the schema enables them) are extra keys.
public typealias Row = [String: FieldValue]

/// A primary key: Milvus' `Int64` or `VarChar` primary key.
public enum PrimaryKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public var description: String {
        switch self {
        case let .int(i): return String(i)
        case let .string(s): return "\"\(s)\""
        }
    }

    public static func < (a: PrimaryKey, b: PrimaryKey) -> Bool {
        switch (a, b) {
        case let (.int(x), .int(y)): return x < y
        case let (.string(x), .string(y)): return x < y
        case (.int, .string): return true
        case (.string, .int): return false
        }
    }

    /// The value as a `FieldValue`.
    public var fieldValue: FieldValue {
        switch self {
        case let .int(i): return .int(i)
        case let .string(s): return .string(s)
        }
    }

    /// Bytes used as the LMDB key: int64 big-endian with the sign bit flipped (so byte order is
    /// numeric order), strings as UTF-8.
    var storageKey: [UInt8] {
        switch self {
        case let .int(i):
            let u = UInt64(bitPattern: i) ^ (1 << 63)
            return withUnsafeBytes(of: u.bigEndian) { Array($0) }
        case let .string(s):
            return Array(s.utf8)
        }
    }

    /// `storageKey.count`, without building the key.
    var storageKeyCount: Int {
        switch self {
        case .int: return 8
        case let .string(s): return s.utf8.count
        }
    }

    static func fromStorageKey(_ bytes: UnsafeRawBufferPointer, isInt: Bool) -> PrimaryKey {
        if isInt {
            var u: UInt64 = 0
            for b in bytes { u = (u << 8) | UInt64(b) }
            return .int(Int64(bitPattern: u ^ (1 << 63)))
        }
        return .string(String(decoding: bytes, as: UTF8.self))
    }
}

/// A stable 64-bit hash used to route rows to shards. Unlike Swift's `Hasher`, which is seeded per
/// process, it never changes between runs or releases: changing it would move rows between shards.
///
/// FNV-1a over the key's canonical bytes (int64 as 8 little-endian bytes, strings as UTF-8), finished
/// with the SplitMix64 mixer so that low bits (used by `mod shardsNum`) are well distributed.
public enum StableHash {
    public static func hash(_ key: PrimaryKey) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        switch key {
        case let .int(i):
            withUnsafeBytes(of: i.littleEndian) { for b in $0 { mix(b) } }
        case let .string(s):
            for b in s.utf8 { mix(b) }
        }
        var z = h &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The shard a key belongs to.
    public static func shard(of key: PrimaryKey, shardCount: Int) -> Int {
        Int(hash(key) % UInt64(shardCount))
    }
}

extension JSONValue {
    /// About how many bytes the value takes in memory and on the wire (for result budgets).
    var approximateBytes: Int {
        switch self {
        case .null, .bool: return 8
        case .int, .double: return 16
        case let .string(s): return 16 + s.utf8.count
        case let .array(a): return a.reduce(16) { $0 + $1.approximateBytes }
        case let .object(o): return o.reduce(16) { $0 + 16 + $1.key.utf8.count + $1.value.approximateBytes }
        }
    }
}

extension FieldValue {
    /// About how many bytes the value takes in memory and on the wire (for result budgets).
    var approximateBytes: Int {
        switch self {
        case .null, .bool: return 8
        case .int, .float, .double: return 16
        case let .string(s): return 16 + s.utf8.count
        case let .json(j): return j.approximateBytes
        case let .array(a): return a.reduce(16) { $0 + $1.approximateBytes }
        case let .floatVector(v): return 16 + 4 * v.count
        case let .vectorBytes(b): return 16 + 2 * b.count  // base64 on the wire
        case let .sparseVector(v): return 16 + 24 * v.count  // "index": weight pairs as JSON text
        }
    }
}

/// About how many bytes a result row takes (keys and values).
func approximateBytes(of row: Row) -> Int {
    row.reduce(32) { $0 + 16 + $1.key.utf8.count + $1.value.approximateBytes }
}
