import ArgumentParser
import Foundation
import Vireo

struct CollectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collection",
        abstract: "Create, list, describe and drop collections.",
        subcommands: [Create.self, List.self, Describe.self, Drop.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a collection.")
        @OptionGroup var storage: StorageOptions
        @Argument(help: "Collection name.") var name: String
        @Option(help: "Vector dimension.") var dim: Int
        @Option(help: "Metric: L2, IP or COSINE.") var metric: String = "COSINE"
        @Option(help: "Vector field name.") var vectorField: String = "vector"
        @Option(help: "Primary key field name.") var primaryKey: String = "id"
        @Option(help: "Primary key type: Int64 or VarChar.") var primaryKeyType: String = "Int64"
        @Flag(help: "Let Vireo generate Int64 primary keys.") var autoId = false
        @Option(help: "Number of shards.") var shards: Int = 1
        @Flag(help: "Keep fields not in the schema in the dynamic field ($meta).") var dynamic = false
        @Option(name: .customLong("field"), help: "Scalar field NAME:TYPE[:MAXLEN] (e.g. text:VarChar:4096, year:Int64, meta:JSON). Repeatable.")
        var fields: [String] = []

        func run() async throws {
            do {
                guard let m = Metric(milvusName: metric) else {
                    throw ValidationError("unknown metric '\(metric)'; use L2, IP or COSINE")
                }
                var schemaFields: [FieldSchema] = []
                switch primaryKeyType.lowercased() {
                case "int64": schemaFields.append(.int64PrimaryKey(primaryKey, autoID: autoId))
                case "varchar": schemaFields.append(.varCharPrimaryKey(primaryKey))
                default: throw ValidationError("primary key type must be Int64 or VarChar")
                }
                schemaFields.append(.floatVector(vectorField, dimension: dim, metric: m))
                for spec in fields { schemaFields.append(try Self.parseField(spec)) }
                let db = try storage.open()
                try db.createCollection(CollectionSchema(name: name, fields: schemaFields, enableDynamicField: dynamic, shardsNum: shards))
                print("created collection '\(name)'")
            } catch let e as ValidationError {
                throw e
            } catch {
                fail(error)
            }
        }

        static func parseField(_ spec: String) throws -> FieldSchema {
            let parts = spec.split(separator: ":").map(String.init)
            guard parts.count >= 2, let type = DataType(milvusName: parts[1]) else {
                throw ValidationError("bad --field '\(spec)'; use NAME:TYPE[:MAXLEN] with TYPE among \(DataType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var f = FieldSchema(name: parts[0], dataType: type, nullable: true)
            if type == .varChar { f.maxLength = parts.count > 2 ? Int(parts[2]) : 65_535 }
            if type == .array {
                throw ValidationError("Array fields are created through the Swift or REST API")
            }
            return f
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List collections.")
        @OptionGroup var storage: StorageOptions
        func run() async throws {
            do {
                for name in try storage.open(readOnly: true).listCollections() { print(name) }
            } catch { fail(error) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a collection's schema and statistics as JSON.")
        @OptionGroup var storage: StorageOptions
        @Argument var name: String
        func run() async throws {
            do {
                let c = try storage.open(readOnly: true).collection(name)
                print(describe(c).jsonText)
            } catch { fail(error) }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a collection and its data.")
        @OptionGroup var storage: StorageOptions
        @Argument var name: String
        func run() async throws {
            do {
                try storage.open().dropCollection(name)
                print("dropped collection '\(name)'")
            } catch { fail(error) }
        }
    }
}

func describe(_ c: Vireo.Collection) -> JSONValue {
    let fields: [JSONValue] = c.schema.fields.map { f in
        var o: [String: JSONValue] = ["name": .string(f.name), "type": .string(f.dataType.rawValue)]
        if f.isPrimaryKey { o["primaryKey"] = .bool(true) }
        if f.autoID { o["autoID"] = .bool(true) }
        if let d = f.dimension { o["dim"] = .int(Int64(d)) }
        if f.dataType.isVector, let m = c.metric(of: f.name) { o["metric"] = .string(m.rawValue) }
        if f.storesNormalizedVectors { o["storesNormalizedVectors"] = .bool(true) }
        if let m = f.maxLength { o["maxLength"] = .int(Int64(m)) }
        if f.nullable { o["nullable"] = .bool(true) }
        return .object(o)
    }
    let shards: [JSONValue] = c.statistics().map { s in
        .object([
            "shard": .int(Int64(s.shard)), "sealedSegments": .int(Int64(s.sealedSegments)),
            "sealedRows": .int(Int64(s.sealedRows)), "growingRows": .int(Int64(s.growingRows)),
            "deletedRows": .int(Int64(s.deletedRows)), "storageBytes": .int(Int64(s.storageBytes)),
        ])
    }
    let indexes: [JSONValue] = c.indexes.map { spec in
        var o: [String: JSONValue] = ["field": .string(spec.field), "type": .string(spec.kind.rawValue)]
        switch spec.kind {
        case .hnsw: o["params"] = .object(["M": .int(Int64(spec.hnsw.M)), "efConstruction": .int(Int64(spec.hnsw.efConstruction))])
        case .hnswSQ:
            o["params"] = .object(["M": .int(Int64(spec.hnsw.M)), "efConstruction": .int(Int64(spec.hnsw.efConstruction)),
                                   "sq_type": .string(spec.hnsw.sqType ?? "SQ8"), "refine": .bool(spec.hnsw.refine == true)])
        case .ivfFlat, .binIvfFlat, .ivfSQ8: o["params"] = .object(["nlist": .int(Int64(spec.ivf.nlist))])
        case .ivfPQ: o["params"] = .object(["nlist": .int(Int64(spec.ivf.nlist)), "m": .int(Int64(spec.ivf.m)), "nbits": .int(Int64(spec.ivf.nbits))])
        case .sparseInvertedIndex, .sparseWAND:
            let c = spec.sparse ?? SparseIndexConfiguration()
            o["params"] = .object(["inverted_index_algo": .string(c.algorithm), "bm25_k1": .double(c.bm25K1), "bm25_b": .double(c.bm25B)])
        case .flat, .binFlat, .inverted, .stlSort, .trie, .bitmap: break
        }
        if let s = try? c.indexStatus(field: spec.field) {
            o["indexedRows"] = .int(Int64(s.indexedRows))
            o["totalRows"] = .int(Int64(s.totalRows))
            o["state"] = .string(s.isFinished ? "Finished" : "InProgress")
        }
        return .object(o)
    }
    return .object([
        "name": .string(c.name), "indexes": .array(indexes), "rowCount": .int(Int64(c.count())), "fields": .array(fields),
        "enableDynamicField": .bool(c.schema.enableDynamicField), "shardsNum": .int(Int64(c.schema.shardsNum)),
        "shards": .array(shards),
    ])
}
