import Foundation
import SwiftProtobuf
import VireoMilvusProto

/// The wire fixtures written by `Fixtures/generate.py` with pymilvus 3.0.2: request and response
/// bytes plus `expected.json`, pymilvus' proto3 JSON form of each message and the raw inputs.
enum Fixtures {
    static let directory: URL = {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures resource folder is missing from the test bundle")
        }
        return url
    }()

    static func bytes(_ kind: String, _ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(kind).appendingPathComponent("\(name).bin"))
    }

    static let expected: Expected = {
        do {
            let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
            return try JSONDecoder().decode(Expected.self, from: data)
        } catch {
            fatalError("Fixtures/expected.json does not decode: \(error)")
        }
    }()

    /// Every message type a fixture names, by protobuf full name.
    static let messageTypes: [String: any SwiftProtobuf.Message.Type] = [
        "milvus.proto.milvus.CreateCollectionRequest": Milvus_Proto_Milvus_CreateCollectionRequest.self,
        "milvus.proto.milvus.InsertRequest": Milvus_Proto_Milvus_InsertRequest.self,
        "milvus.proto.milvus.SearchRequest": Milvus_Proto_Milvus_SearchRequest.self,
        "milvus.proto.milvus.QueryRequest": Milvus_Proto_Milvus_QueryRequest.self,
        "milvus.proto.milvus.DeleteRequest": Milvus_Proto_Milvus_DeleteRequest.self,
        "milvus.proto.milvus.CreateIndexRequest": Milvus_Proto_Milvus_CreateIndexRequest.self,
        "milvus.proto.milvus.SearchResults": Milvus_Proto_Milvus_SearchResults.self,
        "milvus.proto.milvus.MutationResult": Milvus_Proto_Milvus_MutationResult.self,
        "milvus.proto.milvus.DescribeCollectionResponse": Milvus_Proto_Milvus_DescribeCollectionResponse.self,
        "milvus.proto.schema.CollectionSchema": Milvus_Proto_Schema_CollectionSchema.self,
        "milvus.proto.common.PlaceholderGroup": Milvus_Proto_Common_PlaceholderGroup.self,
    ]

    /// A message in proto3 JSON form with proto field names, the form pymilvus wrote.
    static func json(of message: any SwiftProtobuf.Message) throws -> JSONValue {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let text = try message.jsonString(options: options)
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

struct Expected: Decodable {
    struct Entry: Decodable {
        var type: String
        var json: JSONValue
        var nested: [String: Nested]?
    }

    struct Nested: Decodable {
        var type: String
        var json: JSONValue
    }

    struct Inputs: Decodable {
        struct Row: Decodable {
            var id: Int64
            var vector: [Double]
            var title: String
            var meta: JSONValue
            var tags: [Int64]
            var color: String?
            var views: Int64?
        }

        var rows: [Row]
        var queries: [[Double]]
    }

    var pymilvus: String
    var requests: [String: Entry]
    var responses: [String: Entry]
    var inputs: Inputs
}

/// A JSON document, compared structurally (object key order does not matter).
enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses a UTF-8 JSON document held in bytes (a JSON or `$meta` column entry).
    static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "\"\(value)\""
        case .array(let values): "[\(values.map(\.description).joined(separator: ", "))]"
        case .object(let members):
            "{\(members.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", "))}"
        }
    }

    /// Where `self` and `other` first differ, as a path plus both values; nil when equal.
    func firstDifference(from other: JSONValue, at path: String = "$") -> String? {
        switch (self, other) {
        case (.object(let mine), .object(let theirs)):
            for key in Set(mine.keys).union(theirs.keys).sorted() {
                guard let a = mine[key] else { return "\(path).\(key): missing here, expected \(theirs[key]!)" }
                guard let b = theirs[key] else { return "\(path).\(key): unexpected \(a)" }
                if let difference = a.firstDifference(from: b, at: "\(path).\(key)") { return difference }
            }
            return nil
        case (.array(let mine), .array(let theirs)):
            guard mine.count == theirs.count else {
                return "\(path): \(mine.count) elements, expected \(theirs.count)"
            }
            for (index, (a, b)) in zip(mine, theirs).enumerated() {
                if let difference = a.firstDifference(from: b, at: "\(path)[\(index)]") { return difference }
            }
            return nil
        default:
            return self == other ? nil : "\(path): \(self), expected \(other)"
        }
    }
}

extension Milvus_Proto_Common_KeyValuePair {
    init(_ key: String, _ value: String) {
        self.init()
        self.key = key
        self.value = value
    }
}

extension Array where Element == Milvus_Proto_Common_KeyValuePair {
    /// Key/value pairs as a dictionary; a repeated key is a test failure, so it traps.
    var dictionary: [String: String] {
        Dictionary(map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in
            fatalError("repeated key \(first)")
        })
    }
}

/// The field numbers present in protobuf-encoded bytes (here: a message's unknownFields).
func fieldNumbers(in data: Data) -> [Int] {
    var numbers: [Int] = []
    var index = data.startIndex
    func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < data.endIndex {
            let byte = data[index]
            index += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }
    while index < data.endIndex, let tag = varint() {
        numbers.append(Int(tag >> 3))
        switch tag & 7 {
        case 0: _ = varint()
        case 1: index += 8
        case 2: index += Int(varint() ?? 0)
        case 5: index += 4
        default: return numbers + [-1]  // groups never appear in proto3
        }
    }
    return numbers
}
