import ArgumentParser
import Foundation
import Vireo
import VireoKernels

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load real text embeddings into a collection, search them, and show what came back.",
        discussion: "Uses the dataset directory (base.fvecs, query.fvecs, groundtruth.ivecs, passages.jsonl, queries.jsonl) when it exists, else seeded synthetic vectors."
    )

    @Option(name: .customLong("data-dir"), help: "Database directory (the demo collection in it is recreated).")
    var dataDir: String = "./vireo-demo-data"
    @Option(help: "Dataset directory.") var dataset: String = "../shared/data/dev"
    @Option(help: "Rows to load.") var rows: Int = 50_000

    func run() async throws {
        do {
            let db = try Database.open(at: dataDir)
            if db.hasCollection("demo") { try db.dropCollection("demo") }
            let hasData = FileManager.default.fileExists(atPath: "\(dataset)/base.fvecs")
            let base: [[Float]]
            let queries: [[Float]]
            var texts: [String] = []
            var sources: [String] = []
            var queryTexts: [String] = []
            if hasData {
                base = try VectorFiles.readFVecs("\(dataset)/base.fvecs", limit: rows)
                queries = try VectorFiles.readFVecs("\(dataset)/query.fvecs")
                for line in try Self.lines("\(dataset)/passages.jsonl").prefix(base.count) {
                    guard case let .object(o) = line else { continue }
                    if case let .string(t)? = o["text"] { texts.append(t) } else { texts.append("") }
                    if case let .string(s)? = o["source"] { sources.append(s) } else { sources.append("") }
                }
                for line in try Self.lines("\(dataset)/queries.jsonl") {
                    if case let .object(o) = line, case let .string(t)? = o["text"] { queryTexts.append(t) } else { queryTexts.append("") }
                }
                print("dataset: \(dataset) (\(base.count) passages, \(queries.count) queries, dimension \(base[0].count))")
            } else {
                var g = SplitMix64(seed: 1)
                base = (0..<min(rows, 20_000)).map { _ in (0..<64).map { _ in Float.random(in: -1..<1, using: &g) } }
                queries = Array(base.prefix(100))
                print("dataset \(dataset) not found; using \(base.count) seeded random 64-d vectors")
            }
            let dim = base[0].count
            let c = try db.createCollection(CollectionSchema(name: "demo", fields: [
                .int64PrimaryKey("id"),
                .floatVector("embedding", dimension: dim, metric: .cosine),
                FieldSchema(name: "text", dataType: .varChar, maxLength: 65_535, nullable: true),
                FieldSchema(name: "source", dataType: .varChar, maxLength: 1024, nullable: true),
            ]))
            var progress = ProgressBar(total: base.count, label: "insert")
            let t0 = Date()
            for start in stride(from: 0, to: base.count, by: 1000) {
                let end = min(start + 1000, base.count)
                try await c.insert((start..<end).map { i in
                    var r: Row = ["id": .int(Int64(i)), "embedding": .floatVector(base[i])]
                    if i < texts.count { r["text"] = .string(texts[i]); r["source"] = .string(sources[i]) }
                    return r
                })
                progress.update(end)
            }
            progress.finish(base.count)
            let insertSeconds = Date().timeIntervalSince(t0)
            print(String(format: "inserted %d rows in %.2f s (%.0f rows/s, every batch of 1,000 a durable commit)", base.count, insertSeconds, Double(base.count) / insertSeconds))

            for q in 0..<min(3, queries.count) {
                let hits = try await c.search(SearchRequest(vectors: [queries[q]], limit: 3, outputFields: ["text", "source"]))
                print("\nquery \(q): \(q < queryTexts.count ? Self.short(queryTexts[q]) : "(vector)")")
                for h in hits[0] {
                    let text: String
                    if case let .string(t)? = h.fields["text"] { text = t } else { text = "" }
                    let source: String
                    if case let .string(s)? = h.fields["source"] { source = s } else { source = "" }
                    print(String(format: "  %.3f  id=%@  %@  [%@]", h.score, h.id.description, Self.short(text), source))
                }
            }
            let t1 = Date()
            let batch = try await c.search(SearchRequest(vectors: queries, limit: 10))
            let batchSeconds = Date().timeIntervalSince(t1)
            print(String(format: "\nbatch exact search: %d queries in %.3f s (%.0f q/s)", queries.count, batchSeconds, Double(queries.count) / batchSeconds))
            if hasData, base.count == 50_000, let truth = try? VectorFiles.readIVecs("\(dataset)/groundtruth.ivecs") {
                var found = 0
                for (q, hits) in batch.enumerated() {
                    let want = Set(truth[q].prefix(10).map { PrimaryKey.int(Int64($0)) })
                    found += hits.filter { want.contains($0.id) }.count
                }
                print(String(format: "recall@10 against the dataset's ground truth: %.4f", Double(found) / Double(10 * batch.count)))
            }
            print("\ndata directory: \(db.path) (try: vireo info --data-dir \(dataDir))")
        } catch { fail(error) }
    }

    static func lines(_ path: String) throws -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0)) }
    }

    static func short(_ s: String) -> String { s.count > 90 ? String(s.prefix(87)) + "..." : s }
}
