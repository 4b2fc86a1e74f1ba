import CVireoKernels
import Testing
import VireoKernels
import VireoTestSupport

/// The FLOAT16 / BFLOAT16 / INT8 / BINARY kernels against scalar references written here in Double
/// precision, on seeded random data with dimensions that leave SIMD tails.
@Suite struct CompactKernelTests {
    static let dims = [1, 3, 7, 8, 15, 16, 17, 63, 64, 65, 127, 384, 1001]

    static func bf16(_ x: Float) -> UInt16 {
        // Reference rounding: to nearest, ties to even, on the 16 dropped bits.
        let bits = x.bitPattern
        let lower = bits & 0xFFFF
        var upper = bits >> 16
        if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { upper += 1 }
        return UInt16(upper)
    }

    static func bf16Value(_ b: UInt16) -> Double { Double(Float(bitPattern: UInt32(b) << 16)) }

    @Test("float16 dot and L2 equal the Double reference over the widened halves", arguments: dims)
    func float16(dim: Int) {
        var g = SeededGenerator(seed: UInt64(100 + dim))
        let q = (0..<dim).map { _ in Float.random(in: -2...2, using: &g) }
        let x = (0..<dim).map { _ in Float16(Float.random(in: -2...2, using: &g)) }
        let bits = x.map(\.bitPattern)
        var dot = 0.0, l2 = 0.0
        for i in 0..<dim {
            dot += Double(q[i]) * Double(Float(x[i]))
            let t = Double(q[i]) - Double(Float(x[i]))
            l2 += t * t
        }
        let fastDot = bits.withUnsafeBufferPointer { vk_f16_dot(q, $0.baseAddress!, dim) }
        let fastL2 = bits.withUnsafeBufferPointer { vk_f16_l2sq(q, $0.baseAddress!, dim) }
        #expect(abs(Double(fastDot) - dot) <= 1e-4 * max(1, abs(dot)), "dim \(dim)")
        #expect(abs(Double(fastL2) - l2) <= 1e-4 * max(1, l2), "dim \(dim)")
        var widened = [Float](repeating: .nan, count: dim)
        bits.withUnsafeBufferPointer { vk_f16_to_f32($0.baseAddress!, dim, &widened) }
        #expect(widened == x.map(Float.init))
        var narrowed = [UInt16](repeating: 0, count: dim)
        let wide = x.map(Float.init)
        vk_f32_to_f16(wide, dim, &narrowed)
        #expect(narrowed == bits, "a half survives float32 and back")
    }

    @Test("bfloat16 dot, L2 and rounding equal the reference", arguments: dims)
    func bfloat16(dim: Int) {
        var g = SeededGenerator(seed: UInt64(200 + dim))
        let q = (0..<dim).map { _ in Float.random(in: -3...3, using: &g) }
        let raw = (0..<dim).map { _ in Float.random(in: -3...3, using: &g) }
        let bits = raw.map(Self.bf16)
        var narrowed = [UInt16](repeating: 0, count: dim)
        vk_f32_to_bf16(raw, dim, &narrowed)
        #expect(narrowed == bits, "round to nearest even")
        var dot = 0.0, l2 = 0.0
        for i in 0..<dim {
            let x = Self.bf16Value(bits[i])
            dot += Double(q[i]) * x
            l2 += (Double(q[i]) - x) * (Double(q[i]) - x)
        }
        let fastDot = bits.withUnsafeBufferPointer { vk_bf16_dot(q, $0.baseAddress!, dim) }
        let fastL2 = bits.withUnsafeBufferPointer { vk_bf16_l2sq(q, $0.baseAddress!, dim) }
        #expect(abs(Double(fastDot) - dot) <= 1e-4 * max(1, abs(dot)), "dim \(dim)")
        #expect(abs(Double(fastL2) - l2) <= 1e-4 * max(1, l2), "dim \(dim)")
        var widened = [Float](repeating: .nan, count: dim)
        bits.withUnsafeBufferPointer { vk_bf16_to_f32($0.baseAddress!, dim, &widened) }
        #expect(widened.map(Double.init) == bits.map(Self.bf16Value))
    }

    @Test("bfloat16 rounding: ties to even, NaN stays NaN, overflow to infinity")
    func bfloat16Edges() {
        let cases: [Float] = [1.0, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), .infinity, -.infinity, .greatestFiniteMagnitude, 0, -0.0]
        var out = [UInt16](repeating: 0, count: cases.count)
        vk_f32_to_bf16(cases, cases.count, &out)
        #expect(out[0] == 0x3F80)
        #expect(out[1] == 0x3F80, "a tie rounds to the even neighbour (down)")
        #expect(out[2] == 0x3F82, "a tie rounds to the even neighbour (up)")
        #expect(out[3] == 0x7F80 && out[4] == 0xFF80)
        #expect(out[5] == 0x7F80, "float32 max rounds to infinity in bfloat16")
        #expect(out[6] == 0 && out[7] == 0x8000)
        var nan = [UInt16](repeating: 0, count: 1)
        vk_f32_to_bf16([Float.nan], 1, &nan)
        #expect(Float(bitPattern: UInt32(nan[0]) << 16).isNaN)
    }

    @Test("int8 dot and L2 are exact, including the extremes", arguments: dims)
    func int8(dim: Int) {
        var g = SeededGenerator(seed: UInt64(300 + dim))
        let a = (0..<dim).map { _ in Int8.random(in: .min ... .max, using: &g) }
        let b = (0..<dim).map { _ in Int8.random(in: .min ... .max, using: &g) }
        var dot = 0, l2 = 0
        for i in 0..<dim {
            dot += Int(a[i]) * Int(b[i])
            l2 += (Int(a[i]) - Int(b[i])) * (Int(a[i]) - Int(b[i]))
        }
        #expect(Int(vk_i8_dot(a, b, dim)) == dot, "dim \(dim)")
        #expect(Int(vk_i8_l2sq(a, b, dim)) == l2, "dim \(dim)")
        // Worst cases: every difference 255 (a sum past float32's 2^24 exact range), every product −128·−128.
        let lo = [Int8](repeating: -128, count: dim), hi = [Int8](repeating: 127, count: dim)
        #expect(Int(vk_i8_l2sq(lo, hi, dim)) == 255 * 255 * dim)
        #expect(Int(vk_i8_dot(lo, hi, dim)) == -128 * 127 * dim)
        #expect(Int(vk_i8_dot(lo, lo, dim)) == 128 * 128 * dim)
    }

    @Test("Hamming and Jaccard over packed bits equal a bit-by-bit count", arguments: [1, 2, 7, 8, 9, 15, 16, 17, 64, 100, 129])
    func bits(nbytes: Int) {
        var g = SeededGenerator(seed: UInt64(400 + nbytes))
        for density in [0.05, 0.5, 0.95] {
            let rows = 37
            let base = (0..<(rows * nbytes)).map { _ in
                (0..<8).reduce(UInt8(0)) { acc, bit in Double.random(in: 0..<1, using: &g) < density ? acc | (1 << UInt8(bit)) : acc }
            }
            let q = Array(base[0..<nbytes].map { $0 ^ 0x5A })
            var hamming = [Float](repeating: -1, count: rows)
            var jaccard = [Float](repeating: -1, count: rows)
            vk_hamming_many(q, base, rows, nbytes, &hamming)
            vk_jaccard_many(q, base, rows, nbytes, &jaccard)
            for r in 0..<rows {
                var diff = 0, inter = 0, union = 0
                for j in 0..<nbytes {
                    let x = base[r * nbytes + j]
                    for bit in 0..<8 {
                        let a = (q[j] >> UInt8(bit)) & 1, b = (x >> UInt8(bit)) & 1
                        diff += Int(a ^ b)
                        inter += Int(a & b)
                        union += Int(a | b)
                    }
                }
                let row = Array(base[(r * nbytes)..<((r + 1) * nbytes)])
                #expect(Int(vk_hamming(q, row, nbytes)) == diff)
                #expect(Int(hamming[r]) == diff)
                let expected = union == 0 ? 0 : 1 - Double(inter) / Double(union)
                #expect(abs(Double(jaccard[r]) - expected) <= 1e-6, "nbytes \(nbytes) row \(r)")
            }
        }
        let zero = [UInt8](repeating: 0, count: nbytes)
        #expect(vk_jaccard(zero, zero, nbytes) == 0, "two empty sets are identical")
    }

    @Test("HAMMING and JACCARD on 0/1 vectors in the exact scanner equal the bit counts, both paths")
    func scannerOnBits() {
        let dim = 72
        var g = SeededGenerator(seed: 9)
        let base = (0..<300).map { _ in (0..<dim).map { _ in Float(Int.random(in: 0...1, using: &g)) } }
        let queries = (0..<6).map { _ in (0..<dim).map { _ in Float(Int.random(in: 0...1, using: &g)) } }
        let baseView = FloatArena(copying: base.flatMap { $0 }).matrix(dim: dim)
        let queryView = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: dim)
        for metric in [Metric.hamming, .jaccard] {
            for minGEMM in [1, 1000] {
                var scanner = ExactScanner(backend: OpenBLASBackend())
                scanner.gemmMinQueries = minGEMM
                scanner.rowBlock = 64
                var heaps = [TopK](repeating: TopK(k: 300), count: queries.count)
                scanner.scan(queries: queryView, base: baseView, metric: metric, excluded: nil, idBase: 0, heaps: &heaps)
                for (qi, q) in queries.enumerated() {
                    for hit in heaps[qi].sorted() {
                        let x = base[Int(hit.id)]
                        let inter = zip(q, x).filter { $0 == 1 && $1 == 1 }.count
                        let union = zip(q, x).filter { $0 == 1 || $1 == 1 }.count
                        let diff = zip(q, x).filter { $0 != $1 }.count
                        let want = metric == .hamming ? Double(diff) : (union == 0 ? 0 : 1 - Double(inter) / Double(union))
                        #expect(abs(Double(hit.distance) - want) <= 1e-5, "\(metric) gemmMin \(minGEMM)")
                    }
                }
            }
        }
    }
}
