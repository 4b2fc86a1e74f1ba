/// Milvus' `standard` tokenizer (its default; tantivy's `SimpleTokenizer`): a token is a maximal run
/// of Unicode scalars that are alphanumeric in Rust's sense, `char::is_alphanumeric`, i.e. the scalar
/// has the derived property Alphabetic (UCD `DerivedCoreProperties.txt`) or a numeric general category
/// (Nd, Nl, No). Everything else separates tokens and is dropped.
///
/// Consequences, each a rule of that definition:
/// - `_`, `'`, `-`, `.`, `,` split: `dog's` → `dog`, `s`; `32.3` → `32`, `3`; `snake_case` → `snake`, `case`.
/// - Ideographs, kana and hangul are Alphabetic, so a CJK run with no spaces is one token (`中文分词`);
///   mixed runs stay together (`GPT4模型`).
/// - Emoji and symbols (So, Sm, Sc) are not alphanumeric and vanish.
/// - Precomposed letters (`é`, U+00E9) are Alphabetic; a combining mark (U+0301, Mn) is not, so a
///   decomposed `e\u{301}` splits before the mark, as in Milvus (no normalisation happens first).
/// - Superscript and fraction digits (`²`, `½`: No) and Roman numerals (`Ⅻ`: Nl) are token characters.
enum StandardTokenizer {
    /// Token byte ranges in `utf8` (valid UTF-8, as every Swift string is).
    static func ranges(_ utf8: UnsafeBufferPointer<UInt8>, into out: inout [Range<Int>]) {
        var i = 0
        let n = utf8.count
        var start = -1
        while i < n {
            let b = utf8[i]
            let length: Int
            let isWord: Bool
            if b < 0x80 {
                length = 1
                isWord = asciiWord(b)
            } else {
                let (scalar, l) = decode(utf8, at: i)
                length = l
                isWord = isAlphanumeric(scalar)
            }
            if isWord {
                if start < 0 { start = i }
            } else if start >= 0 {
                out.append(start..<i)
                start = -1
            }
            i += length
        }
        if start >= 0 { out.append(start..<n) }
    }

    @inline(__always)
    static func asciiWord(_ b: UInt8) -> Bool {
        (b &- 0x30) < 10 || ((b | 0x20) &- 0x61) < 26
    }

    /// Rust's `char::is_alphanumeric`: Alphabetic, or general category Nd / Nl / No.
    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Decodes the scalar starting at `i` of valid UTF-8.
    @inline(__always)
    static func decode(_ u: UnsafeBufferPointer<UInt8>, at i: Int) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(u[i])
        var value: UInt32
        var length: Int
        if b0 < 0xE0 {
            value = b0 & 0x1F; length = 2
        } else if b0 < 0xF0 {
            value = b0 & 0x0F; length = 3
        } else {
            value = b0 & 0x07; length = 4
        }
        length = min(length, u.count - i)
        for k in 1..<max(length, 1) { value = (value << 6) | (UInt32(u[i + k]) & 0x3F) }
        return (Unicode.Scalar(value) ?? "\u{FFFD}", max(length, 1))
    }
}
