/// Tokens of Milvus' boolean expression language (`../shared/milvus/FILTER.md`).
enum FilterToken: Equatable, Sendable {
    case identifier(String)
    case int(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)
    case op(String)  // punctuation and operators: ( ) [ ] , == != < <= > >= + - * / % ** && || !
    case keyword(String)  // and or not in like is null exists (lower-cased)
    case end
}

struct PositionedToken: Sendable {
    var token: FilterToken
    var position: Int  // 0-based character offset
}

/// Splits an expression into tokens, reporting the character position of any lexical error.
struct FilterLexer {
    static let keywords: Set<String> = ["and", "or", "not", "in", "like", "is", "null", "exists"]

    static func tokenize(_ text: String) throws(FilterSyntaxError) -> [PositionedToken] {
        let chars = Array(text)
        var out: [PositionedToken] = []
        var i = 0
        func error(_ at: Int, _ m: String) -> FilterSyntaxError { FilterSyntaxError(position: at, reason: m) }
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            if c.isLetter || c == "_" || c == "$" {
                var j = i + 1
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                let word = String(chars[i..<j])
                i = j
                switch word {
                case "true", "True", "TRUE": out.append(.init(token: .bool(true), position: start))
                case "false", "False", "FALSE": out.append(.init(token: .bool(false), position: start))
                case "and", "AND", "or", "OR", "not", "NOT", "in", "IN", "like", "LIKE", "is", "IS", "null", "NULL", "exists", "EXISTS":
                    out.append(.init(token: .keyword(word.lowercased()), position: start))
                default: out.append(.init(token: .identifier(word), position: start))
                }
                continue
            }
            if c.isNumber || (c == "." && i + 1 < chars.count && chars[i + 1].isNumber) {
                var j = i
                var isFloat = false
                if c == "0", j + 1 < chars.count, "xXbBoO".contains(chars[j + 1]) {
                    let radix = "xX".contains(chars[j + 1]) ? 16 : "bB".contains(chars[j + 1]) ? 2 : 8
                    j += 2
                    let digitsStart = j
                    while j < chars.count, chars[j].isHexDigit { j += 1 }
                    guard let v = Int64(String(chars[digitsStart..<j]), radix: radix) else { throw error(start, "malformed integer literal") }
                    out.append(.init(token: .int(v), position: start))
                    i = j
                    continue
                }
                while j < chars.count, chars[j].isNumber { j += 1 }
                if j < chars.count, chars[j] == "." { isFloat = true; j += 1; while j < chars.count, chars[j].isNumber { j += 1 } }
                if j < chars.count, chars[j] == "e" || chars[j] == "E" {
                    isFloat = true
                    j += 1
                    if j < chars.count, chars[j] == "+" || chars[j] == "-" { j += 1 }
                    while j < chars.count, chars[j].isNumber { j += 1 }
                }
                let text = String(chars[i..<j])
                if isFloat {
                    guard let v = Double(text) else { throw error(start, "malformed number '\(text)'") }
                    out.append(.init(token: .double(v), position: start))
                } else {
                    guard let v = Int64(text) else { throw error(start, "integer '\(text)' does not fit in Int64") }
                    out.append(.init(token: .int(v), position: start))
                }
                i = j
                continue
            }
            if c == "\"" || c == "'" {
                var j = i + 1
                var s = ""
                var closed = false
                while j < chars.count {
                    let d = chars[j]
                    if d == c { closed = true; j += 1; break }
                    if d == "\\", j + 1 < chars.count {
                        let e = chars[j + 1]
                        switch e {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        case "r": s.append("\r")
                        case "\\", "\"", "'": s.append(e)
                        default: s.append("\\"); s.append(e)
                        }
                        j += 2
                        continue
                    }
                    s.append(d)
                    j += 1
                }
                guard closed else { throw error(start, "unterminated string literal") }
                out.append(.init(token: .string(s), position: start))
                i = j
                continue
            }
            let two = i + 1 < chars.count ? String(chars[i...(i + 1)]) : ""
            if ["==", "!=", "<=", ">=", "&&", "||", "**"].contains(two) {
                out.append(.init(token: .op(two), position: start))
                i += 2
                continue
            }
            if "()[],<>+-*/%!".contains(c) {
                out.append(.init(token: .op(String(c)), position: start))
                i += 1
                continue
            }
            throw error(start, "unexpected character '\(c)'")
        }
        out.append(.init(token: .end, position: chars.count))
        return out
    }
}

/// A lexical or syntax error at a character position.
struct FilterSyntaxError: Error, Sendable {
    var position: Int
    var reason: String
}
