import Foundation
import SwiftProtobuf
import Testing
import VireoMilvusProto

/// Requests made by pymilvus 3.0.2's own request builders decode with our generated types into
/// exactly the values pymilvus put in.
@Suite("Requests from pymilvus decode")
struct RequestDecodingTests {
    typealias Schema = Milvus_Proto_Schema_CollectionSchema

    @Test("pymilvus fixtures were made by the pinned pymilvus")
    func fixtureVersion() {
        #expect(Fixtures.expected.pymilvus == "3.0.2")
    }

    /// Every field of every request, compared through proto3 JSON: what we decode and re-encode
    /// must equal pymilvus' JSON of the message it serialized. A field we declared with a wrong
    /// number or type, or left out, shows up as a difference.
    @Test(
        "every field matches pymilvus' JSON of the same message",
        arguments: ["create_collection", "insert", "search", "query", "delete", "delete_template", "create_index"]
    )
    func everyField(name: String) throws {
        let entry = try #require(Fixtures.expected.requests[name])
        let type = try #require(Fixtures.messageTypes[entry.type], "no Swift type for \(entry.type)")
        let message = try type.init(serializedBytes: Fixtures.bytes("requests", name))
        #expect(message.unknownFields.data.isEmpty, "fields we do not declare: \(fieldNumbers(in: message.unknownFields.data))")
        let difference = try Fixtures.json(of: message).firstDifference(from: entry.json)
        #expect(difference == nil, "\(name): \(difference ?? "")")

        // Messages carried inside bytes fields (the schema, the placeholder group).
        for (field, nested) in entry.nested ?? [:] {
            let innerType = try #require(Fixtures.messageTypes[nested.type])
            let inner = try innerType.init(serializedBytes: try nestedBytes(of: message, field: field))
            #expect(inner.unknownFields.data.isEmpty)
            let difference = try Fixtures.json(of: inner).firstDifference(from: nested.json)
            #expect(difference == nil, "\(name).\(field): \(difference ?? "")")
        }
    }

    private func nestedBytes(of message: any SwiftProtobuf.Message, field: String) throws -> Data {
        switch (message, field) {
        case (let request as Milvus_Proto_Milvus_CreateCollectionRequest, "schema"): request.schema
        case (let request as Milvus_Proto_Milvus_SearchRequest, "placeholder_group"): request.placeholderGroup
        default: throw FixtureError("no nested bytes field \(field) in \(type(of: message))")
        }
    }

    @Test("CreateCollection carries the schema as bytes of a CollectionSchema")
    func createCollection() throws {
        let request = try Milvus_Proto_Milvus_CreateCollectionRequest(
            serializedBytes: Fixtures.bytes("requests", "create_collection"))
        #expect(request.collectionName == "docs")
        #expect(request.consistencyLevel == .bounded)
        #expect(request.shardsNum == 2)
        #expect(request.properties.dictionary == ["collection.ttl.seconds": "3600"])

        let schema = try Schema(serializedBytes: request.schema)
        #expect(schema.name == "docs")
        #expect(schema.description_p == "wire fixture")
        #expect(schema.enableDynamicField)
        #expect(schema.fields.map(\.name) == ["id", "vector", "title", "meta", "tags"])
        #expect(schema.fields.map(\.dataType) == [.int64, .floatVector, .varChar, .json, .array])
        let id = schema.fields[0]
        #expect(id.isPrimaryKey && !id.autoID && id.description_p == "primary key")
        #expect(schema.fields[1].typeParams.dictionary == ["dim": "8"])
        #expect(schema.fields[2].typeParams.dictionary == ["max_length": "64"])
        #expect(schema.fields[4].elementType == .int64)
        #expect(schema.fields[4].typeParams.dictionary == ["max_capacity": "4"])
        #expect(schema.fields.allSatisfy { !$0.isDynamic && !$0.nullable })
    }

    @Test("Insert carries one column per field plus the $meta column of dynamic keys")
    func insert() throws {
        let request = try Milvus_Proto_Milvus_InsertRequest(serializedBytes: Fixtures.bytes("requests", "insert"))
        let rows = Fixtures.expected.inputs.rows
        #expect(request.collectionName == "docs")
        #expect(request.numRows == UInt32(rows.count))
        let columns = Dictionary(uniqueKeysWithValues: request.fieldsData.map { ($0.fieldName, $0) })
        #expect(Set(columns.keys) == ["id", "vector", "title", "meta", "tags", "$meta"])

        #expect(columns["id"]?.type == .int64)
        #expect(columns["id"]?.scalars.longData.data == rows.map(\.id))

        let vector = try #require(columns["vector"])
        #expect(vector.type == .floatVector)
        #expect(vector.vectors.dim == 8)
        #expect(vector.vectors.floatVector.data == rows.flatMap { $0.vector.map { Float($0) } })

        #expect(columns["title"]?.scalars.stringData.data == rows.map(\.title))
        let meta = try #require(columns["meta"]).scalars.jsonData.data.map(JSONValue.parse)
        #expect(meta == rows.map(\.meta))

        let tags = try #require(columns["tags"])
        #expect(tags.type == .array)
        #expect(tags.scalars.arrayData.data.map(\.longData.data) == rows.map(\.tags))

        let dynamic = try #require(columns["$meta"])
        #expect(dynamic.isDynamic && dynamic.type == .json)
        let extras = try dynamic.scalars.jsonData.data.map(JSONValue.parse)
        let expectedExtras: [JSONValue] = rows.map { row in
            var members: [String: JSONValue] = [:]
            if let color = row.color { members["color"] = .string(color) }
            if let views = row.views { members["views"] = .number(Double(views)) }
            return .object(members)
        }
        #expect(extras == expectedExtras)
    }

    @Test("Search carries the query vectors as little-endian float32 in a PlaceholderGroup")
    func search() throws {
        let request = try Milvus_Proto_Milvus_SearchRequest(serializedBytes: Fixtures.bytes("requests", "search"))
        #expect(request.collectionName == "docs")
        #expect(request.dsl == #"title like "a%" and views > 1"#)
        #expect(request.dslType == .boolExprV1)
        #expect(request.nq == 2)
        #expect(request.outputFields == ["title", "meta", "color"])
        #expect(request.partitionNames == ["_default"])
        #expect(request.useDefaultConsistency)
        let params = request.searchParams.dictionary
        #expect(params["topk"] == "3")
        #expect(params["metric_type"] == "COSINE")
        #expect(params["anns_field"] == "vector")
        #expect(params["round_decimal"] == "-1")
        let inner = try JSONValue.parse(Data(try #require(params["params"]).utf8))
        #expect(inner == .object(["ef": .number(32), "metric_type": .string("COSINE")]))

        guard case .placeholderGroup(let bytes)? = request.searchInput else {
            Issue.record("search_input is \(String(describing: request.searchInput)), expected placeholder_group")
            return
        }
        let group = try Milvus_Proto_Common_PlaceholderGroup(serializedBytes: bytes)
        let placeholder = try #require(group.placeholders.first)
        #expect(group.placeholders.count == 1)
        #expect(placeholder.tag == "$0")
        #expect(placeholder.type == .floatVector)
        let queries = placeholder.values.map { value in
            stride(from: 0, to: value.count, by: 4).map { offset in
                Float(bitPattern: value[value.startIndex + offset ..< value.startIndex + offset + 4]
                    .reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            }
        }
        #expect(queries == Fixtures.expected.inputs.queries.map { $0.map { Float($0) } })
    }

    @Test("Query carries limit and offset as query_params")
    func query() throws {
        let request = try Milvus_Proto_Milvus_QueryRequest(serializedBytes: Fixtures.bytes("requests", "query"))
        #expect(request.collectionName == "docs")
        #expect(request.expr == "id in [1, 2, 3]")
        #expect(request.outputFields == ["title", "tags"])
        #expect(request.partitionNames.isEmpty)
        let params = request.queryParams.dictionary
        #expect(params["limit"] == "10")
        #expect(params["offset"] == "1")
        #expect(request.useDefaultConsistency)
    }

    @Test("Delete carries a filter, with template values when filter_params are used")
    func delete() throws {
        let plain = try Milvus_Proto_Milvus_DeleteRequest(serializedBytes: Fixtures.bytes("requests", "delete"))
        #expect(plain.collectionName == "docs")
        #expect(plain.expr == "id in [1, 2]")
        #expect(plain.partitionName.isEmpty)
        #expect(plain.exprTemplateValues.isEmpty)

        let templated = try Milvus_Proto_Milvus_DeleteRequest(
            serializedBytes: Fixtures.bytes("requests", "delete_template"))
        #expect(templated.expr == "id in {ids} and title == {t}")
        #expect(templated.exprTemplateValues["ids"]?.arrayVal.longData.data == [1, 2])
        #expect(templated.exprTemplateValues["t"]?.stringVal == "x")
    }

    @Test("CreateIndex carries index type, metric and build params as flat key/values")
    func createIndex() throws {
        let request = try Milvus_Proto_Milvus_CreateIndexRequest(
            serializedBytes: Fixtures.bytes("requests", "create_index"))
        #expect(request.collectionName == "docs")
        #expect(request.fieldName == "vector")
        #expect(request.indexName == "vec_idx")
        #expect(request.extraParams.dictionary == [
            "index_type": "HNSW", "metric_type": "COSINE", "M": "16", "efConstruction": "200",
        ])
    }

    @Test("Fields we do not declare decode into unknownFields, by number")
    func undeclaredFeatures() throws {
        let request = try Milvus_Proto_Milvus_SearchRequest(
            serializedBytes: Fixtures.bytes("requests", "search_unsupported"))
        #expect(fieldNumbers(in: request.unknownFields.data) == [21, 23])  // highlighter, search_aggregation
        #expect(request.collectionName == "docs")
        #expect(request.nq == 2)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
