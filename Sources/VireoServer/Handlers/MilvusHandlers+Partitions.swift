import Vireo

/// Partitions (Milvus `partitions/*`) and rename.
extension MilvusHandlers {
    public func renameCollection(_ name: String, to newName: String) async throws(APIError) {
        try await mapped {
            guard !newName.isEmpty else { throw APIError.missing("newCollectionName") }
            try database.renameCollection(name, to: newName)
            guard name != newName else { return }
            loads.rename(name, to: newName)
        }
    }

    public func createPartition(_ collection: String, _ partition: String) async throws(APIError) {
        try await mapped { try await self.collection(collection).createPartition(partition) }
    }

    /// Drops a partition and its rows. As in Milvus, a loaded partition (of a loaded collection) must
    /// be released first, so a drop cannot pull rows from under searches that expect them.
    public func dropPartition(_ collection: String, _ partition: String) async throws(APIError) {
        try await mapped {
            let c = try self.collection(collection)
            if partition != CollectionSchema.defaultPartitionName, c.hasPartition(partition), loads.isLoaded(collection), !loads.releasedPartitions(collection).contains(partition) {
                throw APIError(.unexpected, "partition cannot be dropped, partition is loaded, please release it first (POST /v2/vectordb/partitions/release with partitionNames [\"\(partition)\"])")
            }
            try await c.dropPartition(partition)
            loads.setPartitions(collection, [partition], loaded: true)
        }
    }

    public func hasPartition(_ collection: String, _ partition: String) async throws(APIError) -> Bool {
        try await mapped { try self.collection(collection).hasPartition(partition) }
    }

    public func listPartitions(_ collection: String) async throws(APIError) -> [String] {
        try await mapped { try self.collection(collection).listPartitions() }
    }

    public func partitionRowCount(_ collection: String, _ partition: String) async throws(APIError) -> Int {
        try await mapped { try self.collection(collection).count(partitions: [partition]) }
    }

    /// Loads or releases partitions (load state only; see ``LoadStates``).
    public func setPartitionsLoaded(_ collection: String, _ partitions: [String], loaded: Bool) async throws(APIError) {
        try await mapped {
            let c = try self.collection(collection)
            for p in partitions where !c.hasPartition(p) { throw c.partitionNotFoundError(p) }
            if loaded { try checkLoadable(c) }
            loads.setPartitions(collection, partitions, loaded: loaded)
        }
    }
}
