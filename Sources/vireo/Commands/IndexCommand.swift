import ArgumentParser
import Foundation
import Vireo

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Create or drop a vector index (HNSW, IVF_FLAT, IVF_PQ, FLAT, AUTOINDEX).",
        subcommands: [Create.self, Drop.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an index and wait until every sealed segment has it.")
        @OptionGroup var storage: StorageOptions
        @Argument var collection: String
        @Option(help: "Vector field (default: the only one).") var field: String?
        @Option(help: "Index type: HNSW, IVF_FLAT, IVF_PQ, FLAT or AUTOINDEX.") var type: String = "HNSW"
        @Option(name: .customLong("M"), help: "HNSW: links per node.") var M: Int?
        @Option(help: "HNSW: build candidate list size.") var efConstruction: Int?
        @Option(help: "IVF: number of lists.") var nlist: Int?
        @Option(help: "IVF_PQ: sub-quantisers (must divide the dimension).") var m: Int?
        @Option(help: "IVF_PQ: bits per code.") var nbits: Int?
        @Flag(help: "HNSW_SQ: re-rank the best limit × refine_k candidates with the float vectors.") var refine = false

        func run() async throws {
            do {
                let c = try storage.open().collection(collection)
                let name = field ?? c.schema.vectorFields[0].name
                var params: [String: Int] = [:]
                params["M"] = M
                params["efConstruction"] = efConstruction
                params["nlist"] = nlist
                params["m"] = m
                params["nbits"] = nbits
                var spec = try IndexSpec(field: name, milvusIndexType: type, params: params)
                try spec.applyQuantizationParams(refine ? ["refine": "true"] : [:])
                let start = Date()
                try await c.createIndex(spec)
                var last = Date.distantPast
                let waiter = Task { await c.waitForIndexBuilds() }
                while !(try c.indexStatus(field: name).isFinished) {
                    if Date().timeIntervalSince(last) > 0.5 {
                        let s = try c.indexStatus(field: name)
                        FileHandle.standardError.write(Data("\rindexing: \(s.indexedRows)/\(s.totalRows) rows of sealed segments (current build \(s.buildingRowsDone) rows)".utf8))
                        last = Date()
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                await waiter.value
                print(String(format: "\nindex %@ on '%@' ready in %.2f s", spec.kind.rawValue, name, Date().timeIntervalSince(start)))
            } catch { fail(error) }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop the index of a vector field (searches become exact).")
        @OptionGroup var storage: StorageOptions
        @Argument var collection: String
        @Option var field: String?
        func run() async throws {
            do {
                let c = try storage.open().collection(collection)
                let name = field ?? c.schema.vectorFields[0].name
                try await c.dropIndex(field: name)
                print("dropped the index of '\(name)'")
            } catch { fail(error) }
        }
    }
}
