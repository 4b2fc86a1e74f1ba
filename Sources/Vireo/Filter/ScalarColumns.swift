import Synchronization
import VireoKernels
import VireoText

/// A decoded scalar column of one segment or block: typed values plus which rows are non-null.
enum ScalarColumn: Sendable {
    case int([Int64], valid: Bitset)
    case double([Double], valid: Bitset)
    case bool([Bool], valid: Bitset)
    case string([String], valid: Bitset)
    /// JSON, arrays and dynamic keys: evaluated row by row.
    case unsupported
}

/// Lazily decoded columns of an immutable set of rows (a sealed segment or a growing block), kept
/// so that repeated filters cost a pass over typed arrays instead of decoding every row.
final class ColumnCache: Sendable {
    private let columns = Mutex<[String: ScalarColumn]>([:])
    private let indexes = Mutex<[String: ScalarIndex]>([:])
    private let jsonPaths = Mutex<[String: JSONPathValues]>([:])
    /// Sparse vector fields' search data (`SparseSearch`), by field and metric.
    let sparse = Mutex<[String: SparseSegmentData]>([:])
    /// `enable_match` fields' analysed terms → rows (ascending), for `text_match`, by field.
    private let textTerms = Mutex<[String: [String: [UInt32]]]>([:])

    /// Filter results (the rows an expression matches, before tombstones and partitions) by the
    /// parsed expression's canonical form (``Filter/cacheKey``): the segment's rows never change, so
    /// a result stays valid for the segment's life. A RAG workload repeats a handful of filters (a
    /// tenant, a source), and per query the columnar pass over every row is a fixed cost the search
    /// itself does not have. At most ``filterCacheLimit`` results, the oldest dropped first.
    private let filterResults = Mutex<(keys: [String], bits: [String: Bitset])>(([], [:]))
    static let filterCacheLimit = 16

    /// The cached result of the filter keyed `key`, or `evaluate`'s (kept when not nil).
    func filterResult(_ key: String?, evaluate: () throws -> Bitset?) rethrows -> Bitset? {
        guard let key else { return try evaluate() }
        if let b = filterResults.withLock({ $0.bits[key] }) { return b }
        guard let built = try evaluate() else { return nil }
        filterResults.withLock { cache in
            guard cache.bits[key] == nil else { return }
            if cache.keys.count >= Self.filterCacheLimit { cache.bits[cache.keys.removeFirst()] = nil }
            cache.keys.append(key)
            cache.bits[key] = built
        }
        return built
    }

    /// How many filter results this segment holds (tests check the cache is used and bounded).
    var cachedFilterResults: Int { filterResults.withLock { $0.keys.count } }

    /// How many text fields' term indexes this segment has built (tests check `text_match` uses them).
    var textTermStructures: Int { textTerms.withLock { $0.count } }

    /// The terms of text field `name` with the rows holding each, built by `build` on first use (the
    /// field's analyzer never changes, so the field's name is the key).
    func textTerms(_ name: String, build: () throws -> [String: [UInt32]]?) rethrows -> [String: [UInt32]]? {
        if let t = textTerms.withLock({ $0[name] }) { return t }
        guard let built = try build() else { return nil }
        textTerms.withLock { $0[name] = built }
        return built
    }

    /// How many JSON path index structures this segment has built (tests check the index is used).
    var jsonPathStructures: Int { jsonPaths.withLock { $0.count } }

    /// The values of one JSON path index (``JSONPathIndex``), sorted by `build` on first use and
    /// kept under `key` (which names the field, path and cast, so a recreated index with another
    /// cast never reads a stale structure).
    func jsonPathValues(_ key: String, build: () throws -> JSONPathValues?) rethrows -> JSONPathValues? {
        if let v = jsonPaths.withLock({ $0[key] }) { return v }
        guard let built = try build() else { return nil }
        jsonPaths.withLock { $0[key] = built }
        return built
    }

    /// The column `name`: read with `stored` (a sealed segment's column blob) or else decoded from
    /// the rows' encoded scalars, once.
    func column(_ name: String, field: FieldSchema?, rows: Int, codec: RowCodec, stored: () throws -> ScalarColumn? = { nil },
                encodedRows: () throws -> [[UInt8]]) throws -> ScalarColumn {
        if let c = columns.withLock({ $0[name] }) { return c }
        guard let field, !field.isPrimaryKey else { return .unsupported }
        if let c = try stored() {
            columns.withLock { $0[name] = c }
            return c
        }
        let column = try Self.decode(field: field, rows: rows, codec: codec, encodedRows: encodedRows())
        columns.withLock { $0[name] = column }
        return column
    }

    /// The scalar index of column `name`, sorted from `column()` on first use.
    func index(_ name: String, column: () throws -> ScalarColumn) rethrows -> ScalarIndex? {
        if let i = indexes.withLock({ $0[name] }) { return i }
        guard let built = ScalarIndex(try column()) else { return nil }
        indexes.withLock { $0[name] = built }
        return built
    }

    /// Decodes the typed column of `field` from rows' encoded scalars (`.unsupported` for JSON,
    /// arrays and vectors, which filters evaluate row by row).
    static func decode(field: FieldSchema, rows: Int, codec: RowCodec, encodedRows: @autoclosure () throws -> [[UInt8]]) rethrows -> ScalarColumn {
        let name = field.name
        let column: ScalarColumn
        switch field.dataType {
        case .int8, .int16, .int32, .int64, .float, .double, .bool, .varChar:
            let encoded = try encodedRows()
            var valid = Bitset(capacity: rows)
            var values: [String: JSONValue] = [:]
            let wanted: Set<String> = [name]
            var ints: [Int64] = [], doubles: [Double] = [], bools: [Bool] = [], strings: [String] = []
            for (i, bytes) in encoded.enumerated() {
                values.removeAll(keepingCapacity: true)
                bytes.withUnsafeBytes { codec.filterValues($0, wanted: wanted, into: &values) }
                let v = values[name]
                if v != nil && v != .null { valid.insert(i) }
                switch field.dataType {
                case .int8, .int16, .int32, .int64:
                    if case let .int(x)? = v { ints.append(x) } else { ints.append(0) }
                case .float, .double:
                    switch v {
                    case let .double(x)?: doubles.append(x)
                    case let .int(x)?: doubles.append(Double(x))
                    default: doubles.append(0)
                    }
                case .bool:
                    if case let .bool(x)? = v { bools.append(x) } else { bools.append(false) }
                default:
                    if case let .string(x)? = v { strings.append(x) } else { strings.append("") }
                }
            }
            switch field.dataType {
            case .int8, .int16, .int32, .int64: column = .int(ints, valid: valid)
            case .float, .double: column = .double(doubles, valid: valid)
            case .bool: column = .bool(bools, valid: valid)
            default: column = .string(strings, valid: valid)
            }
        default:
            column = .unsupported
        }
        return column
    }
}

/// Evaluates a filter over columns into a bitset of matching rows, for the shapes that columns
/// serve (comparisons of a typed field with a literal, `in` lists, `like`, `is null`, and `and` /
/// `or` / `not` of those). Returns nil for anything else; the caller then evaluates row by row.
struct ColumnarFilter {
    let rows: Int
    let column: (String) throws -> ScalarColumn
    /// The scalar index of a field, where one exists (sealed segments of indexed fields).
    let index: (String) throws -> ScalarIndex?
    /// The JSON path indexes of a JSON field's path (sealed segments; empty elsewhere).
    let jsonPath: (String, [PathComponent]) throws -> [JSONPathValues]
    /// An analysed text field's terms → rows (`text_match`), built with the query's analyzer (the field's).
    let textTerms: (String, Analyzer) throws -> [String: [UInt32]]?

    init(rows: Int, column: @escaping (String) throws -> ScalarColumn, index: @escaping (String) throws -> ScalarIndex? = { _ in nil },
         jsonPath: @escaping (String, [PathComponent]) throws -> [JSONPathValues] = { _, _ in [] },
         textTerms: @escaping (String, Analyzer) throws -> [String: [UInt32]]? = { _, _ in nil }) {
        self.textTerms = textTerms
        self.rows = rows
        self.column = column
        self.index = index
        self.jsonPath = jsonPath
    }

    /// Filter functions whose first argument may be a JSON path with an array-cast index.
    static let containsFunctions: Set<String> = [
        "json_contains", "json_contains_any", "json_contains_all", "array_contains", "array_contains_any", "array_contains_all",
    ]

    func evaluate(_ e: FilterExpr) throws -> Bitset? {
        switch e {
        case let .logical(isAnd, a, b):
            guard let x = try evaluate(a), let y = try evaluate(b) else { return nil }
            return isAnd ? x.subtracting(y.inverted()) : x.union(y)
        case let .not(a):
            return try evaluate(a)?.inverted()
        case let .compare(op, .field(name, []), .literal(v)):
            return try compare(name, op, v)
        case let .compare(op, .literal(v), .field(name, [])):
            let flipped = ["<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="][op]!
            return try compare(name, flipped, v)
        case let .member(.field(name, []), .list(items), negated):
            var values: [JSONValue] = []
            for item in items {
                guard case let .literal(v) = item else { return nil }
                values.append(v)
            }
            guard var bits = try members(name, values) else { return nil }
            if negated, case let col = try column(name), let valid = col.valid {
                bits = valid.subtracting(bits)
            }
            return bits
        case let .like(.field(name, []), pattern):
            if let bits = try index(name)?.like(pattern) { return bits }
            guard case let .string(values, valid) = try column(name) else { return nil }
            var bits = Bitset(capacity: rows)
            for i in 0..<rows where valid.contains(i) && pattern.matches(values[i]) { bits.insert(i) }
            return bits
        case let .isNull(.field(name, []), negated):
            guard let valid = try column(name).valid else { return nil }
            return negated ? valid : valid.inverted()
        case let .compare(op, .field(name, path), rhs) where !path.isEmpty:
            guard let v = Self.literal(rhs) else { return nil }
            return try jsonPath(name, path).lazy.compactMap { $0.compare(op, v) }.first
        case let .compare(op, lhs, .field(name, path)) where !path.isEmpty:
            guard let v = Self.literal(lhs) else { return nil }
            let flipped = ["<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="][op]!
            return try jsonPath(name, path).lazy.compactMap { $0.compare(flipped, v) }.first
        case let .member(.field(name, path), .list(items), false) where !path.isEmpty:
            // `x in [a, b]` is `x == a or x == b`; `not in` also holds for values of other types,
            // which the index does not hold, so it is evaluated row by row.
            let indexes = try jsonPath(name, path).filter { !$0.cast.isArray }
            guard !indexes.isEmpty else { return nil }
            return Self.union(items, rows: rows) { v in indexes.lazy.compactMap { $0.equal(v) }.first }
        case let .call(fn, args) where Self.containsFunctions.contains(fn) && args.count == 2:
            guard case let .field(name, path) = args[0], !path.isEmpty else { return nil }
            let indexes = try jsonPath(name, path).filter(\.cast.isArray)
            guard !indexes.isEmpty else { return nil }
            let lookup = { (v: JSONValue) -> Bitset? in indexes.lazy.compactMap { $0.equal(v) }.first }
            if fn.hasSuffix("_any") || fn.hasSuffix("_all") {
                // The parser makes the second argument a list; an empty one is rare and its answer
                // (no row / every array row) is left to the evaluator.
                guard case let .list(wanted) = args[1], !wanted.isEmpty else { return nil }
                if fn.hasSuffix("_any") { return Self.union(wanted, rows: rows, lookup) }
                var bits: Bitset?
                for item in wanted {
                    guard let v = Self.literal(item), let b = lookup(v) else { return nil }
                    bits = bits.map { $0.subtracting(b.inverted()) } ?? b
                }
                return bits
            }
            return Self.literal(args[1]).flatMap(lookup)
        case let .textMatch(name, query) where query.phrase == nil:
            // Any of the query's terms: the union of their rows in the field's term index.
            guard let terms = try textTerms(name, query.analyzer) else { return nil }
            var bits = Bitset(capacity: rows)
            for t in query.terms { for r in terms[t] ?? [] { bits.insert(Int(r)) } }
            return bits
        case .literal(.bool(true)): return Bitset(capacity: rows).inverted()
        case .literal(.bool(false)): return Bitset(capacity: rows)
        default:
            return nil
        }
    }

    /// Rows matching any of `items` (literals), each looked up by `lookup`; nil when one cannot be.
    static func union(_ items: [FilterExpr], rows: Int, _ lookup: (JSONValue) -> Bitset?) -> Bitset? {
        var bits = Bitset(capacity: rows)
        for item in items {
            guard let v = literal(item), let b = lookup(v) else { return nil }
            bits = bits.union(b)
        }
        return bits
    }

    /// The value of a literal operand, negative numbers included (`-3` parses as a negation),
    /// computed as the evaluator computes it; nil for anything else.
    static func literal(_ e: FilterExpr) -> JSONValue? {
        switch e {
        case let .literal(v): return v
        case let .negate(.literal(.int(i))): return .int(0 &- i)
        case let .negate(.literal(.double(d))): return .double(-d)
        default: return nil
        }
    }

    private func compare(_ name: String, _ op: String, _ literal: JSONValue) throws -> Bitset? {
        if let bits = try index(name)?.select(op, literal) { return bits }
        switch (try column(name), literal) {
        case let (.int(values, valid), .int(x)): return Self.select(values, valid, op, x)
        case let (.int(values, valid), .double(x)): return Self.select(values.map(Double.init), valid, op, x)
        case let (.double(values, valid), .double(x)): return Self.select(values, valid, op, x)
        case let (.double(values, valid), .int(x)): return Self.select(values, valid, op, Double(x))
        case let (.string(values, valid), .string(x)): return Self.select(values, valid, op, x)
        case let (.bool(values, valid), .bool(x)):
            guard op == "==" || op == "!=" else { return nil }
            return Self.select(values.map { $0 == x ? 1 : 0 }, valid, op, 1)
        default:
            return nil
        }
    }

    /// Valid rows whose value satisfies `value op bound`, a word at a time, with the operator
    /// resolved before the loop (each branch is a specialised loop, no per-row dispatch).
    static func select<T: Comparable>(_ values: [T], _ valid: Bitset, _ op: String, _ bound: T) -> Bitset? {
        var out = Bitset(capacity: values.count)
        switch op {
        case "==": out.fill { values[$0] == bound }
        case "!=": out.fill { values[$0] != bound }
        case "<": out.fill { values[$0] < bound }
        case "<=": out.fill { values[$0] <= bound }
        case ">": out.fill { values[$0] > bound }
        case ">=": out.fill { values[$0] >= bound }
        default: return nil
        }
        return out.subtracting(valid.inverted())
    }

    private func members(_ name: String, _ literals: [JSONValue]) throws -> Bitset? {
        if let bits = try index(name)?.members(literals) { return bits }
        var bits = Bitset(capacity: rows)
        switch try column(name) {
        case let .int(values, valid):
            var set = Set<Int64>()
            var doubles = Set<Double>()
            for l in literals {
                switch l {
                case let .int(x): set.insert(x)
                case let .double(x): doubles.insert(x)
                default: break
                }
            }
            for i in 0..<rows where valid.contains(i) && (set.contains(values[i]) || doubles.contains(Double(values[i]))) { bits.insert(i) }
        case let .string(values, valid):
            let set = Set(literals.compactMap { if case let .string(s) = $0 { return s } else { return nil } })
            for i in 0..<rows where valid.contains(i) && set.contains(values[i]) { bits.insert(i) }
        case let .double(values, valid):
            let set = Set(literals.compactMap(FilterEvaluator.number))
            for i in 0..<rows where valid.contains(i) && set.contains(values[i]) { bits.insert(i) }
        default:
            return nil
        }
        return bits
    }

    static func test<T: Comparable>(_ op: String, _ a: T, _ b: T) -> Bool {
        switch op {
        case "==": return a == b
        case "!=": return a != b
        case "<": return a < b
        case "<=": return a <= b
        case ">": return a > b
        case ">=": return a >= b
        default: return false
        }
    }
}

extension ScalarColumn {
    var valid: Bitset? {
        switch self {
        case let .int(_, v), let .double(_, v), let .bool(_, v), let .string(_, v): return v
        case .unsupported: return nil
        }
    }
}
