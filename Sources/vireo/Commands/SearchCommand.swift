import ArgumentParser
import Foundation
import Vireo

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Search with query vectors from a file (.fvecs, or JSON: an array of vectors); prints one JSON line per query.")
    @OptionGroup var storage: StorageOptions
    @Argument var collection: String
    @Option(help: "Query file (.fvecs or .json).") var queries: String
    @Option(help: "Results per query.") var limit: Int = 10
    @Option(help: "Search at most this many queries from the file.") var nq: Int = .max
    @Option(help: "Vector field to search (needed when there are several).") var annsField: String?
    @Option(help: "Comma-separated output fields, or *.") var outputFields: String = ""
    @Option(help: "HNSW candidate list size.") var ef: Int?
    @Option(help: "IVF lists probed.") var nprobe: Int?
    @Option(help: "IVF_PQ re-rank factor.") var refineK: Int?
    @Flag(help: "Exact search even where an index exists.") var exact = false
    @Option(help: "Milvus filter expression, e.g. 'source like \"python%\"'.") var filter: String?

    func run() async throws {
        do {
            let db = try storage.open(readOnly: true)
            let c = try db.collection(collection)
            let vectors: [[Float]]
            if queries.hasSuffix(".fvecs") {
                vectors = try VectorFiles.readFVecs(queries, limit: nq)
            } else {
                guard let data = FileManager.default.contents(atPath: queries) else {
                    throw VireoError(.invalidArgument, kind: .invalidInput, "cannot read \(queries)")
                }
                vectors = Array(try JSONDecoder().decode([[Float]].self, from: data).prefix(nq))
            }
            let fields = outputFields.split(separator: ",").map(String.init)
            let start = Date()
            let results = try await c.search(SearchRequest(vectors: vectors, annsField: annsField, limit: limit, outputFields: fields,
                                                                params: SearchParameters(ef: ef, nprobe: nprobe, refineK: refineK, exact: exact),
                                                                filter: filter))
            let seconds = Date().timeIntervalSince(start)
            for (i, hits) in results.enumerated() {
                print(JSONValue.object(["query": .int(Int64(i)), "hits": .array(hits.map(hitJSON))]).jsonText)
            }
            FileHandle.standardError.write(Data(String(format: "%d queries in %.3f s (%.0f q/s)\n", vectors.count, seconds, Double(vectors.count) / seconds).utf8))
        } catch { fail(error) }
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rows matching a filter, in primary-key order, as JSON lines.")
    @OptionGroup var storage: StorageOptions
    @Argument var collection: String
    @Option(help: "Milvus filter expression (omit for all rows).") var filter: String?
    @Option(help: "Comma-separated output fields, or *.") var outputFields: String = "*"
    @Option var limit: Int = 10
    @Option var offset: Int = 0
    @Flag(help: "Print only the number of matching rows.") var count = false

    func run() async throws {
        do {
            let c = try storage.open(readOnly: true).collection(collection)
            if count {
                print(try filter.map { try c.count(filter: $0) } ?? c.count())
                return
            }
            let rows = try c.query(filter: filter, outputFields: outputFields.split(separator: ",").map(String.init), limit: limit, offset: offset)
            for row in rows { print(JSONValue.object(row.mapValues(\.jsonValue)).jsonText) }
        } catch { fail(error) }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a data directory: collections, rows, segments, sizes.")
    @OptionGroup var storage: StorageOptions

    func run() async throws {
        do {
            let start = Date()
            let db = try storage.open(readOnly: true)
            let openMs = Date().timeIntervalSince(start) * 1000
            print(JSONValue.object([
                "dataDir": .string(db.path),
                "openMilliseconds": .double((openMs * 10).rounded() / 10),
                "collections": .array(try db.listCollections().map { describe(try db.collection($0)) }),
            ]).jsonText)
        } catch { fail(error) }
    }
}
