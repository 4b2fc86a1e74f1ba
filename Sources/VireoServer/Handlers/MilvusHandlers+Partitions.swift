import Vireo

/// Partitions and rename. (Placeholder until the engine's partition API lands on main.)
extension MilvusHandlers {
    public func renameCollection(_ name: String, to newName: String) async throws(APIError) {
        throw APIError(.unexpected, "rename is not available yet")
    }
    public func createPartition(_ collection: String, _ partition: String) async throws(APIError) {
        throw APIError(.unexpected, "partitions are not available yet")
    }
    public func dropPartition(_ collection: String, _ partition: String) async throws(APIError) {
        throw APIError(.unexpected, "partitions are not available yet")
    }
    public func hasPartition(_ collection: String, _ partition: String) async throws(APIError) -> Bool {
        try await mapped { _ = try self.collection(collection); return partition == "_default" }
    }
    public func listPartitions(_ collection: String) async throws(APIError) -> [String] {
        try await mapped { _ = try self.collection(collection); return ["_default"] }
    }
    public func partitionRowCount(_ collection: String, _ partition: String) async throws(APIError) -> Int {
        try await mapped { try self.collection(collection).count() }
    }
    public func setPartitionsLoaded(_ collection: String, _ partitions: [String], loaded: Bool) async throws(APIError) {
        try await mapped {
            _ = try self.collection(collection)
            loads.setPartitions(collection, partitions, loaded: loaded)
        }
    }
}
