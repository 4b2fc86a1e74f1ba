import VireoText

/// A parsed, type-checked Milvus filter expression (`age > 30 and tag in ["a", "b"]`), ready to
/// evaluate against rows. Parse once with ``init(_:schema:)``; evaluation never throws.
///
/// Supported (Milvus 2.4/2.5 core, see `../shared/milvus/FILTER.md`): comparisons, chained ranges
/// (`10 <= age < 20`), `in` / `not in` literal lists, `like` with `%` and `_`, `and`/`or`/`not` (and
/// `&&`, `||`, `!`), arithmetic (`+ - * / % **`), JSON paths (`meta["a"]["b"]`), array indexing
/// (`tags[0]`), dynamic-field keys, `array_contains`, `array_contains_all`, `array_contains_any`,
/// `array_length`, `json_contains*`, `exists`, `is null` / `is not null`, parentheses.
///
/// Semantics: a comparison involving a null field or a missing JSON key is false; comparing values
/// of different kinds inside JSON is false; comparing a typed field with a literal of the wrong type
/// is an error at parse time, as are unknown fields (without the dynamic field) and vector fields.
public struct Filter: Sendable {
    public let expression: String
    let root: FilterExpr
    /// The parsed expression's canonical form (field references resolved against the schema, so a
    /// schema change gives another key), keying per-segment filter results; nil for expressions
    /// longer than ``cacheableLength`` (long `pk in [...]` lists are one-off).
    let cacheKey: String?
    static let cacheableLength = 4096

    /// Maximum nesting depth and length, so hostile input cannot overflow the stack or run the parser
    /// for long: at most ``maxLength`` characters outside string literals, and ``maxTotalLength``
    /// characters in all. String literals may take the difference, for what pymilvus builds for
    /// `get`/`delete` by ids: `pk in ["…", …]` listing primary keys of up to 65,535 bytes each.
    public static let maxDepth = 128
    public static let maxLength = 65_536
    public static let maxTotalLength = 1 << 20

    /// Parses and checks `expression` against `schema`.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidFilter``, quoting the expression and
    ///   pointing at the offending position.
    public init(_ expression: String, schema: CollectionSchema) throws {
        self.expression = expression
        // The byte count bounds the character count (and is O(1) for native strings).
        guard expression.utf8.count <= Self.maxTotalLength || expression.count <= Self.maxTotalLength else {
            throw VireoError.invalid(.invalidFilter, "filter is \(expression.count) characters long; the limit is \(Self.maxTotalLength)")
        }
        do {
            let tokens = try FilterLexer.tokenize(expression)
            let literal = tokens.reduce(0) { n, t in if case let .string(s) = t.token { n + s.count } else { n } }
            let outside = expression.count - literal
            guard outside <= Self.maxLength else {
                throw VireoError.invalid(.invalidFilter, "filter is \(outside) characters long outside its string literals; the limit is \(Self.maxLength)")
            }
            var parser = FilterParser(tokens: tokens, schema: schema)
            root = try parser.parse()
        } catch let e as FilterSyntaxError {
            throw Filter.describe(e, in: expression)
        }
        cacheKey = expression.utf8.count <= Self.cacheableLength ? root.canonicalKey : nil
    }

    static func describe(_ e: FilterSyntaxError, in expression: String) -> VireoError {
        // Quote at most 60 characters on each side of the error (a filter may be up to 1 MiB).
        let chars = Array(expression)
        let at = min(e.position, chars.count)
        let from = max(0, at - 60), to = min(chars.count, at + 60)
        let excerpt = (from > 0 ? "…" : "") + String(chars[from..<to]) + (to < chars.count ? "…" : "")
        let pointer = String(repeating: " ", count: at - from + (from > 0 ? 1 : 0)) + "^"
        // Milvus quotes the expression before the error ("cannot parse expression: <expr>, error: …");
        // a long one is only quoted around the error.
        let quoted = chars.count <= 200 ? "\(expression), error: " : ""
        return VireoError.invalid(.invalidFilter, "\(quoted)invalid filter at position \(e.position): \(e.reason)\n  \(excerpt)\n  \(pointer)")
    }

    /// Whether `row` (field name → value, dynamic keys at top level) satisfies the filter.
    public func matches(_ row: Row) -> Bool {
        var values: [String: JSONValue] = [:]
        for name in fieldNames { if let v = row[name] { values[name] = v.jsonValue } }
        return FilterEvaluator(fields: values).truth(root)
    }

    /// Whether the referenced field values satisfy the filter (the engine's fast path: values decoded
    /// straight from storage, see `RowCodec.filterValues`).
    func matches(values: [String: JSONValue]) -> Bool {
        FilterEvaluator(fields: values).truth(root)
    }

    /// Names of the fields the filter reads (to decode only what is needed).
    var fieldNames: Set<String> { root.fieldNames }
}

/// A SQL LIKE pattern (`%` any run, `_` one character), analysed once: pure prefix, suffix,
/// infix and exact patterns compare UTF-8 bytes; others run a backtracking matcher on scalars.
struct LikePattern: Sendable {
    enum Kind: Sendable { case exact, prefix, suffix, contains, general }
    let kind: Kind
    let needle: [UInt8]
    let scalars: [Unicode.Scalar]

    init(_ pattern: String) {
        scalars = Array(pattern.unicodeScalars)
        let hasUnderscore = pattern.contains("_")
        let core = pattern.trimmingPrefixAndSuffix("%")
        let leading = pattern.hasPrefix("%"), trailing = pattern.hasSuffix("%") && pattern.count > 1
        if hasUnderscore || core.contains("%") {
            kind = .general
        } else if leading && trailing {
            kind = .contains
        } else if leading {
            kind = .suffix
        } else if trailing {
            kind = .prefix
        } else {
            kind = .exact
        }
        needle = Array(core.utf8)
    }

    func matches(_ s: String) -> Bool {
        switch kind {
        case .exact: return s.utf8.elementsEqual(needle)
        case .prefix: return s.utf8.starts(with: needle)
        case .suffix: return s.utf8.reversed().starts(with: needle.reversed())
        case .contains:
            if needle.isEmpty { return true }
            let hay = Array(s.utf8)
            guard hay.count >= needle.count else { return false }
            let first = needle[0]
            var i = 0
            while i + needle.count <= hay.count {
                if hay[i] == first, hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
                i += 1
            }
            return false
        case .general: return FilterEvaluator.like(Array(s.unicodeScalars), scalars)
        }
    }
}

extension String {
    func trimmingPrefixAndSuffix(_ c: Character) -> Substring {
        var sub = self[...]
        while sub.first == c { sub = sub.dropFirst() }
        while sub.last == c { sub = sub.dropLast() }
        return sub
    }
}

/// A step into a JSON value or an array.
enum PathComponent: Sendable, Hashable {
    case key(String)
    case index(Int)
}

indirect enum FilterExpr: Sendable {
    case literal(JSONValue)
    case field(String, [PathComponent])
    case list([FilterExpr])
    case not(FilterExpr)
    case negate(FilterExpr)
    case logical(and: Bool, FilterExpr, FilterExpr)
    case compare(String, FilterExpr, FilterExpr)
    case arithmetic(String, FilterExpr, FilterExpr)
    case member(FilterExpr, FilterExpr, negated: Bool)
    case like(FilterExpr, LikePattern)
    case isNull(FilterExpr, negated: Bool)
    case call(String, [FilterExpr])
    /// `text_match(field, 'words')`: the field's analysed text has any of the query's terms.
    case textMatch(String, TextMatchQuery)

    /// The expression's structure as text, one spelling per parsed expression: strings are
    /// length-prefixed and every node is bracketed, so two different expressions never share a key.
    /// (Written out by hand: `String(describing:)` of the tree goes through runtime reflection and
    /// took 83 % of parsing a filter, about half the time of a 50 %-selective HNSW search per query.)
    var canonicalKey: String {
        var out = ""
        appendKey(to: &out)
        return out
    }

    private func appendKey(to out: inout String) {
        func text(_ s: String) { out += "\(s.utf8.count):"; out += s }
        func json(_ v: JSONValue) {
            switch v {
            case .null: out += "n"
            case let .bool(b): out += b ? "t" : "f"
            case let .int(i): out += "i\(i);"
            case let .double(d): out += "d\(d.bitPattern);"
            case let .string(s): out += "s"; text(s)
            case let .array(a): out += "a\(a.count)["; a.forEach(json); out += "]"
            case let .object(o):
                out += "o\(o.count){"
                for (k, v) in o.sorted(by: { $0.key < $1.key }) { text(k); json(v) }
                out += "}"
            }
        }
        func node(_ tag: String, _ parts: [FilterExpr]) {
            out += tag; out += "("
            for p in parts { p.appendKey(to: &out); out += "," }
            out += ")"
        }
        switch self {
        case let .literal(v): out += "L"; json(v)
        case let .field(name, path):
            out += "F"; text(name)
            for c in path {
                switch c {
                case let .key(k): out += "k"; text(k)
                case let .index(i): out += "#\(i);"
                }
            }
        case let .list(items): node("list\(items.count)", items)
        case let .not(e): node("not", [e])
        case let .negate(e): node("neg", [e])
        case let .logical(and, a, b): node(and ? "and" : "or", [a, b])
        case let .compare(op, a, b): out += "cmp"; text(op); node("", [a, b])
        case let .arithmetic(op, a, b): out += "ar"; text(op); node("", [a, b])
        case let .member(a, b, negated): node(negated ? "notin" : "in", [a, b])
        case let .like(e, pattern): out += "like"; text(String(String.UnicodeScalarView(pattern.scalars))); node("", [e])
        case let .isNull(e, negated): node(negated ? "notnull" : "null", [e])
        case let .call(name, args): out += "call"; text(name); node("\(args.count)", args)
        case let .textMatch(name, q):
            out += "tm"; text(name)
            out += "terms\(q.terms.count)"; for t in q.terms.sorted() { text(t) }
            if let phrase = q.phrase { out += "phrase\(phrase.count)"; for t in phrase { text(t) } }
            out += "slop\(q.slop);"
        }
    }

    var fieldNames: Set<String> {
        switch self {
        case .literal: return []
        case let .field(name, _), let .textMatch(name, _): return [name]
        case let .list(items), let .call(_, items): return items.reduce(into: Set()) { $0.formUnion($1.fieldNames) }
        case let .not(e), let .negate(e), let .like(e, _), let .isNull(e, _): return e.fieldNames
        case let .logical(_, a, b), let .compare(_, a, b), let .arithmetic(_, a, b), let .member(a, b, _):
            return a.fieldNames.union(b.fieldNames)
        }
    }
}

/// Recursive-descent parser following Milvus' precedence (low → high): `or`, `and`, `==`/`!=`,
/// relational (with chained ranges), `like`, `in`, `+ -`, `* / %`, unary, `**`, postfix `is null`.
struct FilterParser {
    let tokens: [PositionedToken]
    let schema: CollectionSchema
    var i = 0
    var depth = 0

    init(tokens: [PositionedToken], schema: CollectionSchema) {
        self.tokens = tokens
        self.schema = schema
    }

    static let functions: [String: Int] = [
        "array_contains": 2, "array_contains_all": 2, "array_contains_any": 2, "array_length": 1,
        "json_contains": 2, "json_contains_all": 2, "json_contains_any": 2, "text_match": 2, "phrase_match": 2,
    ]

    var current: PositionedToken { tokens[i] }

    func fail(_ m: String, at: Int? = nil) -> FilterSyntaxError { FilterSyntaxError(position: at ?? current.position, reason: m) }

    mutating func advance() { if i < tokens.count - 1 { i += 1 } }

    mutating func accept(_ t: FilterToken) -> Bool {
        if current.token == t { advance(); return true }
        return false
    }

    mutating func expect(_ t: FilterToken, _ what: String) throws(FilterSyntaxError) {
        guard accept(t) else { throw fail("expected \(what)") }
    }

    mutating func parse() throws(FilterSyntaxError) -> FilterExpr {
        guard current.token != .end else { throw fail("the filter is empty; omit it to match every row") }
        let e = try parseOr()
        guard current.token == .end else { throw fail("unexpected \(Self.describe(current.token)) after a complete expression") }
        try checkBoolean(e, at: 0)
        return e
    }

    static func describe(_ t: FilterToken) -> String {
        switch t {
        case let .identifier(s): return "'\(s)'"
        case let .int(v): return "'\(v)'"
        case let .double(v): return "'\(v)'"
        case let .string(s): return "\"\(s)\""
        case let .bool(b): return "'\(b)'"
        case let .op(s): return "'\(s)'"
        case let .keyword(k): return "'\(k)'"
        case .end: return "the end of the filter"
        }
    }

    mutating func nested<T>(_ body: (inout FilterParser) throws(FilterSyntaxError) -> T) throws(FilterSyntaxError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Filter.maxDepth else { throw fail("the filter nests deeper than \(Filter.maxDepth) levels") }
        return try body(&self)
    }

    mutating func parseOr() throws(FilterSyntaxError) -> FilterExpr {
        var lhs = try parseAnd()
        while current.token == .keyword("or") || current.token == .op("||") {
            advance()
            lhs = .logical(and: false, lhs, try parseAnd())
        }
        return lhs
    }

    mutating func parseAnd() throws(FilterSyntaxError) -> FilterExpr {
        var lhs = try parseEquality()
        while current.token == .keyword("and") || current.token == .op("&&") {
            advance()
            lhs = .logical(and: true, lhs, try parseEquality())
        }
        return lhs
    }

    mutating func parseEquality() throws(FilterSyntaxError) -> FilterExpr {
        var lhs = try parseRelational()
        while case let .op(o) = current.token, o == "==" || o == "!=" {
            let at = current.position
            advance()
            let rhs = try parseRelational()
            try checkComparable(lhs, rhs, op: o, at: at)
            lhs = .compare(o, asFieldType(lhs, of: rhs), asFieldType(rhs, of: lhs))
        }
        return lhs
    }

    mutating func parseRelational() throws(FilterSyntaxError) -> FilterExpr {
        let first = try parseLike()
        var operands = [first]
        var ops: [(String, Int)] = []
        while case let .op(o) = current.token, ["<", "<=", ">", ">="].contains(o) {
            ops.append((o, current.position))
            advance()
            operands.append(try parseLike())
        }
        switch ops.count {
        case 0: return first
        case 1:
            try checkComparable(operands[0], operands[1], op: ops[0].0, at: ops[0].1)
            return .compare(ops[0].0, asFieldType(operands[0], of: operands[1]), asFieldType(operands[1], of: operands[0]))
        case 2:
            // Chained range: the middle must be a field, both operators point the same way.
            guard case .field = operands[1] else { throw fail("a chained range needs a field in the middle, as in 10 <= age < 20", at: ops[0].1) }
            let up = ops[0].0.hasPrefix("<"), up2 = ops[1].0.hasPrefix("<")
            guard up == up2 else { throw fail("a chained range must use < or <= twice, or > or >= twice", at: ops[1].1) }
            try checkComparable(operands[0], operands[1], op: ops[0].0, at: ops[0].1)
            try checkComparable(operands[1], operands[2], op: ops[1].0, at: ops[1].1)
            return .logical(and: true, .compare(ops[0].0, asFieldType(operands[0], of: operands[1]), operands[1]),
                            .compare(ops[1].0, operands[1], asFieldType(operands[2], of: operands[1])))
        default:
            throw fail("at most two comparisons can be chained", at: ops[2].1)
        }
    }

    mutating func parseLike() throws(FilterSyntaxError) -> FilterExpr {
        let lhs = try parseIn()
        if current.token == .keyword("like") {
            let at = current.position
            advance()
            guard case let .string(p) = current.token else { throw fail("'like' needs a string pattern, as in text like \"ab%\"") }
            advance()
            if let t = staticType(lhs), t != .varChar, t != .json {
                throw fail("like operation on non-string field is unsupported: 'like' applies to strings; this operand is \(t.rawValue)", at: at)
            }
            return .like(lhs, LikePattern(p))
        }
        return lhs
    }

    mutating func parseIn() throws(FilterSyntaxError) -> FilterExpr {
        let lhs = try parseAdditive()
        var negated = false
        if current.token == .keyword("not"), i + 1 < tokens.count, tokens[i + 1].token == .keyword("in") {
            advance()
            negated = true
        }
        if current.token == .keyword("in") {
            advance()
            let at = current.position
            let rhs = try parseAdditive()
            guard case let .list(items) = rhs else { throw fail("'in' needs a literal list, as in tag in [\"a\", \"b\"]", at: at) }
            for item in items { try checkComparable(lhs, item, op: "in", at: at) }
            return .member(lhs, .list(items.map { asFieldType($0, of: lhs) }), negated: negated)
        }
        if negated { throw fail("expected 'in' after 'not'") }
        return lhs
    }

    mutating func parseAdditive() throws(FilterSyntaxError) -> FilterExpr {
        var lhs = try parseMultiplicative()
        while case let .op(o) = current.token, o == "+" || o == "-" {
            let at = current.position
            advance()
            let rhs = try parseMultiplicative()
            try checkNumeric(lhs, at: at)
            try checkNumeric(rhs, at: at)
            lhs = .arithmetic(o, lhs, rhs)
        }
        return lhs
    }

    mutating func parseMultiplicative() throws(FilterSyntaxError) -> FilterExpr {
        var lhs = try parseUnary()
        while case let .op(o) = current.token, o == "*" || o == "/" || o == "%" {
            let at = current.position
            advance()
            let rhs = try parseUnary()
            try checkNumeric(lhs, at: at)
            try checkNumeric(rhs, at: at)
            // A literal zero divisor is refused up front, as Milvus' planner does.
            if o == "/" || o == "%", case let .literal(v) = rhs, v == .int(0) || v == .double(0) {
                throw fail(o == "/" ? "divide by zero" : "modulus by zero", at: at)
            }
            lhs = .arithmetic(o, lhs, rhs)
        }
        return lhs
    }

    mutating func parseUnary() throws(FilterSyntaxError) -> FilterExpr {
        try nested { (p: inout FilterParser) throws(FilterSyntaxError) -> FilterExpr in
            if p.current.token == .keyword("not") || p.current.token == .op("!") {
                p.advance()
                return .not(try p.parseUnary())
            }
            if p.current.token == .op("-") {
                let at = p.current.position
                p.advance()
                let e = try p.parseUnary()
                try p.checkNumeric(e, at: at)
                return .negate(e)
            }
            if p.current.token == .op("+") {
                p.advance()
                return try p.parseUnary()
            }
            let base = try p.parsePostfix()
            if p.current.token == .op("**") {
                let at = p.current.position
                p.advance()
                let exponent = try p.parseUnary()
                try p.checkNumeric(base, at: at)
                try p.checkNumeric(exponent, at: at)
                return .arithmetic("**", base, exponent)
            }
            return base
        }
    }

    mutating func parsePostfix() throws(FilterSyntaxError) -> FilterExpr {
        let e = try parsePrimary()
        if current.token == .keyword("is") {
            advance()
            let negated = accept(.keyword("not"))
            try expect(.keyword("null"), "'null' after 'is'")
            return .isNull(e, negated: negated)
        }
        return e
    }

    mutating func parsePrimary() throws(FilterSyntaxError) -> FilterExpr {
        let t = current
        switch t.token {
        case let .int(v): advance(); return .literal(.int(v))
        case let .double(v): advance(); return .literal(.double(v))
        case let .string(s): advance(); return .literal(.string(s))
        case let .bool(b): advance(); return .literal(.bool(b))
        case .op("("):
            advance()
            let e = try nested { (p: inout FilterParser) throws(FilterSyntaxError) -> FilterExpr in try p.parseOr() }
            try expect(.op(")"), "')'")
            return e
        case .op("["):
            advance()
            var items: [FilterExpr] = []
            while current.token != .op("]") {
                let item = try nested { (p: inout FilterParser) throws(FilterSyntaxError) -> FilterExpr in try p.parseAdditive() }
                items.append(item)
                if !accept(.op(",")) { break }
            }
            try expect(.op("]"), "']' to close the list")
            return .list(items)
        case .keyword("exists"):
            advance()
            let e = try parsePostfix()
            guard case .field = e else { throw fail("'exists' applies to a field or JSON path", at: t.position) }
            return .isNull(e, negated: true)
        case let .identifier(name):
            advance()
            if current.token == .op("(") {
                let lower = name.lowercased()
                guard let arity = Self.functions[lower] else {
                    throw fail("unknown function '\(name)'; known: \(Self.functions.keys.sorted().joined(separator: ", "))", at: t.position)
                }
                advance()
                var args: [FilterExpr] = []
                while current.token != .op(")") {
                    args.append(try nested { (p: inout FilterParser) throws(FilterSyntaxError) -> FilterExpr in try p.parseOr() })
                    if !accept(.op(",")) { break }
                }
                try expect(.op(")"), "')' to close the call")
                if lower == "phrase_match" { return try phraseMatch(args, at: t.position) }  // 2 or 3 arguments
                guard args.count == arity else { throw fail("\(lower) takes \(arity) argument(s), got \(args.count)", at: t.position) }
                if lower == "text_match" { return try textMatch(args, at: t.position) }
                if lower.hasSuffix("_all") || lower.hasSuffix("_any") {
                    guard case let .list(items) = args[1] else { throw fail("\(lower) needs a literal list as its second argument", at: t.position) }
                    if elementTypeIsFloat(args[0]) { args[1] = .list(items.map(Self.asFloat32)) }
                } else if lower == "array_contains", elementTypeIsFloat(args[0]) {
                    args[1] = Self.asFloat32(args[1])
                }
                return .call(lower, args)
            }
            let fieldName: String
            var path: [PathComponent] = []
            if name == CollectionSchema.dynamicFieldName {
                guard schema.enableDynamicField else { throw fail("'$meta' is only available when the dynamic field is enabled", at: t.position) }
                guard current.token == .op("[") else { throw fail("'$meta' needs a key, as in $meta[\"color\"]") }
                advance()
                guard case let .string(key) = current.token else { throw fail("expected a string key after '$meta['") }
                advance()
                try expect(.op("]"), "']'")
                fieldName = key
            } else if let f = schema.field(named: name) {
                if f.dataType.isAnyVector { throw fail("'\(name)' is a vector field; filters apply to scalar fields", at: t.position) }
                fieldName = name
            } else if schema.enableDynamicField {
                fieldName = name
            } else {
                throw fail("unknown field '\(name)'; the collection has \(schema.fields.filter { !$0.dataType.isAnyVector }.map(\.name).joined(separator: ", "))", at: t.position)
            }
            while current.token == .op("[") {
                advance()
                switch current.token {
                case let .string(k): path.append(.key(k))
                case let .int(v): path.append(.index(Int(v)))
                default: throw fail("an index must be a string key or an integer")
                }
                advance()
                try expect(.op("]"), "']'")
            }
            if !path.isEmpty, let f = schema.field(named: fieldName), f.dataType != .json, f.dataType != .array {
                throw fail("'\(fieldName)' is \(f.dataType.rawValue); only JSON and Array fields take [ ]", at: t.position)
            }
            return .field(fieldName, path)
        case .end: throw fail("the filter ends too early")
        default: throw fail("unexpected \(Self.describe(t.token))")
        }
    }

    /// `text_match(field, 'words')` on a VarChar field with `enable_match`: the words are analysed
    /// with the field's analyzer once, here.
    func textMatch(_ args: [FilterExpr], at: Int) throws(FilterSyntaxError) -> FilterExpr {
        guard case let .field(name, []) = args[0], let f = schema.field(named: name) else {
            throw fail("text_match needs a field of the schema as its first argument, as in text_match(text, 'words')", at: at)
        }
        guard f.dataType == .varChar, f.enableMatch else {
            throw fail("field \"\(name)\" does not enable match: text_match needs a VarChar field created with enable_analyzer and enable_match", at: at)
        }
        guard case let .literal(.string(words)) = args[1] else {
            throw fail("text_match needs the words as a string, as in text_match(\(name), 'vector database')", at: at)
        }
        guard let analyzer = try? f.analyzer() else { throw fail("field \(name) has no valid analyzer", at: at) }
        return .textMatch(name, TextMatchQuery(analyzer: analyzer, terms: Set(analyzer.terms(words))))
    }

    /// `phrase_match(field, 'words in order'[, slop])`: the analysed phrase's tokens appear in order,
    /// each at most `slop` positions after where it would directly follow the previous one (tantivy's
    /// phrase-with-slop rule, which Milvus uses); slop defaults to 0 (adjacent tokens).
    func phraseMatch(_ args: [FilterExpr], at: Int) throws(FilterSyntaxError) -> FilterExpr {
        guard args.count == 2 || args.count == 3 else {
            throw fail("phrase_match takes 2 or 3 arguments (field, phrase, optional slop), got \(args.count)", at: at)
        }
        guard case let .textMatch(name, query) = try textMatch(Array(args.prefix(2)), at: at) else { throw fail("phrase_match", at: at) }
        var slop = 0
        if args.count == 3 {
            guard case let .literal(.int(s)) = args[2], (0...Int64(TextMatchQuery.maxSlop)).contains(s) else {
                throw fail("phrase_match's slop must be an integer in 0...\(TextMatchQuery.maxSlop)", at: at)
            }
            slop = Int(s)
        }
        guard case let .literal(.string(words)) = args[1] else { throw fail("phrase_match needs the phrase as a string", at: at) }
        var phrase = query
        phrase.phrase = query.analyzer.terms(words)
        phrase.slop = slop
        return .textMatch(name, phrase)
    }

    // MARK: Static checks

    /// The schema type of a plain field reference (nil for JSON paths, dynamic keys and non-fields).
    func staticType(_ e: FilterExpr) -> DataType? {
        switch e {
        case let .field(name, path):
            guard let f = schema.field(named: name) else { return nil }
            if path.isEmpty { return f.dataType }
            if f.dataType == .array, path.count == 1, case .index = path[0] { return f.elementType }
            return nil
        case .literal(.int): return .int64
        case .literal(.double): return .double
        case .literal(.string): return .varChar
        case .literal(.bool): return .bool
        case .arithmetic, .negate: return .double
        case .call("array_length", _): return .int64
        default: return nil
        }
    }

    /// `literal` as Milvus compares it with `field`: a numeric literal compared with a FLOAT field
    /// (or a FLOAT array element) is converted to float32 first, so `price == 0.1` matches the
    /// stored float32 0.1 (0.100000001…) rather than comparing it with the double 0.1 and failing.
    func asFieldType(_ literal: FilterExpr, of field: FilterExpr) -> FilterExpr {
        staticType(field) == .float ? Self.asFloat32(literal) : literal
    }

    /// Whether `e` is an Array field whose elements are FLOAT.
    func elementTypeIsFloat(_ e: FilterExpr) -> Bool {
        guard case let .field(name, []) = e, let f = schema.field(named: name), f.dataType == .array else { return false }
        return f.elementType == .float
    }

    /// A numeric literal (possibly negated) rounded to the nearest float32; anything else unchanged.
    static func asFloat32(_ e: FilterExpr) -> FilterExpr {
        switch e {
        case let .literal(.double(d)): return .literal(.double(Double(Float(d))))
        case let .literal(.int(i)): return .literal(.double(Double(Float(i))))
        case let .negate(.literal(.double(d))): return .literal(.double(Double(Float(-d))))
        case let .negate(.literal(.int(i))): return .literal(.double(-Double(Float(i))))
        default: return e
        }
    }

    static func kind(_ t: DataType) -> String {
        switch t {
        case .int8, .int16, .int32, .int64, .float, .double: return "number"
        case .varChar: return "string"
        case .bool: return "bool"
        default: return t.rawValue
        }
    }

    func checkComparable(_ a: FilterExpr, _ b: FilterExpr, op: String, at: Int) throws(FilterSyntaxError) {
        guard let ta = staticType(a), let tb = staticType(b) else { return }
        if ta == .json || tb == .json { return }
        if ta == .array || tb == .array {
            throw fail("an Array field cannot be compared with \(op); use array_contains or index it, as in tags[0]", at: at)
        }
        let ka = Self.kind(ta), kb = Self.kind(tb)
        guard ka == kb else { throw fail("cannot compare a \(ka) with a \(kb) using \(op)", at: at) }
        // Milvus' planner refuses a float literal where an integer field is matched exactly.
        if op == "==" || op == "!=" || op == "in" {
            let integers: Set<DataType> = [.int8, .int16, .int32, .int64]
            for (field, other) in [(ta, b), (tb, a)] where integers.contains(field) {
                if case let .literal(.double(d)) = other { throw fail("an integer field cannot be matched with the float value \(d) using \(op)", at: at) }
                if case let .negate(.literal(.double(d))) = other { throw fail("an integer field cannot be matched with the float value -\(d) using \(op)", at: at) }
            }
        }
        if ka == "bool", op != "==", op != "!=", op != "in" { throw fail("booleans only support == and !=", at: at) }
    }

    func checkNumeric(_ e: FilterExpr, at: Int) throws(FilterSyntaxError) {
        guard let t = staticType(e), t != .json else { return }
        guard Self.kind(t) == "number" else { throw fail("arithmetic needs numbers; this operand is \(t.rawValue)", at: at) }
    }

    func checkBoolean(_ e: FilterExpr, at: Int) throws(FilterSyntaxError) {
        switch e {
        case .literal(.bool), .not, .logical, .compare, .member, .like, .isNull, .textMatch: return
        case .call(let name, _) where name != "array_length": return
        case let .field(name, path):
            if path.isEmpty, let f = schema.field(named: name), f.dataType != .bool, f.dataType != .json {
                throw fail("'\(name)' is \(f.dataType.rawValue), not a condition; compare it with something", at: at)
            }
            if path.isEmpty, schema.field(named: name) == nil {
                throw fail("predicate is not a boolean expression: '\(name)' (a key of the dynamic field) is not a condition; compare it with something", at: at)
            }
        default:
            throw fail("predicate is not a boolean expression: the filter is not a condition; use a comparison such as age > 30", at: at)
        }
    }
}

/// The query side of `text_match`: the field's analyzer and the analysed query terms. A row matches
/// when its text, analysed the same way, has any of them (no terms: no row matches).
struct TextMatchQuery: Sendable {
    let analyzer: Analyzer
    let terms: Set<String>
    /// `phrase_match`: the phrase's tokens in order, and how far apart they may be.
    var phrase: [String]?
    var slop = 0

    static let maxSlop = 1 << 20

    func matches(_ text: String) -> Bool {
        guard !terms.isEmpty else { return false }
        guard let phrase else { return analyzer.terms(text).contains { terms.contains($0) } }
        // Positions of the phrase's tokens in the text, then the ends of matched prefixes, token by token.
        var positions: [String: [Int]] = [:]
        for t in analyzer.analyze(text) where terms.contains(t.text) { positions[t.text, default: []].append(t.position) }
        var ends = positions[phrase[0]] ?? []
        for term in phrase.dropFirst() {
            guard !ends.isEmpty, let next = positions[term] else { return false }
            ends = next.filter { p in ends.contains { q in p > q && p - q - 1 <= slop } }
        }
        return !ends.isEmpty
    }
}
