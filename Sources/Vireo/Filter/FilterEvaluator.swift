import Foundation

/// Evaluates a ``FilterExpr`` against one row. Values are JSON values; a missing field, null or a
/// value of the wrong kind makes the enclosing predicate false.
struct FilterEvaluator {
    /// The referenced fields' values, by name (see ``Filter/slots``); nil or absent = null.
    let fields: [String: JSONValue]

    func truth(_ e: FilterExpr) -> Bool {
        switch e {
        case let .literal(v): return v == .bool(true)
        case .field, .arithmetic, .negate, .list:
            return value(e) == .bool(true)
        case let .not(inner): return !truth(inner)
        case let .logical(isAnd, a, b): return isAnd ? (truth(a) && truth(b)) : (truth(a) || truth(b))
        case let .compare(op, a, b):
            guard let x = value(a), let y = value(b) else { return false }
            return Self.compare(op, x, y)
        case let .member(a, b, negated):
            guard let x = value(a), case let .array(items)? = value(b) else { return false }
            let found = items.contains { Self.compare("==", x, $0) }
            return negated ? !found : found
        case let .like(a, pattern):
            guard case let .string(s)? = value(a) else { return false }
            return pattern.matches(s)
        case let .isNull(a, negated):
            let isNull = value(a) == nil
            return negated ? !isNull : isNull
        case let .call(name, args):
            return call(name, args) == .bool(true)
        case let .textMatch(name, query):
            guard case let .string(text)? = fields[name] else { return false }
            return query.matches(text)
        }
    }

    /// The value of an expression, nil for null/missing/undefined.
    func value(_ e: FilterExpr) -> JSONValue? {
        switch e {
        case let .literal(v): return v
        case let .field(name, path):
            guard var v = fields[name], v != .null else { return nil }
            for step in path {
                switch (step, v) {
                case let (.key(k), .object(o)):
                    guard let next = o[k] else { return nil }
                    v = next
                case let (.index(i), .array(a)):
                    guard i >= 0, i < a.count else { return nil }
                    v = a[i]
                default: return nil
                }
            }
            return v == .null ? nil : v
        case let .list(items): return .array(items.map { value($0) ?? .null })
        case let .negate(inner):
            switch value(inner) {
            case let .int(i)?: return .int(0 &- i)
            case let .double(d)?: return .double(-d)
            default: return nil
            }
        case let .arithmetic(op, a, b):
            guard let x = value(a), let y = value(b) else { return nil }
            return Self.arithmetic(op, x, y)
        case .not, .logical, .compare, .member, .like, .isNull, .textMatch:
            return .bool(truth(e))
        case let .call(name, args): return call(name, args)
        }
    }

    func call(_ name: String, _ args: [FilterExpr]) -> JSONValue? {
        guard case let .array(items)? = value(args[0]) else { return name == "array_length" ? nil : .bool(false) }
        switch name {
        case "array_length": return .int(Int64(items.count))
        case "array_contains", "json_contains":
            guard let v = value(args[1]) else { return .bool(false) }
            return .bool(items.contains { Self.equal($0, v) })
        case "array_contains_all", "json_contains_all":
            guard case let .array(wanted)? = value(args[1]) else { return .bool(false) }
            return .bool(wanted.allSatisfy { w in items.contains { Self.equal($0, w) } })
        case "array_contains_any", "json_contains_any":
            guard case let .array(wanted)? = value(args[1]) else { return .bool(false) }
            return .bool(wanted.contains { w in items.contains { Self.equal($0, w) } })
        default: return nil
        }
    }

    static func number(_ v: JSONValue) -> Double? {
        switch v {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// Equality by value, as Milvus' `json_contains*` compares elements: lists element by element
    /// (same length, same order), objects key by key, numbers by value (`2 == 2.0`), and scalars
    /// of different kinds never equal.
    static func equal(_ x: JSONValue, _ y: JSONValue) -> Bool {
        switch (x, y) {
        case let (.array(a), .array(b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case let (.object(a), .object(b)):
            return a.count == b.count && a.allSatisfy { key, v in b[key].map { equal(v, $0) } ?? false }
        case (.array, _), (_, .array), (.object, _), (_, .object):
            return false
        default:
            return compare("==", x, y)
        }
    }

    static func compare(_ op: String, _ x: JSONValue, _ y: JSONValue) -> Bool {
        let order: Int
        switch (x, y) {
        case let (.int(a), .int(b)): order = a < b ? -1 : (a > b ? 1 : 0)
        case let (.string(a), .string(b)): order = a < b ? -1 : (a > b ? 1 : 0)
        case let (.bool(a), .bool(b)):
            guard op == "==" || op == "!=" else { return false }
            order = a == b ? 0 : 1
        default:
            // Values of different kinds (or arrays/objects) never satisfy a comparison.
            guard let a = number(x), let b = number(y) else { return false }
            order = a < b ? -1 : (a > b ? 1 : 0)
        }
        switch op {
        case "==": return order == 0
        case "!=": return order != 0
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        case ">=": return order >= 0
        default: return false
        }
    }

    static func arithmetic(_ op: String, _ x: JSONValue, _ y: JSONValue) -> JSONValue? {
        if case let .int(a) = x, case let .int(b) = y, op != "/", op != "**" {
            switch op {
            case "+": return .int(a &+ b)
            case "-": return .int(a &- b)
            case "*": return .int(a &* b)
            // Int64.min % -1 overflows the quotient; its remainder is 0.
            case "%": return b == 0 ? nil : .int(a.remainderReportingOverflow(dividingBy: b).partialValue)
            default: return nil
            }
        }
        guard let a = number(x), let b = number(y) else { return nil }
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/": return b == 0 ? nil : .double(a / b)
        case "%": return b == 0 ? nil : .double(a.truncatingRemainder(dividingBy: b))
        case "**": return .double(pow(a, b))
        default: return nil
        }
    }

    /// SQL LIKE on Unicode scalars: `%` matches any run, `_` one character.
    static func like(_ t: [Unicode.Scalar], _ p: [Unicode.Scalar]) -> Bool {
        // Iterative matcher with backtracking to the last '%'.
        var i = 0, j = 0, star = -1, mark = 0
        while i < t.count {
            if j < p.count, p[j] == "_" || p[j] == t[i] {
                i += 1
                j += 1
            } else if j < p.count, p[j] == "%" {
                star = j
                mark = i
                j += 1
            } else if star >= 0 {
                j = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while j < p.count, p[j] == "%" { j += 1 }
        return j == p.count
    }
}
