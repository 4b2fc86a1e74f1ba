import Foundation
import VireoKernels

/// What a JSON path index covers (Milvus 2.6's `json_path`, `json_cast_type`, `json_cast_function`
/// index parameters on an `INVERTED` / `AUTOINDEX` index of a JSON field).
///
/// Like Vireo's other scalar indexes, the structure is built per sealed segment, in memory, the first
/// time a filter needs it (``JSONPathValues``); growing segments are filtered row by row.
///
/// ## Semantics
/// The index never changes a filter's result: a row whose value at the path is missing, null or of
/// another type than the cast is simply not in the index, and an expression the index cannot answer
/// exactly as the row-by-row evaluator would (`not in`, a literal of another type, an object
/// literal…) is evaluated row by row. `STRING_TO_DOUBLE` is accepted and reported, but strings are
/// not indexed as numbers: a filter compares a JSON string with a number as false (Milvus' filter
/// semantics), and an index must not make `meta["a"] > 3` match `{"a": "5"}` in sealed segments only.
public struct JSONPathIndex: Sendable, Hashable, Codable {
    /// Milvus' `json_cast_type` values (`JSON`, Milvus' whole-document cast, is not among them).
    public enum CastType: String, Sendable, Hashable, Codable, CaseIterable {
        case bool = "BOOL"
        case double = "DOUBLE"
        case varChar = "VARCHAR"
        case arrayBool = "ARRAY_BOOL"
        case arrayDouble = "ARRAY_DOUBLE"
        case arrayVarChar = "ARRAY_VARCHAR"

        /// Whether the path holds arrays whose elements are indexed (`json_contains*`).
        var isArray: Bool { self == .arrayBool || self == .arrayDouble || self == .arrayVarChar }
    }

    /// The path as the client gave it (`meta["a"]["b"]`), reported back by describe as Milvus does.
    public var path: String
    /// The keys and positions the path walks from the field's document.
    var steps: [PathComponent]
    public var castType: CastType
    /// Milvus' `json_cast_function` (only `STRING_TO_DOUBLE`, with a `DOUBLE` cast); see the type's
    /// semantics note.
    public var castFunction: String?

    /// Parses Milvus' index parameters for a JSON field `field` of `schema`.
    ///
    /// - Parameters:
    ///   - path: `json_path`: the field name followed by `["key"]` / `['key']` / `[0]` steps; nil or
    ///     empty means the whole document (Milvus' default).
    ///   - castType: `json_cast_type`, case-insensitive.
    ///   - castFunction: `json_cast_function`, case-insensitive.
    /// - Throws: ``VireoError`` (``VireoError/Code/invalidArgument``) with Milvus' message for a
    ///   missing or unsupported cast type or function, and a path that is not a path into `field`.
    public init(field: String, schema: CollectionSchema, path: String?, castType: String?, castFunction: String?) throws {
        func bad(_ m: String) -> VireoError { .invalid(.invalidArgument, m) }
        guard let castType, !castType.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw bad("json index must specify cast type: missing parameter json_cast_type (one of \(CastType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let cast = CastType(rawValue: castType.trimmingCharacters(in: .whitespaces).uppercased()) else {
            throw bad("json_cast_type \(castType) is not supported: invalid parameter (use one of \(CastType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let f = castFunction, !f.isEmpty {
            guard f.uppercased() == "STRING_TO_DOUBLE" else {
                throw bad("json_cast_function \(f) is not supported: invalid parameter (the one cast function is STRING_TO_DOUBLE)")
            }
            guard cast == .double else {
                throw bad("json_cast_function \(f) is not supported for json_cast_type \(cast.rawValue): invalid parameter (STRING_TO_DOUBLE needs json_cast_type DOUBLE)")
            }
            self.castFunction = "STRING_TO_DOUBLE"
        } else {
            self.castFunction = nil
        }
        let text = (path ?? "").trimmingCharacters(in: .whitespaces)
        self.path = text.isEmpty ? field : text
        self.castType = cast
        // The path is a filter operand: parse it with the filter grammar, so that an index path and
        // the same path in a filter are the same steps by construction.
        if self.path == field {
            // The whole document: no steps (and not a filter of its own, which a bare name is not).
            self.steps = []
            return
        }
        let parsed: Filter
        do {
            parsed = try Filter(self.path, schema: schema)
        } catch {
            let reason = (error as? VireoError)?.message ?? "\(error)"
            throw bad("json_path \(self.path) is not a valid path into JSON field '\(field)': write it as \(field)[\"key\"][\"key\"] (\(reason))")
        }
        guard case let .field(name, steps) = parsed.root, name == field else {
            throw bad("json_path \(self.path) is not a path into JSON field '\(field)': write it as \(field)[\"key\"][\"key\"]")
        }
        self.steps = steps
    }

    /// The path as Milvus' engine writes it (a JSON pointer, `/a/b`), for messages and ids.
    public var pointer: String {
        steps.map { step -> String in
            switch step {
            case let .key(k): return "/" + k.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
            case let .index(i): return "/\(i)"
            }
        }.joined()
    }
}

extension PathComponent: Codable {
    private enum CodingKeys: String, CodingKey { case key, index }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let k = try c.decodeIfPresent(String.self, forKey: .key) {
            self = .key(k)
        } else {
            self = .index(try c.decode(Int.self, forKey: .index))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .key(k): try c.encode(k, forKey: .key)
        case let .index(i): try c.encode(i, forKey: .index)
        }
    }
}

/// One sealed segment's values at an indexed JSON path, sorted, so that comparisons, `in` and
/// `json_contains*` are binary searches.
///
/// ## Invariants
/// 1. `integers` and `doubles` hold exactly the rows whose value at the path is a JSON integer or a
///    JSON non-integer number (scalar casts), or one entry per such element of the rows whose value
///    is an array (array casts); likewise `strings` and `bools`. Only the cast's own kinds are filled.
/// 2. Integers and doubles are kept apart so each is compared as the row-by-row evaluator compares
///    it: integer with integer exactly (no rounding above 2^53), mixed kinds through `Double`.
struct JSONPathValues: Sendable {
    let cast: JSONPathIndex.CastType
    let integers: SortedScalarIndex<Int64>
    let doubles: SortedScalarIndex<Double>
    let strings: SortedScalarIndex<String>
    let bools: SortedScalarIndex<Int64>

    /// Builds from each row's value at the path (nil: missing or null).
    init(cast: JSONPathIndex.CastType, rows: Int, values: (Int) -> JSONValue?) {
        self.cast = cast
        var ints: [(Int64, UInt32)] = [], dbls: [(Double, UInt32)] = [], strs: [(String, UInt32)] = [], bls: [(Int64, UInt32)] = []
        func add(_ v: JSONValue, _ row: Int) {
            switch (cast, v) {
            case let (.double, .int(i)), let (.arrayDouble, .int(i)): ints.append((i, UInt32(row)))
            case let (.double, .double(d)), let (.arrayDouble, .double(d)): dbls.append((d, UInt32(row)))
            case let (.varChar, .string(s)), let (.arrayVarChar, .string(s)): strs.append((s, UInt32(row)))
            case let (.bool, .bool(b)), let (.arrayBool, .bool(b)): bls.append((b ? 1 : 0, UInt32(row)))
            default: break
            }
        }
        for r in 0..<rows {
            guard let v = values(r) else { continue }
            if cast.isArray {
                if case let .array(items) = v { for item in items { add(item, r) } }
            } else {
                add(v, r)
            }
        }
        integers = SortedScalarIndex(pairs: ints, rowCount: rows)
        doubles = SortedScalarIndex(pairs: dbls, rowCount: rows)
        strings = SortedScalarIndex(pairs: strs, rowCount: rows)
        bools = SortedScalarIndex(pairs: bls, rowCount: rows)
    }

    /// Integer rows whose `Double(value) op y`: `Double(_:)` is monotone on sorted integers, so
    /// the matches are one or two ranges found by binary search on the converted keys.
    private func integerRows(_ op: String, asDouble y: Double) -> Bitset? {
        let keys = integers.keys
        func partition(_ below: (Double) -> Bool) -> Int {
            var lo = 0, hi = keys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if below(Double(keys[mid])) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        let lower = partition { $0 < y }, upper = partition { $0 <= y }
        var out = Bitset(capacity: integers.rowCount)
        switch op {
        case "==": integers.bits(lower..<upper, into: &out)
        case "!=":
            integers.bits(0..<lower, into: &out)
            integers.bits(upper..<keys.count, into: &out)
        case "<": integers.bits(0..<lower, into: &out)
        case "<=": integers.bits(0..<upper, into: &out)
        case ">": integers.bits(upper..<keys.count, into: &out)
        case ">=": integers.bits(lower..<keys.count, into: &out)
        default: return nil
        }
        return out
    }

    /// Number rows with `value op literal`, integers and doubles each compared as the evaluator does.
    private func numbers(_ op: String, _ literal: JSONValue) -> Bitset? {
        let fromIntegers: Bitset?, fromDoubles: Bitset?
        switch literal {
        case let .int(x):
            fromIntegers = integers.select(op, x)
            fromDoubles = doubles.select(op, Double(x))
        case let .double(y):
            fromIntegers = integerRows(op, asDouble: y)
            fromDoubles = doubles.select(op, y)
        default: return nil
        }
        guard let a = fromIntegers, let b = fromDoubles else { return nil }
        return a.union(b)
    }

    /// Rows whose (scalar-cast) value satisfies `value op literal` exactly as the row-by-row
    /// evaluator decides it; nil when this index cannot say (another literal type, an array cast).
    func compare(_ op: String, _ literal: JSONValue) -> Bitset? {
        switch (cast, literal) {
        case (.double, .int), (.double, .double): return numbers(op, literal)
        case let (.varChar, .string(x)): return strings.select(op, x)
        case let (.bool, .bool(x)) where op == "==" || op == "!=": return bools.select(op, x ? 1 : 0)
        default: return nil
        }
    }

    /// Rows whose value (scalar casts) or one of whose elements (array casts) equals `literal` as the
    /// evaluator's `==` does; nil when this index cannot say.
    func equal(_ literal: JSONValue) -> Bitset? {
        switch (cast, literal) {
        case (.double, .int), (.double, .double), (.arrayDouble, .int), (.arrayDouble, .double): return numbers("==", literal)
        case let (.varChar, .string(x)), let (.arrayVarChar, .string(x)): return strings.members([x])
        case let (.bool, .bool(x)), let (.arrayBool, .bool(x)): return bools.members([x ? 1 : 0])
        default: return nil
        }
    }
}

extension SortedScalarIndex {
    /// An index of (value, row) pairs: several entries per row for array elements.
    init(pairs: [(Key, UInt32)], rowCount: Int) {
        let sorted = pairs.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        self.init(keys: sorted.map(\.0), rows: sorted.map(\.1), rowCount: rowCount)
    }
}
