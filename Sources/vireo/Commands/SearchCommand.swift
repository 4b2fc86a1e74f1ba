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

    func run() async throws {
        do {
            let db = try storage.open()
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
                                                                params: SearchParameters(ef: ef, nprobe: nprobe, refineK: refineK, exact: exact)))
            let seconds = Date().timeIntervalSince(start)
            for (i, hits) in results.enumerated() {
                print(JSONValue.object(["query": .int(Int64(i)), "hits": .array(hits.map(hitJSON))]).jsonText)
            }
            FileHandle.standardError.write(Data(String(format: "%d queries in %.3f s (%.0f q/s)\n", vectors.count, seconds, Double(vectors.count) / seconds).utf8))
        } catch { fail(error) }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a data directory: collections, rows, segments, sizes.")
    @OptionGroup var storage: StorageOptions

    func run() async throws {
        do {
            let start = Date()
            let db = try storage.open()
            let openMs = Date().timeIntervalSince(start) * 1000
            print(JSONValue.object([
                "dataDir": .string(db.path),
                "openMilliseconds": .double((openMs * 10).rounded() / 10),
                "collections": .array(try db.listCollections().map { describe(try db.collection($0)) }),
            ]).jsonText)
        } catch { fail(error) }
    }
}
