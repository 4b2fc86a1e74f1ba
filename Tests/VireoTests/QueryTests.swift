import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct QueryTests {
    @Test("default values fill omitted and null fields; bad defaults are rejected")
    func defaults() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(CollectionSchema(name: "d", fields: [
            .int64PrimaryKey("id"), .floatVector("v", dimension: 2, metric: .l2),
            FieldSchema(name: "lang", dataType: .varChar, maxLength: 8, defaultValue: .string("en")),
            FieldSchema(name: "rank", dataType: .int32, defaultValue: .int(5)),
        ]))
        try await c.insert([
            ["id": .int(1), "v": .floatVector([0, 0])],
            ["id": .int(2), "v": .floatVector([0, 1]), "lang": .string("de"), "rank": .null],
        ])
        let rows = try c.get(ids: [.int(1), .int(2)], outputFields: ["lang", "rank"])
        #expect(rows.map { $0["lang"] } == [.string("en"), .string("de")])
        #expect(rows.map { $0["rank"] } == [.int(5), .int(5)])
        #expect(try c.count(filter: "lang == \"en\" and rank == 5") == 1)
        for bad in [FieldSchema(name: "x", dataType: .int8, defaultValue: .int(1000)),
                    FieldSchema(name: "x", dataType: .varChar, maxLength: 2, defaultValue: .string("long")),
                    FieldSchema(name: "x", dataType: .json, defaultValue: .int(1))] {
            #expect(throws: VireoError.self) {
                try db.createCollection(CollectionSchema(name: "bad", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 2), bad]))
            }
        }
    }

    @Test("the iterator walks every matching row once, in key order, past any window limit")
    func iterator() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 4000
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("it", dim: 2, shards: 3))
        let n = 24_000
        for start in stride(from: 0, to: n, by: 6000) {
            try await c.insert((start..<(start + 6000)).map { ["id": .int(Int64($0 * 3)), "vec": .floatVector([Float($0), 0]), "tag": .string("t\($0 % 4)")] })
        }
        var it = c.queryIterator(filter: "tag != \"t1\"", outputFields: ["tag"], batchSize: 1777)
        var seen: [Int64] = []
        while let page = try it.next() {
            #expect(page.count <= 1777)
            for row in page { if case let .int(i)? = row["id"] { seen.append(i) } }
        }
        let expected = (0..<n).filter { $0 % 4 != 1 }.map { Int64($0 * 3) }
        #expect(seen == expected, "walked \(seen.count) rows, expected \(expected.count)")
        #expect(seen.count > 16_384, "the walk must pass Milvus' window limit")
        let page = try c.query(filter: "tag == \"t0\"", outputFields: ["id"], limit: 3, offset: 2)
        #expect(page.map { $0["id"] } == [.int(24), .int(36), .int(48)])
    }
}
