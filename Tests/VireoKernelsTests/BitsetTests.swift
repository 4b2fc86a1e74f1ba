import Testing
import VireoKernels
import VireoTestSupport

@Suite struct BitsetTests {
    @Test("set operations agree with Set<Int>", arguments: [0, 1, 63, 64, 65, 200, 1000])
    func operations(capacity: Int) {
        var g = SeededGenerator(seed: UInt64(capacity) + 1)
        let a = Set((0..<capacity).filter { _ in Bool.random(using: &g) })
        let b = Set((0..<capacity).filter { _ in Bool.random(using: &g) })
        var x = Bitset(capacity: capacity)
        var y = Bitset(capacity: capacity)
        for i in a { x.insert(i) }
        for i in b { y.insert(i) }
        func members(_ s: Bitset) -> Set<Int> { Set((0..<capacity).filter { s.contains($0) }) }
        #expect(members(x) == a)
        #expect(x.count == a.count)
        #expect(members(x.inverted()) == Set(0..<capacity).subtracting(a))
        #expect(x.inverted().count == capacity - a.count, "no bits past the capacity")
        #expect(members(x.union(y)) == a.union(b))
        #expect(members(x.subtracting(y)) == a.subtracting(b))
        #expect(x.complementIndices(universe: capacity) == (0..<capacity).filter { !a.contains($0) })
        var z = Bitset(capacity: capacity)
        z.fill { a.contains($0) }
        #expect(members(z) == a)
        #expect(z.count == a.count)
    }
}
