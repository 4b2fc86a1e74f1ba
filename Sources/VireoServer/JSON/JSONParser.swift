import Vireo

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
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object, got '\(charName)'") }
            let key = try string()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after object key \"\(key.prefix(40))\"") }
            i += 1
            skipWhitespace()
            out[key] = try value(depth: depth)
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of input in an object; expected ',' or '}'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
            throw fail("expected ',' or '}' in an object, got '\(charName)'")
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
