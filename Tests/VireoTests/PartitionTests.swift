import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct PartitionTests {
    /// Row `i` goes to partition `parts[i % 3]`.
    static let parts = ["_default", "p1", "p2"]

    /// Top-k ids of the exact oracle over the rows whose index passes `keep`.
    static func oracle(_ q: [Float], _ base: [[Float]], k: Int, keep: (Int) -> Bool) -> [Int64] {
        let excluded = Set(base.indices.filter { !keep($0) })
        return Oracle.nearest(q, in: base, k: k, metric: .l2, excluded: excluded).map { Int64($0.index) }
    }

    static func ids(_ rows: [Row]) -> [Int64] {
        rows.compactMap { if case let .int(i)? = $0["id"] { return i } else { return nil } }
    }

    @Test("create, list, has and drop partitions; errors name the problem")
    func lifecycle() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("pl", dim: 2))
        #expect(c.listPartitions() == ["_default"])
        try await c.createPartition("p1")
        try await c.createPartition("p2")
        #expect(c.listPartitions() == ["_default", "p1", "p2"])
        #expect(c.hasPartition("p1") && !c.hasPartition("nope"))
        await #expect(throws: VireoError.self) { try await c.createPartition("p1") }
        await #expect(throws: VireoError.self) { try await c.createPartition("bad name") }
        await #expect(throws: VireoError.self) { try await c.dropPartition("_default") }
        do {
            try await c.dropPartition("missing")
            Issue.record("dropping a missing partition must fail")
        } catch let e as VireoError {
            #expect(e.code == .partitionNotFound && e.message.contains("missing"))
        }
        do {
            try await c.insert(makeRows([[0, 0]]), partition: "nope")
            Issue.record("inserting into a missing partition must fail")
        } catch let e as VireoError {
            #expect(e.code == .partitionNotFound)
        }
        #expect(c.count() == 0, "a failed insert writes nothing")
        #expect(throws: VireoError.self) { try c.query(partitions: ["nope"]) }
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: [[0, 0]], partitions: ["nope"])) }
        try await c.dropPartition("p1")
        #expect(c.listPartitions() == ["_default", "p2"])
    }

    @Test("insert into, search, query, count, get and delete within partitions, over sealed and growing rows",
          arguments: [1, 3])
    func readsAndWrites(shards: Int) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 700
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("prw", dim: 8, shards: shards))
        try await c.createPartition("p1")
        try await c.createPartition("p2")
        let n = 2400
        let data = Datasets.uniform(n: n, dim: 8, seed: 41)
        for p in 0..<3 {
            let rows = makeRows(data, firstID: 0).enumerated().filter { $0.offset % 3 == p }.map(\.element)
            for chunk in stride(from: 0, to: rows.count, by: 300) {
                try await c.insert(Array(rows[chunk..<min(chunk + 300, rows.count)]), partition: Self.parts[p])
            }
        }
        #expect(c.shards.contains { !$0.snapshot.sealed.isEmpty }, "some rows must be sealed")
        #expect(c.count() == n)
        #expect(try c.count(partitions: ["p1"]) == n / 3)
        #expect(try c.count(partitions: ["p1", "p2"]) == 2 * n / 3)
        #expect(try c.count(filter: "id < 300", partitions: ["p2"]) == (0..<300).filter { $0 % 3 == 2 }.count)

        let queries = Datasets.uniform(n: 12, dim: 8, seed: 42)
        for (name, pids) in [(["p1"], [1]), (["_default", "p2"], [0, 2])] {
            let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true), partitions: name))
            for (q, h) in zip(queries, hits) {
                let got = h.map { if case let .int(i) = $0.id { return i } else { return -1 } }
                #expect(got == Self.oracle(q, data, k: 10) { pids.contains($0 % 3) })
            }
        }
        // Partitions and a filter together.
        let filtered = try await c.search(SearchRequest(vectors: queries, limit: 5, params: SearchParameters(exact: true),
                                                        filter: "id >= 1200", partitions: ["p2"]))
        for (q, h) in zip(queries, filtered) {
            let got = h.map { if case let .int(i) = $0.id { return i } else { return -1 } }
            #expect(got == Self.oracle(q, data, k: 5) { $0 % 3 == 2 && $0 >= 1200 })
        }

        let page = try c.query(filter: "id < 30", outputFields: ["id"], partitions: ["p1"])
        #expect(Self.ids(page) == (0..<30).filter { $0 % 3 == 1 }.map(Int64.init))
        #expect(Self.ids(try c.get(ids: [.int(0), .int(1), .int(2)], partitions: ["p1"])) == [1])
        #expect(Self.ids(try c.get(ids: [.int(0), .int(1), .int(2)])) == [0, 1, 2])

        // Delete by filter inside one partition leaves the others alone.
        let deleted = try await c.delete(filter: "id < 600", partition: "p2")
        #expect(deleted == (0..<600).filter { $0 % 3 == 2 }.count)
        #expect(try c.count(filter: "id < 600") == 400)

        // Upsert into another partition moves the row.
        try await c.upsert([["id": .int(1), "vec": .floatVector(data[1]), "tag": .string("moved")]], partition: "p2")
        #expect(Self.ids(try c.get(ids: [.int(1)], partitions: ["p1"])).isEmpty)
        #expect(Self.ids(try c.get(ids: [.int(1)], partitions: ["p2"])) == [1])

        // Dropping a partition deletes its rows; a new partition of the same name starts empty.
        try await c.dropPartition("p1")
        #expect(c.count() == n - n / 3 + 1 - 200)
        try await c.createPartition("p1")
        #expect(try c.count(partitions: ["p1"]) == 0)
        #expect(try c.query(filter: "id == 4").isEmpty)
    }

    @Test("partitions and their rows survive a reopen; rows of a drop interrupted by a crash are purged at open")
    func persistence() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        let data = Datasets.uniform(n: 1200, dim: 4, seed: 7)
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("pp", dim: 4))
            try await c.createPartition("a")
            try await c.createPartition("b")
            try await c.insert(makeRows(Array(data[0..<400]), firstID: 0), partition: "a")
            try await c.insert(makeRows(Array(data[400..<800]), firstID: 400), partition: "b")
            try await c.insert(makeRows(Array(data[800..<1200]), firstID: 800))
            // A crash between the catalog update and the row deletes of dropPartition("b"):
            // only the catalog change happens.
            let remaining = c.partitionTable.withLock { $0.filter { $0.name != "b" } }
            try c.catalog.update("test") { $0.partitions = remaining }
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("pp")
        #expect(c.listPartitions() == ["_default", "a"])
        #expect(c.count() == 800, "rows of the dropped partition are deleted at open")
        #expect(try c.count(partitions: ["a"]) == 400)
        #expect(Self.ids(try c.query(filter: "id >= 398 and id < 402", outputFields: ["id"])) == [398, 399])
        try await c.createPartition("b")
        #expect(try c.count(partitions: ["b"]) == 0, "a new partition never sees rows of an old one with the same name")
    }

    @Test("a partition key routes rows by hash, pins partitions from the filter, and fixes the partition list")
    func partitionKey() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 900
        let db = try Database.open(at: dir.path, configuration: config)
        #expect(throws: VireoError.self) {
            try db.createCollection(CollectionSchema(name: "bad", fields: [
                .int64PrimaryKey("id"), .floatVector("vec", dimension: 4),
                FieldSchema(name: "f", dataType: .double, isPartitionKey: true),
            ]))
        }
        let c = try db.createCollection(CollectionSchema(name: "pk", fields: [
            .int64PrimaryKey("id"), .floatVector("vec", dimension: 4, metric: .l2),
            FieldSchema(name: "tenant", dataType: .varChar, maxLength: 16, isPartitionKey: true),
        ], shardsNum: 2, numPartitions: 8))
        #expect(c.listPartitions() == (0..<8).map { "_default_\($0)" })
        await #expect(throws: VireoError.self) { try await c.createPartition("x") }
        await #expect(throws: VireoError.self) { try await c.dropPartition("_default_1") }
        let tenants = (0..<12).map { "tenant\($0)" }
        let n = 2000
        let data = Datasets.uniform(n: n, dim: 4, seed: 5)
        let rows: [Row] = data.enumerated().map { i, v in ["id": .int(Int64(i)), "vec": .floatVector(v), "tenant": .string(tenants[i % 12])] }
        await #expect(throws: VireoError.self) { try await c.insert(Array(rows[0..<2]), partition: "_default_0") }
        for chunk in stride(from: 0, to: n, by: 500) { try await c.insert(Array(rows[chunk..<(chunk + 500)])) }
        await #expect(throws: VireoError.self) { try await c.insert([["id": .int(99_999), "vec": .floatVector([0, 0, 0, 0])]]) }

        // Rows land in the bucket their key hashes to, and a pinning filter reads only those buckets.
        let key = c.schema.partitionKey!
        for t in tenants.prefix(4) {
            let bucket = Collection.bucket(of: .string(t), key: key, partitions: 8)!
            #expect(try c.count(filter: "tenant == \"\(t)\"", partitions: ["_default_\(bucket)"]) == n / 12 + (tenants.firstIndex(of: t)! < n % 12 ? 1 : 0))
            #expect(try c.readPartitions(nil, filter: Filter("tenant == \"\(t)\" and id > 5", schema: c.schema)) == [bucket])
        }
        #expect(try c.readPartitions(nil, filter: Filter("tenant in [\"tenant1\", \"tenant2\"]", schema: c.schema)).count <= 2)
        #expect(try c.readPartitions(nil, filter: Filter("tenant == \"tenant1\" or id > 5", schema: c.schema)).count == 8)
        #expect(try c.readPartitions(nil, filter: Filter("tenant != \"tenant1\"", schema: c.schema)).count == 8)

        // Filtered search and query match the oracle over that tenant's rows.
        let queries = Datasets.uniform(n: 8, dim: 4, seed: 6)
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true), filter: "tenant == \"tenant3\""))
        for (q, h) in zip(queries, hits) {
            let got = h.map { if case let .int(i) = $0.id { return i } else { return -1 } }
            #expect(got == Self.oracle(q, data, k: 10) { $0 % 12 == 3 })
        }
        #expect(Self.ids(try c.query(filter: "tenant in [\"tenant5\", \"tenant7\"] and id < 100", outputFields: ["id"]))
                == (0..<100).filter { $0 % 12 == 5 || $0 % 12 == 7 }.map(Int64.init))
        #expect(try c.count(filter: "tenant == \"nobody\"") == 0)
    }

    @Test("a null or missing partition key takes the field's default before routing; isolation searches one tenant")
    func partitionKeyDefaultAndIsolation() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var tenant = FieldSchema(name: "tenant", dataType: .varChar, maxLength: 16, isPartitionKey: true)
        tenant.defaultValue = .string("t0")
        let c = try db.createCollection(CollectionSchema(name: "pk", fields: [
            .int64PrimaryKey("id"), .floatVector("vec", dimension: 2, metric: .l2), tenant,
        ], numPartitions: 4))
        try await c.insert([["id": .int(1), "vec": .floatVector([1, 0]), "tenant": .null],
                            ["id": .int(2), "vec": .floatVector([2, 0])],
                            ["id": .int(3), "vec": .floatVector([3, 0]), "tenant": .string("t1")]])
        #expect(Self.ids(try c.query(filter: "tenant == \"t0\"", outputFields: ["id"])) == [1, 2])
        let bucket = Collection.bucket(of: .string("t0"), key: c.schema.partitionKey!, partitions: 4)!
        #expect(try c.count(partitions: ["_default_\(bucket)"]) >= 2)

        try c.alterProperties(set: [CollectionProperties.partitionKeyIsolation: "true"])
        let q: [[Float]] = [[2, 0]]
        let hits = try await c.search(SearchRequest(vectors: q, limit: 5, params: SearchParameters(exact: true), filter: "tenant == \"t0\" and id > 0"))
        #expect(hits[0].map(\.id) == [.int(2), .int(1)])
        for bad in [nil, "tenant in [\"t0\", \"t1\"]", "tenant == \"t0\" or id > 1", "not (tenant == \"t0\")", "tenant != \"t0\"",
                    "tenant == \"t0\" and tenant == \"t1\""] as [String?] {
            await #expect(throws: VireoError.self, "\(bad ?? "no filter")") {
                try await c.search(SearchRequest(vectors: q, limit: 5, params: SearchParameters(exact: true), filter: bad))
            }
        }
        // Query is not a search: Milvus checks isolation on search only.
        #expect(try c.count(filter: "id > 0") == 3)
    }

    @Test("rename keeps rows, partitions and indexes, and survives a reopen")
    func rename() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("old", dim: 2))
            _ = try db.createCollection(simpleSchema("taken", dim: 2))
            try await c.createPartition("p")
            try await c.insert(makeRows([[0, 0], [1, 1]]), partition: "p")
            #expect(throws: VireoError.self) { try db.renameCollection("old", to: "taken") }
            #expect(throws: VireoError.self) { try db.renameCollection("missing", to: "x") }
            #expect(throws: VireoError.self) { try db.renameCollection("old", to: "bad name") }
            try db.renameCollection("old", to: "new")
            #expect(db.listCollections() == ["new", "taken"])
            #expect(c.name == "new" && c.schema.name == "new")
            #expect(try db.collection("new").count(partitions: ["p"]) == 2)
            #expect(throws: VireoError.self) { try db.collection("old") }
        }
        let db = try Database.open(at: dir.path)
        #expect(db.listCollections() == ["new", "taken"])
        #expect(try db.collection("new").count(partitions: ["p"]) == 2)
    }
}
