import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoTestSupport

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

@Suite struct ConcurrencyTests {
    @Test("readers run during writes and see every acknowledged write (read-your-writes)")
    func readYourWrites() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("rw", dim: 8, metric: .l2, shards: 2))
        let writers = 4
        let batches = 25
        let batchSize = 20
        let data = Datasets.uniform(n: writers * batches * batchSize, dim: 8, seed: 77)
        let done = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    for b in 0..<batches {
                        let start = (b * writers + w) * batchSize
                        let rows = makeRows(Array(data[start..<(start + batchSize)]), firstID: Int64(start))
                        try await c.insert(rows)
                        // Acknowledged, so visible at once to gets and searches.
                        let got = try c.get(ids: (start..<(start + batchSize)).map { .int(Int64($0)) }, outputFields: ["id"])
                        #expect(got.count == batchSize, "batch \(start) not visible after its insert returned")
                        let hit = try await c.search(SearchRequest(vectors: [data[start]], limit: 1))
                        #expect(hit[0].first?.id == .int(Int64(start)), "row \(start) not found by search after insert")
                    }
                }
            }
            group.addTask {
                var last = 0
                while !done.value.load(ordering: .acquiring) {
                    let n = c.count()
                    #expect(n >= last && n <= data.count, "count went from \(last) to \(n)")
                    last = n
                    _ = try await c.search(SearchRequest(vectors: [data[0], data[1]], limit: 3))
                    await Task.yield()
                }
            }
            // Let the reader run until the writers finish.
            var finished = 0
            while finished < writers {
                try await group.next()
                finished += 1
            }
            done.value.store(true, ordering: .releasing)
            try await group.waitForAll()
        }
        #expect(c.count() == data.count)
        #expect(c.statistics().reduce(0) { $0 + $1.sealedSegments } >= 1, "seals should have happened during the run")
    }

    @Test("concurrent small inserts are grouped into shared commits and all acknowledged")
    func groupCommit() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("g", dim: 4, metric: .l2))
        let data = Datasets.uniform(n: 400, dim: 4, seed: 8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask { try await c.insert(makeRows([data[i]], firstID: Int64(i))) }
            }
            try await group.waitForAll()
        }
        #expect(c.count() == 400)
        let all = try c.get(ids: (0..<400).map { .int(Int64($0)) }, outputFields: ["vec"])
        #expect(all.map { $0["vec"] } == data.map { .floatVector($0) })
    }
}
