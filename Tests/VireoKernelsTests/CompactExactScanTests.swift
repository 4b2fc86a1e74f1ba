import Testing
import VireoKernels
import VireoTestSupport

/// The exact scanner over compact rows (``CompactMatrix``) against the same scanner over their
/// float32 widening: every row's distance, for every element type and metric, on both paths
/// (per query and widened GEMM blocks), with excluded rows and over listed rows.
@Suite struct CompactExactScanTests {
    struct Case: Sendable, CustomStringConvertible {
        var element: VectorElement
        var metric: Metric
        var description: String { "\(element.typeName)/\(metric.rawValue)" }
    }

    static let cases: [Case] = [VectorElement.float16, .bfloat16, .int8].flatMap { e in
        [Metric.l2, .ip, .cosine].map { Case(element: e, metric: $0) }
    } + [Case(element: .binary, metric: .hamming), Case(element: .binary, metric: .jaccard)]

    /// Seeded rows representable in `element`, and their stored bytes.
    static func data(_ e: VectorElement, n: Int, dim: Int, seed: UInt64) -> (bytes: [UInt8], widened: [[Float]]) {
        var g = SeededGenerator(seed: seed)
        let rows: [[Float]] = (0..<n).map { _ in
            (0..<dim).map { _ in
                switch e {
                case .int8: return Float(Int.random(in: -128...127, using: &g))
                case .binary: return Float(Int.random(in: 0...1, using: &g))
                default: return e.rounded(Float.random(in: -3...3, using: &g))
                }
            }
        }
        let bytes = rows.flatMap { e.bytes($0) }
        // The oracle side is the widening of the stored bytes, as a sealed segment would hold it.
        let per = e.bytesPerVector(dim: dim)
        let widened = (0..<n).map { e.floats(Array(bytes[(per * $0)..<(per * ($0 + 1))]), dim: dim) }
        return (bytes, widened)
    }

    static func queries(_ c: Case, nq: Int, dim: Int, seed: UInt64) -> [[Float]] {
        let q = data(c.element, n: nq, dim: dim, seed: seed).widened
        return c.metric == .cosine ? q.map(Oracle.normalized) : q
    }

    static func close(_ a: Float, _ b: Float) -> Bool { abs(a - b) <= 1e-4 * max(1, abs(b)) }

    @Test("every row's distance over compact rows equals the float32 scan of the widened rows", arguments: cases)
    func allDistances(_ c: Case) {
        let dim = c.element == .binary ? 72 : 40
        let n = 517
        let (bytes, widened) = Self.data(c.element, n: n, dim: dim, seed: 21)
        let owned = CompactMatrix.encoding(widened, element: c.element, dim: dim)
        #expect(bytes.withUnsafeBytes { Array($0) } == Array(UnsafeRawBufferPointer(start: owned.base, count: owned.byteCount)), "stored bytes")
        let floats = FloatArena(rows: widened, dim: dim).matrix(dim: dim)
        let norms = floats.inverseNorms()
        var excluded = Bitset(capacity: n)
        for r in stride(from: 0, to: n, by: 3) { excluded.insert(r + 5) }
        for nq in [1, 3, 6] {
            let qs = Self.queries(c, nq: nq, dim: dim, seed: 22 + UInt64(nq))
            let qv = FloatArena(rows: qs, dim: dim).matrix(dim: dim)
            for gemmMin in [1, 1000] {
                var a = ExactScanner(backend: OpenBLASBackend())
                a.gemmMinQueries = gemmMin
                a.rowBlock = 64
                var b = a
                var ha = [TopK](repeating: TopK(k: n), count: nq)
                var hb = ha
                a.scan(queries: qv, compact: owned, metric: c.metric, inverseNorms: norms, excluded: excluded, excludedOffset: 5,
                       idBase: 1000, heaps: &ha)
                b.scan(queries: qv, base: floats, metric: c.metric, inverseNorms: norms, excluded: excluded, excludedOffset: 5,
                       idBase: 1000, heaps: &hb)
                for q in 0..<nq {
                    let got = Dictionary(uniqueKeysWithValues: ha[q].sorted().map { ($0.id, $0.distance) })
                    let want = Dictionary(uniqueKeysWithValues: hb[q].sorted().map { ($0.id, $0.distance) })
                    #expect(got.count == n - excluded.count && Set(got.keys) == Set(want.keys), "\(c) nq \(nq) gemmMin \(gemmMin)")
                    for (id, d) in want {
                        #expect(got[id].map { Self.close($0, d) } == true, "\(c) nq \(nq) gemmMin \(gemmMin) row \(id - 1000): \(String(describing: got[id])) vs \(d)")
                    }
                }
                // Listed rows (a selective filter's survivors).
                let listed = stride(from: 1, to: n, by: 7).map { $0 }
                var la = [TopK](repeating: TopK(k: n), count: nq)
                var lb = la
                a.scan(queries: qv, compact: owned, rows: listed, metric: c.metric, inverseNorms: norms, idBase: 0, heaps: &la)
                b.scan(queries: qv, base: floats, rows: listed, metric: c.metric, inverseNorms: norms, idBase: 0, heaps: &lb)
                for q in 0..<nq {
                    let got = Dictionary(uniqueKeysWithValues: la[q].sorted().map { ($0.id, $0.distance) })
                    let want = lb[q].sorted()
                    #expect(got.count == listed.count, "\(c) listed")
                    for w in want { #expect(got[w.id].map { Self.close($0, w.distance) } == true, "\(c) listed row \(w.id)") }
                }
            }
        }
    }

    @Test("top-10 over compact rows equals the Double brute force over the widened stored values", arguments: cases)
    func topTen(_ c: Case) {
        let dim = c.element == .binary ? 136 : 384
        let n = 2000
        let (_, widened) = Self.data(c.element, n: n, dim: dim, seed: 31)
        let compact = CompactMatrix.encoding(widened, element: c.element, dim: dim)
        let norms = FloatArena(rows: widened, dim: dim).matrix(dim: dim).inverseNorms()
        let qs = Self.queries(c, nq: 5, dim: dim, seed: 32)
        for gemmMin in [1, 1000] {
            var s = ExactScanner(backend: OpenBLASBackend())
            s.gemmMinQueries = gemmMin
            var heaps = [TopK](repeating: TopK(k: 10), count: qs.count)
            s.scan(queries: FloatArena(rows: qs, dim: dim).matrix(dim: dim), compact: compact, metric: c.metric, inverseNorms: norms,
                   excluded: nil, idBase: 0, heaps: &heaps)
            for (qi, q) in qs.enumerated() {
                let truth = Oracle.nearest(q, in: widened, k: 10, metric: c.metric)
                let got = heaps[qi].sorted()
                // Ties (HAMMING and INT8 distances are integers) may order equal rows differently:
                // compare the distance sequence, then each returned row's own distance.
                #expect(got.count == 10)
                for (g, t) in zip(got, truth) {
                    #expect(abs(Double(g.distance) - t.distance) <= 1e-4 * max(1, abs(t.distance)), "\(c) query \(qi) gemmMin \(gemmMin)")
                    let own = Oracle.nearest(q, in: [widened[Int(g.id)]], k: 1, metric: c.metric)[0].distance
                    #expect(abs(Double(g.distance) - own) <= 1e-4 * max(1, abs(own)), "\(c) row \(g.id)")
                }
            }
        }
    }

    @Test("a blob is used in place when aligned for its element and copied otherwise; bytes and rows read back")
    func inPlaceOrCopy() {
        let dim = 8
        let (bytes, widened) = Self.data(.float16, n: 4, dim: dim, seed: 41)
        let padded = [UInt8](repeating: 0, count: 1) + bytes
        padded.withUnsafeBytes { all in
            let aligned = Int(bitPattern: all.baseAddress!) % 2 == 0
            let odd = UnsafeRawBufferPointer(rebasing: all[(aligned ? 1 : 0)...].prefix(bytes.count))
            let even = UnsafeRawBufferPointer(rebasing: all[(aligned ? 0 : 1)...].prefix(bytes.count))
            let owner = FloatArena(count: 1) { _ in }
            let copied = CompactMatrix.inPlaceOrCopy(bytes: odd, element: .float16, dim: dim, owner: owner)
            #expect(copied.owner !== owner && copied.base != odd.baseAddress, "a 16-bit blob at an odd address is copied")
            let inPlace = CompactMatrix.inPlaceOrCopy(bytes: even, element: .float16, dim: dim, owner: owner)
            #expect(inPlace.owner === owner && inPlace.base == even.baseAddress)
            let i8 = CompactMatrix.inPlaceOrCopy(bytes: odd, element: .int8, dim: dim * 2, owner: owner)
            #expect(i8.owner === owner && i8.rows == 4, "int8 rows need no alignment")
            #expect(copied.byteCount == 4 * dim * 2 && copied.rows == 4)
        }
        let m = CompactMatrix.encoding(widened, element: .float16, dim: dim)
        #expect((0..<4).map { m.rowArray($0) } == widened)
        #expect(m.widened().flatArray == widened.flatMap { $0 })
        #expect(VectorRows.compact(m).byteCount == 4 * dim * 2)
        #expect(VectorRows.gather([(rows: .compact(m), indices: [3, 1])], dim: dim).flatArray == widened[3] + widened[1])
    }
}
