import Vireo

/// Partitions (Milvus `partitions/*`) and rename.
extension MilvusHandlers {
    public func renameCollection(_ name: String, to newName: String, newDatabase: String? = nil) async throws(APIError) {
        try await mapped {
            guard !newName.isEmpty else { throw APIError.missing("newCollectionName") }
            if let newDatabase, !newDatabase.isEmpty, !database.hasDatabase(newDatabase) { throw APIError.databaseNotFound(newDatabase) }
            try database.renameCollection(name, to: newName, in: currentDatabase, newDatabase: newDatabase.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// Creates a partition; one that exists already is success, as in Milvus (its rootcoord logs
    /// "add duplicate partition" and succeeds), so retried and concurrent creates agree.
    public func createPartition(_ collection: String, _ partition: String) async throws(APIError) {
        try await mapped {
            let c = try self.collection(collection)
            if c.schema.partitionKey == nil, c.hasPartition(partition) { return }
            try await c.createPartition(partition)
        }
    }

    /// Drops a partition and its rows. As in Milvus, a loaded partition (of a loaded collection) must
    /// be released first, so a drop cannot pull rows from under searches that expect them.
    public func dropPartition(_ collection: String, _ partition: String) async throws(APIError) {
        try await mapped {
            let c = try self.collection(collection)
            // A partition that does not exist is already dropped: success, as in Milvus.
            if partition != CollectionSchema.defaultPartitionName, c.schema.partitionKey == nil, !partition.isEmpty, !c.hasPartition(partition) { return }
            if partition != CollectionSchema.defaultPartitionName, c.hasPartition(partition), loads.isLoaded(c), !loads.releasedPartitions(c).contains(partition) {
                // 65535 over gRPC (Milvus' proxy), 1100 over REST (Milvus' REST v2 handler).
                var e = APIError(.unexpected, "partition cannot be dropped, partition is loaded, please release it first (POST /v2/vectordb/partitions/release with partitionNames [\"\(partition)\"])")
                e.restCode = .invalidParameter
                throw e
            }
            try await c.dropPartition(partition)
            loads.setPartitions(c, [partition], loaded: true)
        }
    }

    public func hasPartition(_ collection: String, _ partition: String) async throws(APIError) -> Bool {
        try await mapped {
            let c = try self.collection(collection)
            try CollectionSchema.validateName(partition, what: "partition name")  // Milvus checks the name first
            return c.hasPartition(partition)
        }
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
            loads.setPartitions(c, partitions, loaded: loaded)
        }
    }
}
