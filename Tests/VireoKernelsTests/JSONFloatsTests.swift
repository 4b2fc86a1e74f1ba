import Foundation
import Testing
import VireoKernels
import VireoTestSupport

@Suite struct JSONFloatsTests {
    /// The general parser's stand-in: a number's characters through `Double(String)`.
    static func element(_ bytes: [UInt8]) -> (Int) -> (value: Float, end: Int)? {
        { start in
            var end = start
            while end < bytes.count, "+-.eE0123456789".utf8.contains(bytes[end]) { end += 1 }
            guard let d = Double(String(decoding: bytes[start..<end], as: UTF8.self)), d.isFinite else { return nil }
            return (Float(d), end)
        }
    }

    @Test("number arrays parse to the correctly rounded values, bit for bit, fast path or not")
    func values() throws {
        var g = SeededGenerator(seed: 11)
        var texts = ["0", "-0", "0.0", "-0.0", "1e-7", "123.456E3", "1E22", "25e-1", "3.0e0000", "9007199254740992", "-12", "1e+2",
                     // outside the kernel's fast path: handed to the element parser
                     "6.337881e-34", "-3.23369e-33", "1e-23", "12345678901234567890", "9007199254740993", "1e00001"]
        for _ in 0..<3000 {
            let f = Float.random(in: -1...1, using: &g)
            texts.append("\(f)")
            texts.append(String(format: "%.9g", Double(f)))
            texts.append(String(format: "%.6e", Double.random(in: -100...100, using: &g) * pow(10, Double(Int.random(in: -40...30, using: &g)))))
        }
        for chunk in stride(from: 0, to: texts.count, by: 384) {
            let items = Array(texts[chunk..<min(texts.count, chunk + 384)])
            let text = "  [ " + items.joined(separator: Bool.random(using: &g) ? "," : " ,\n ") + " ]  "
            let bytes = Array(text.utf8)
            let start = bytes.firstIndex(of: UInt8(ascii: "["))!
            let (values, end) = try #require(JSONFloats.array(bytes, at: start, capacity: items.count, element: Self.element(bytes)))
            #expect(bytes[end - 1] == UInt8(ascii: "]") && bytes[end...].allSatisfy { $0 == 0x20 })
            #expect(values.map(\.bitPattern) == items.map { t in
                // The integer -0 is 0; everything else rounds through Double.
                (t == "-0" ? Float(0) : Float(Double(t)!)).bitPattern
            })
        }
        let empty = try #require(JSONFloats.array(Array("[ ]".utf8), at: 0, capacity: 0, element: { _ in nil }))
        #expect(empty.values.isEmpty && empty.end == 3)
    }

    @Test("malformed arrays, non-numbers and too many elements are left to the general parser")
    func fallbacks() {
        for text in ["[1,\"a\"]", "[01]", "[1e400]", "[1,2", "[1,]", "[.5]", "[1.]", "[1e]", "[-]", "[1 2]", "[true]", "{1}", "[,1]", "[1]]"] {
            let bytes = Array(text.utf8)
            // Elements outside the fast path go to `element` (here: "not a number"); the separators and
            // brackets are the kernel's to check.
            let r = JSONFloats.array(bytes, at: 0, capacity: 8, element: { _ in nil })
            // "[1]]" is a complete array followed by a stray byte, which the caller reports.
            if text == "[1]]" { #expect(r?.end == 3) } else { #expect(r == nil, "\(text)") }
        }
        let three = Array("[1, 2, 3]".utf8)
        #expect(JSONFloats.array(three, at: 0, capacity: 2, element: Self.element(three)) == nil, "more elements than the capacity")
        #expect(JSONFloats.array(Array("[1]".utf8), at: 5, capacity: 2, element: { _ in nil }) == nil)
    }
}
