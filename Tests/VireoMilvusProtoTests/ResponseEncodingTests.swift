import Foundation
import SwiftProtobuf
import Testing
import VireoMilvusProto

/// Responses built with our generated types encode to exactly the bytes pymilvus' own classes
/// produce for the same values (`Fixtures/responses/*.bin`), so pymilvus decodes them as it decodes
/// Milvus' answers. The values below mirror `responses()` in `Fixtures/generate.py`.
///
/// With `VIREO_PROTO_FIXTURE_OUT=DIR` set, the tests also write their encodings to DIR, and
/// `python Fixtures/generate.py --check-swift DIR` decodes them with pymilvus and runs them through
/// pymilvus' own result parsing (SearchResult, MutationResult, the described schema).
@Suite("Responses encode as pymilvus expects")
struct ResponseEncodingTests {
    typealias Schema = Milvus_Proto_Schema_CollectionSchema
    typealias FieldSchema = Milvus_Proto_Schema_FieldSchema
    typealias FieldData = Milvus_Proto_Schema_FieldData

    static func searchResults() -> Milvus_Proto_Milvus_SearchResults {
        .with {
            $0.status = Milvus_Proto_Common_Status()
            $0.collectionName = "docs"
            $0.results = .with { results in
                results.numQueries = 2
                results.topK = 3
                results.topks = [3, 2]
                results.ids = .with { $0.intID = .with { $0.data = [3, 1, 2, 2, 3] } }
                results.scores = [0.875, 0.5, -0.25, 0.75, 0.125]
                results.outputFields = ["title", "color"]
                results.primaryFieldName = "id"
                results.fieldsData = [
                    FieldData.with {
                        $0.type = .varChar
                        $0.fieldName = "title"
                        $0.fieldID = 102
                        $0.scalars = .with {
                            $0.stringData = .with { $0.data = ["gamma", "alpha", "beta", "beta", "gamma"] }
                        }
                    },
                    FieldData.with {
                        $0.type = .json
                        $0.fieldName = "$meta"
                        $0.fieldID = 105
                        $0.isDynamic = true
                        $0.scalars = .with {
                            $0.jsonData = .with {
                                $0.data = [#"{"color":"blue"}"#, #"{"color":"red"}"#, "{}", "{}", #"{"color":"blue"}"#]
                                    .map { Data($0.utf8) }
                            }
                        }
                    },
                ]
            }
        }
    }

    static func mutationResult() -> Milvus_Proto_Milvus_MutationResult {
        .with {
            $0.status = Milvus_Proto_Common_Status()
            $0.ids = .with { $0.intID = .with { $0.data = [1, 2, 3] } }
            $0.succIndex = [0, 1, 2]
            $0.insertCnt = 3
            $0.timestamp = 458_000_000_000_000_001
        }
    }

    static func describeCollection() -> Milvus_Proto_Milvus_DescribeCollectionResponse {
        func field(_ id: Int64, _ name: String, _ type: Milvus_Proto_Schema_DataType,
                   _ params: [String: String] = [:], _ configure: (inout FieldSchema) -> Void = { _ in }) -> FieldSchema {
            .with {
                $0.fieldID = id
                $0.name = name
                $0.dataType = type
                $0.typeParams = params.sorted { $0.key < $1.key }.map { Milvus_Proto_Common_KeyValuePair($0.key, $0.value) }
                configure(&$0)
            }
        }
        return .with {
            $0.status = Milvus_Proto_Common_Status()
            $0.schema = Schema.with {
                $0.name = "docs"
                $0.description_p = "wire fixture"
                $0.enableDynamicField = true
                // `$meta` is not listed: pymilvus 3.0.2's row insert breaks if it is (see generate.py).
                $0.fields = [
                    field(100, "id", .int64) {
                        $0.isPrimaryKey = true
                        $0.description_p = "primary key"
                    },
                    field(101, "vector", .floatVector, ["dim": "8"]),
                    field(102, "title", .varChar, ["max_length": "64"]),
                    field(103, "meta", .json),
                    field(104, "tags", .array, ["max_capacity": "4"]) { $0.elementType = .int64 },
                ]
            }
            $0.collectionID = 451
            $0.collectionName = "docs"
            $0.consistencyLevel = .bounded
            $0.shardsNum = 1
            $0.aliases = ["docs_alias"]
            $0.numPartitions = 1
            $0.createdTimestamp = 458_000_000_000_000_000
            $0.createdUtcTimestamp = 1_750_000_000_000
            $0.properties = [Milvus_Proto_Common_KeyValuePair("collection.ttl.seconds", "3600")]
            $0.dbName = "default"
        }
    }

    /// The error answer pymilvus' has_collection turns into False (code 100, legacy code 4).
    static func describeMissing() -> Milvus_Proto_Milvus_DescribeCollectionResponse {
        .with {
            $0.status = .with {
                $0.errorCode = .collectionNotExists
                $0.code = 100
                $0.reason = "collection not found[collection=missing]"
            }
        }
    }

    static let cases: [(name: String, message: any SwiftProtobuf.Message)] = [
        ("search_results", searchResults()),
        ("mutation_result", mutationResult()),
        ("describe_collection", describeCollection()),
        ("describe_missing", describeMissing()),
    ]

    @Test("encodes byte for byte like pymilvus", arguments: cases.map(\.name))
    func bytesMatchPymilvus(name: String) throws {
        let message = try #require(Self.cases.first { $0.name == name }?.message)
        let ours: Data = try message.serializedBytes()
        let theirs = try Fixtures.bytes("responses", name)
        #expect(ours == theirs, "\(name): \(ours.count) bytes, pymilvus wrote \(theirs.count)")

        // pymilvus' bytes decode to the same message, and to the JSON pymilvus wrote for it.
        let decoded = try type(of: message).init(serializedBytes: theirs)
        #expect(decoded.isEqualTo(message: message))
        let entry = try #require(Fixtures.expected.responses[name])
        let difference = try Fixtures.json(of: message).firstDifference(from: entry.json)
        #expect(difference == nil, "\(name): \(difference ?? "")")

        if let folder = ProcessInfo.processInfo.environment["VIREO_PROTO_FIXTURE_OUT"] {
            let url = URL(fileURLWithPath: folder, isDirectory: true)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            try ours.write(to: url.appendingPathComponent("\(name).bin"))
        }
    }

    @Test("search hits are split per query by topks")
    func searchLayout() {
        let results = Self.searchResults().results
        #expect(results.topks.reduce(0, +) == Int64(results.ids.intID.data.count))
        #expect(results.scores.count == results.ids.intID.data.count)
        for column in results.fieldsData {
            #expect(column.scalars.stringData.data.count + column.scalars.jsonData.data.count == results.scores.count)
        }
    }
}
