import Dispatch
import Synchronization
import Vireo
import VireoKernels

/// A strict JSON parser (RFC 8259) from bytes to ``JSONValue``, written for request bodies.
///
/// Why not `JSONDecoder`: request bodies are mostly vectors (hundreds of thousands of numbers per
/// insert), error messages must say where the body is broken (byte offset, what was expected), and
/// hostile input must not crash the server — nesting is bounded by ``maxDepth``, so no input can
/// exhaust the stack. Integers without fraction or exponent that fit in Int64 become `.int`; other
/// numbers become `.double`; numbers that overflow to infinity are rejected (JSON has no NaN/Inf).
struct JSONParser {
    /// Deepest nesting of arrays/objects accepted.
    static let maxDepth = 128

    struct Failure: Error, Sendable {
        var offset: Int
        var message: String
    }

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one JSON document (surrounding whitespace allowed, nothing else).
    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var p = JSONParser(bytes)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.fail("unexpected '\(p.charName)' after the end of the JSON document") }
        return v
    }

    /// Parses an insert/upsert body. When `collectionName` comes before `data` (as clients write it),
    /// the rows under `data` are decoded straight into engine rows against that collection's schema:
    /// vector fields become `[Float]` without a ``JSONValue`` per number, which is most of an insert's
    /// bytes. The result is the same as ``CollectionSchema/row(fromJSON:index:)`` over the generic
    /// parse (Int64 fields may be strings, other keys go to `$meta`). Anything unusual — `data` first,
    /// an unknown collection, a row that is not an object — leaves `data` in the returned value for
    /// the generic path, which gives the usual errors.
    ///
    /// - Returns: the body without `data` when `rows` is non-nil, else the whole body.
    static func parseWrite(_ bytes: [UInt8], schemaFor: (String) -> CollectionSchema?) throws(Failure) -> (body: JSONValue, rows: [Row]?) {
        var p = JSONParser(bytes)
        p.skipWhitespace()
        guard p.i < bytes.count, bytes[p.i] == UInt8(ascii: "{") else { return (try parse(bytes), nil) }
        p.i += 1
        var out: [String: JSONValue] = [:]
        var rows: [Row]?
        p.skipWhitespace()
        if p.i < bytes.count, bytes[p.i] == UInt8(ascii: "}") {
            p.i += 1
        } else {
            while true {
                let key = try p.memberKey()
                if key == "data" {
                    rows = nil
                    if case let .string(name)? = out["collectionName"], let schema = schemaFor(name),
                       let typed = try p.typedRows(schema) {
                        rows = typed
                        out["data"] = nil
                    } else {
                        out[key] = try p.value(depth: 1)
                    }
                } else {
                    out[key] = try p.value(depth: 1)
                }
                if try !p.nextMember() { break }
            }
        }
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.fail("unexpected '\(p.charName)' after the end of the JSON document") }
        return (.object(out), rows)
    }

    /// Row lists at least this many bytes long are parsed in two halves at once (see ``typedRows(_:)``).
    static let splitBytes = 1 << 20

    /// `data` as rows of `schema` (a list of row objects, or one object); nil, with the position
    /// unchanged, when it is neither (the generic path then reports it).
    ///
    /// A long list is parsed by two threads: a second one starts at a guessed row boundary near the
    /// middle (a `{` after `},`) and parses to the end, while this one parses from the start. The
    /// guess counts only if this thread, parsing everything before it with full validation, arrives at
    /// exactly that offset as the start of a row; otherwise (the bytes were inside a string, or the
    /// second half needs the general path) this thread simply goes on to the end itself, so the result
    /// never depends on the guess.
    private mutating func typedRows(_ schema: CollectionSchema) throws(Failure) -> [Row]? {
        let start = i
        guard i < bytes.count else { return nil }
        if bytes[i] == UInt8(ascii: "{") {
            guard let row = try typedRow(schema) else { i = start; return nil }
            return [row]
        }
        guard bytes[i] == UInt8(ascii: "[") else { return nil }
        i += 1
        var rows: [Row] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return rows }
        var second = bytes.count - i >= Self.splitBytes ? SecondHalf.start(bytes, schema, near: i + (bytes.count - i) / 2) : nil
        defer { second?.abandon() }
        while true {
            skipWhitespace()
            if let half = second, i >= half.start {
                second = nil
                if i == half.start, let (more, end) = half.wait() {
                    rows.append(contentsOf: more)
                    i = end
                    return rows
                }
                half.abandon()
            }
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{"), let row = try typedRow(schema) else { i = start; return nil }
            rows.append(row)
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array; expected ',' or ']'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return rows }
            throw fail("expected ',' or ']' in an array, got '\(charName)'")
        }
    }

    /// The rows from a row's `{` to the end of the list, and the index past its `]`; nil if anything
    /// is not a well-formed row object.
    private mutating func rowsToEnd(_ schema: CollectionSchema) -> ([Row], Int)? {
        var rows: [Row] = []
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{"), let row = try? typedRow(schema) else { return nil }
            rows.append(row)
            skipWhitespace()
            guard i < bytes.count else { return nil }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { return (rows, i + 1) }
            return nil
        }
    }

    /// The second half of a long row list, parsed on another thread from a guessed row start.
    private final class SecondHalf: Sendable {
        let start: Int
        private let result = Mutex<([Row], Int)?>(nil)
        private let finished = DispatchSemaphore(value: 0)
        private let waited = Atomic<Bool>(false)

        private init(start: Int) { self.start = start }

        /// Starts parsing at the first `{` at or after `near` that follows `}` and `,` (whitespace
        /// aside); nil when there is none.
        static func start(_ bytes: [UInt8], _ schema: CollectionSchema, near: Int) -> SecondHalf? {
            var k = near
            var guess: Int?
            while k < bytes.count {
                if bytes[k] == UInt8(ascii: "{") {
                    var j = k - 1
                    while j > near, JSONParser.isSpace(bytes[j]) { j -= 1 }
                    if bytes[j] == UInt8(ascii: ",") {
                        j -= 1
                        while j > near, JSONParser.isSpace(bytes[j]) { j -= 1 }
                        if bytes[j] == UInt8(ascii: "}") { guess = k; break }
                    }
                }
                k += 1
            }
            guard let guess else { return nil }
            let half = SecondHalf(start: guess)
            DispatchQueue.global().async {
                var p = JSONParser(bytes)
                p.i = guess
                let rows = p.rowsToEnd(schema)
                half.result.withLock { $0 = rows }
                half.finished.signal()
            }
            return half
        }

        /// Waits for the other thread; its rows and end index, or nil if it found anything unusual.
        func wait() -> ([Row], Int)? {
            guard !waited.exchange(true, ordering: .relaxed) else { return nil }
            finished.wait()
            return result.withLock { $0 }
        }

        /// Waits for the other thread (so no work outlives the request) and drops its result.
        func abandon() { _ = wait() }
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0d }

    /// One row object (at `{`, nesting depth 3: body, data, row).
    private mutating func typedRow(_ schema: CollectionSchema) throws(Failure) -> Row? {
        i += 1
        var row = Row(minimumCapacity: schema.fields.count)
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return row }
        while true {
            let key = try memberKey()
            let field = schema.field(named: key)
            if field?.dataType == .floatVector, i < bytes.count, bytes[i] == UInt8(ascii: "["), let floats = try floatArray(capacity: field?.dimension ?? 16) {
                row[key] = .floatVector(floats)
            } else {
                var v = try value(depth: 3)
                // Clients in int64-as-string mode send Int64 fields as strings.
                if field?.dataType == .int64, case let .string(s) = v, let n = Int64(s) { v = .int(n) }
                row[key] = schema.fieldValue(fromJSON: v, for: field)
            }
            if try !nextMember() { return row }
        }
    }

    /// A JSON array of numbers (at `[`) as Floats, each rounded from its Double value as the generic
    /// path does; nil, with the position unchanged, at the first element that is not a number.
    private mutating func floatArray(capacity: Int) throws(Failure) -> [Float]? {
        let bytes = self.bytes
        let fast = JSONFloats.array(bytes, at: i, capacity: capacity) { at -> (Float, Int)? in
            // An element outside the kernel's fast path: exactly as the general parser reads it.
            var p = JSONParser(bytes)
            p.i = at
            switch try? p.number() {
            case let .double(d)?: return (Float(d), p.i)
            case let .int(n)?: return (Float(n), p.i)
            default: return nil
            }
        }
        if let (values, end) = fast {
            i = end
            return values
        }
        // Longer than the field's dimension (validation names that), not all numbers, or malformed:
        // element by element, with the general parser's errors.
        let start = i
        i += 1
        var out: [Float] = []
        out.reserveCapacity(min(capacity, 32_768))
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return out }
        while true {
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array; expected ',' or ']'") }
            let b = bytes[i]
            guard b == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) else { i = start; return nil }
            switch try number() {
            case let .double(d): out.append(Float(d))
            case let .int(n): out.append(Float(n))
            default: i = start; return nil
            }
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array; expected ',' or ']'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return out }
            throw fail("expected ',' or ']' in an array, got '\(charName)'")
        }
    }

    private var charName: String {
        guard i < bytes.count else { return "end of input" }
        let b = bytes[i]
        return (0x20..<0x7f).contains(b) ? String(UnicodeScalar(b)) : "byte 0x" + String(b, radix: 16)
    }

    private func fail(_ message: String) -> Failure { Failure(offset: i, message: message) }

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0a, 0x0d: i += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end of input; expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw fail("NaN and Infinity are not JSON numbers; vectors and numbers must be finite")
        default: throw fail("unexpected '\(charName)'; expected a JSON value")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of input in a literal") }
        var k = 0
        var ok = true
        word.withUTF8Buffer { w in
            for j in 0..<n where bytes[i + j] != w[j] { ok = false; break }
            k = n
        }
        guard ok else { throw fail("invalid literal; expected \(word)") }
        i += k
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        guard depth <= Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
        i += 1
        var out: [String: JSONValue] = [:]
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
        while true {
            let key = try memberKey()
            out[key] = try value(depth: depth)
            if try !nextMember() { return .object(out) }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        guard depth <= Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
        i += 1
        var out: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
        while true {
            skipWhitespace()
            out.append(try value(depth: depth))
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an array; expected ',' or ']'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            throw fail("expected ',' or ']' in an array, got '\(charName)'")
        }
    }

    /// An object member's key and its `:` (from before the key's quote; whitespace after is skipped).
    private mutating func memberKey() throws(Failure) -> String {
        skipWhitespace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object, got '\(charName)'") }
        let key = try string()
        skipWhitespace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after object key \"\(key.prefix(40))\"") }
        i += 1
        skipWhitespace()
        return key
    }

    /// After an object member: true past a `,` (another member follows), false past the closing `}`.
    private mutating func nextMember() throws(Failure) -> Bool {
        skipWhitespace()
        guard i < bytes.count else { throw fail("unexpected end of input in an object; expected ',' or '}'") }
        if bytes[i] == UInt8(ascii: ",") { i += 1; return true }
        if bytes[i] == UInt8(ascii: "}") { i += 1; return false }
        throw fail("expected ',' or '}' in an object, got '\(charName)'")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unexpected end of input in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let s = String(validating: bytes[start..<i], as: UTF8.self)
                guard let s else { throw Failure(offset: start, message: "string is not valid UTF-8") }
                i += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw fail("control character in a string; escape it") }
            i += 1
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw Failure(offset: start, message: "string is not valid UTF-8") }
                return s
            }
            if b < 0x20 { throw fail("control character in a string; escape it") }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5c)
            case UInt8(ascii: "/"): out.append(0x2f)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired UTF-16 surrogate in a \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid low surrogate in a \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw fail("unpaired UTF-16 surrogate in a \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw fail("invalid escape '\\\(String(UnicodeScalar(e)))' in a string")
            }
        }
    }

    /// 10^0 … 10^22, each exactly representable as a Double.
    static let powersOfTen: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { x, _ in x * 10 } }

    private mutating func number() throws(Failure) -> JSONValue {
        let start = i
        var negative = false
        if bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else {
            throw fail("invalid number; expected a digit")
        }
        var integral = true
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                throw fail("invalid number: leading zeros are not allowed")
            }
        } else {
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
                if o1 || o2 { overflow = true }
                magnitude = m2
                i += 1
            }
        }
        // Digits of the fraction continue the mantissa (for the fast path below).
        var mantissa = magnitude
        var mantissaOverflow = overflow
        var fractionDigits = 0
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { throw fail("invalid number: expected a digit after '.'") }
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                let (m1, o1) = mantissa.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(bytes[i] - UInt8(ascii: "0")))
                if o1 || o2 { mantissaOverflow = true }
                mantissa = m2
                fractionDigits += 1
                i += 1
            }
        }
        var exponent = 0
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            var negativeExponent = false
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                negativeExponent = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { throw fail("invalid number: expected a digit in the exponent") }
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[i] - UInt8(ascii: "0")) }
                i += 1
            }
            if negativeExponent { exponent = -exponent }
        }
        // Clinger's fast path: a mantissa below 2^53 times an exact power of ten up to 10^22 is one
        // correctly rounded operation, so most numbers (vectors printed with ~9 digits) need no
        // string conversion. Everything else takes the exact path below.
        if !integral, !mantissaOverflow, mantissa <= 1 << 53 {
            let e = exponent - fractionDigits
            if e >= -22 && e <= 22 {
                let m = Double(mantissa)
                let d = e < 0 ? m / Self.powersOfTen[-e] : m * Self.powersOfTen[e]
                return .double(negative ? -d : d)
            }
        }
        if integral && !overflow {
            if negative {
                if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
                if magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
            } else if magnitude <= UInt64(Int64.max) {
                return .int(Int64(magnitude))
            }
        }
        guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)), d.isFinite else {
            throw Failure(offset: start, message: "number \(String(decoding: bytes[start..<min(i, start + 40)], as: UTF8.self)) is out of range")
        }
        return .double(d)
    }
}
