import Dispatch
import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// Deadlines and cancellation reach the engine's reads; the read executor sheds load past its bound.
@Suite struct ReadBudgetTests {
    static func collection(_ dir: TemporaryDirectory, rows: Int = 3000, maxConcurrentReads: Int? = nil) async throws -> (Vireo.Collection, [[Float]]) {
        var config = Configuration()
        config.sealRows = 500
        if let maxConcurrentReads { config.maxConcurrentReads = maxConcurrentReads }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("r", dim: 16, metric: .l2))
        let base = Datasets.uniform(n: rows, dim: 16, seed: 5)
        try await c.insert(makeRows(base))
        return (c, base)
    }

    @Test("a search or query past its deadline stops with deadlineExceeded; one within it answers")
    func deadline() async throws {
        let dir = TemporaryDirectory()
        let (c, base) = try await Self.collection(dir)
        let past = ContinuousClock.now - .milliseconds(1)
        for nq in [1, 64] {  // the inline single-query path and the executor's batch path
            do {
                _ = try await c.search(SearchRequest(vectors: Array(base.prefix(nq)), limit: 5, deadline: past))
                Issue.record("nq \(nq): a search past its deadline answered")
            } catch let e as VireoError {
                #expect(e.code == .deadlineExceeded && e.kind == .unavailable, "\(e)")
            }
        }
        await #expect(throws: VireoError.self) { try await c.query(QueryRequest(filter: "id >= 0", limit: 10, deadline: past)) }
        await #expect(throws: VireoError.self) { try await c.count(QueryRequest(filter: "id >= 0", deadline: past)) }
        let soon = ContinuousClock.now + .seconds(60)
        let hits = try await c.search(SearchRequest(vectors: [base[9]], limit: 1, deadline: soon))
        #expect(hits[0].first?.id == .int(9))
        #expect(try await c.count(QueryRequest(filter: "id < 100", deadline: soon)) == 100)
        #expect(try await c.query(QueryRequest(filter: "id < 3", deadline: soon)).count == 3)
    }

    @Test("cancelling the calling task stops a read with cancelled")
    func cancellation() async throws {
        let dir = TemporaryDirectory()
        let (c, base) = try await Self.collection(dir, rows: 1000, maxConcurrentReads: 1)
        // Hold the one read thread so the search below waits for it, deterministically.
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let blocker = Task { try await c.reads.run(WorkBudget(deadline: nil), "blocker") { started.signal(); release.wait(); return 0 } }
        started.wait()
        let task = Task { try await c.search(SearchRequest(vectors: Array(base.prefix(200)), limit: 5)) }
        task.cancel()
        release.signal()
        _ = try await blocker.value
        do {
            _ = try await task.value
            Issue.record("a cancelled search answered")
        } catch let e as VireoError {
            #expect(e.code == .cancelled, "\(e)")
        }
        // The executor is free again.
        #expect(try await c.search(SearchRequest(vectors: Array(base.prefix(8)), limit: 1)).map { $0[0].id } == (0..<8).map { .int(Int64($0)) })
    }

    @Test("past maxConcurrentReads + maxQueuedReads a read is refused at once with overloaded")
    func loadShedding() async throws {
        let executor = ReadExecutor(maxRunning: 1, maxQueued: 1)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let budget = WorkBudget(deadline: nil)
        let running = Task { try await executor.run(budget, "blocker") { started.signal(); release.wait(); return 1 } }
        started.wait()  // the one running slot is taken
        let queued = Task { try await executor.run(budget, "queued") { 2 } }
        // The bound (1 running + 1 queued) is reached once `queued` is admitted; poll until it is.
        var refused: VireoError?
        for _ in 0..<1000 {
            do {
                _ = try await executor.run(budget, "third", inline: true) { 3 }
                // Admitted: `queued` had not registered yet; give it a moment and try again.
                try await Task.sleep(for: .milliseconds(1))
            } catch let e as VireoError {
                refused = e
                break
            }
        }
        #expect(refused?.code == .overloaded && refused?.kind == .unavailable)
        release.signal()
        #expect(try await running.value == 1)
        #expect(try await queued.value == 2)
        #expect(try await executor.run(budget, "after") { 4 } == 4)
    }

    @Test("a result whose rows would pass maxResultBytes fails with resultTooLarge; within the bound it answers")
    func resultBytes() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(CollectionSchema(name: "big", fields: [
            .int64PrimaryKey("id"), .floatVector("v", dimension: 4, metric: .l2),
            FieldSchema(name: "text", dataType: .varChar, maxLength: 4096),
        ]))
        let text = String(repeating: "x", count: 2000)
        try await c.insert((0..<500).map { ["id": .int(Int64($0)), "v": .floatVector([1, 2, 3, Float($0)]), "text": .string(text)] })
        // 500 rows × ~2 KB ≈ 1 MB.
        for (bound, fits) in [(100_000, false), (4 << 20, true)] {
            do {
                let rows = try await c.query(QueryRequest(filter: "id >= 0", outputFields: ["text"], limit: 500, maxResultBytes: bound))
                #expect(fits && rows.count == 500, "bound \(bound)")
            } catch let e as VireoError {
                #expect(!fits && e.code == .resultTooLarge, "bound \(bound): \(e)")
            }
            var request = SearchRequest(vectors: [[1, 2, 3, 0]], limit: 500, outputFields: ["text"])
            request.maxResultBytes = bound
            do {
                let hits = try await c.search(request)
                #expect(fits && hits[0].count == 500, "bound \(bound)")
            } catch let e as VireoError {
                #expect(!fits && e.code == .resultTooLarge, "bound \(bound): \(e)")
            }
        }
        // Without output fields a search holds only ids and scores: no bound applies.
        var ids = SearchRequest(vectors: [[1, 2, 3, 0]], limit: 500)
        ids.maxResultBytes = 1000
        #expect(try await c.search(ids)[0].count == 500)
    }
}
