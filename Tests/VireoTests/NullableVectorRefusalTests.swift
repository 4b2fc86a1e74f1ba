import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// Nullable vector fields (Milvus 2.6) are not implemented: a schema asking for one is refused up
/// front with a message that says so, never accepted and half-served.
@Suite struct NullableVectorRefusalTests {
    @Test("a nullable vector field is refused at creation with invalidSchema, naming the field and the fix")
    func refused() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var vector = FieldSchema.floatVector("vec", dimension: 4, metric: .l2)
        vector.nullable = true
        let schema = CollectionSchema(name: "nv", fields: [.int64PrimaryKey("id"), vector])
        do {
            _ = try db.createCollection(schema)
            Issue.record("a nullable vector field was accepted")
        } catch let e as VireoError {
            #expect(e.code == .invalidSchema)
            #expect(e.message.contains("'vec'") && e.message.contains("nullable vector fields"))
        }
        #expect(db.listCollections().isEmpty)
    }
}
