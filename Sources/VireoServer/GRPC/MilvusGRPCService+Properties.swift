import Foundation
import GRPCCore
import SwiftProtobuf
import Vireo
import VireoMilvusProto

/// `MilvusService` RPCs for collection, field and index properties. pymilvus'
/// `drop_collection_properties` and `drop_index_properties` are `AlterCollection` / `AlterIndex`
/// with `delete_keys`.
extension MilvusGRPCService {
    func alterCollection(request: Milvus_Proto_Milvus_AlterCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("AlterCollection", db: request.dbName) {
            try await handlers.alterCollectionProperties(request.collectionName, set: Self.properties(request.properties), delete: request.deleteKeys)
            return PStatus()
        }
    }

    func alterCollectionField(request: Milvus_Proto_Milvus_AlterCollectionFieldRequest, context: ServerContext) async throws -> PStatus {
        await call("AlterCollectionField", db: request.dbName) {
            try await handlers.alterCollectionField(request.collectionName, field: request.fieldName,
                                                    set: Self.properties(request.properties), delete: request.deleteKeys)
            return PStatus()
        }
    }

    /// `schema` holds one serialized `milvus.proto.schema.FieldSchema`.
    func addCollectionField(request: Milvus_Proto_Milvus_AddCollectionFieldRequest, context: ServerContext) async throws -> PStatus {
        await call("AddCollectionField", db: request.dbName) {
            let p: PFieldSchema
            do {
                p = try PFieldSchema(serializedBytes: request.schema)
            } catch {
                throw APIError.invalid("AddCollectionField: 'schema' is not a serialized milvus.proto.schema.FieldSchema (\(error))")
            }
            guard !p.name.isEmpty else { throw APIError.missing("schema.name", "the field to add needs a name") }
            var field = try ProtoConversions.fieldSchema(p, schemaAutoID: false)
            field.autoID = p.autoID  // refused by the engine unless false (Milvus' rule and message)
            try await handlers.addCollectionField(request.collectionName, field: field)
            return PStatus()
        }
    }

    func alterIndex(request: Milvus_Proto_Milvus_AlterIndexRequest, context: ServerContext) async throws -> PStatus {
        await call("AlterIndex", db: request.dbName) {
            // pymilvus JSON-encodes nothing here (`mmap.enabled` = "True"), but older clients may.
            var set: [String: String] = [:]
            for kv in request.extraParams {
                if case let .string(s) = ProtoConversions.jsonParam(kv.value) { set[kv.key] = s } else { set[kv.key] = kv.value }
            }
            try await handlers.alterIndexProperties(request.collectionName, indexName: request.indexName, set: set, delete: request.deleteKeys)
            return PStatus()
        }
    }
}
