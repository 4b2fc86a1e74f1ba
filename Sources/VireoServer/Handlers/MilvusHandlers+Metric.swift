import Vireo

extension MilvusHandlers {
    /// Milvus keeps the metric on the index, and its gRPC clients name it only in a `CreateIndex`
    /// after `CreateCollection` (right after it, or after inserting); Vireo fixes a vector field's
    /// metric in the schema (COSINE vectors are stored normalised). So when an index asks for another
    /// metric on a field that has no index yet, the collection is rebuilt (with its other indexes) with that metric: a new
    /// collection under a temporary name gets the rows of every partition (re-encoded for the new
    /// metric), then replaces the old one in one catalog transaction (a crash keeps one or the
    /// other); partitions and load state are kept. A field with an index, or a collection with auto-generated primary keys and
    /// rows, are left alone and index creation reports the mismatch. Rows stored under COSINE (the
    /// metric of a collection created without one) were normalised and their lengths are not stored:
    /// moving them to L2 or IP ranks the normalised copies — the same for unit-length embeddings (what
    /// sentence encoders produce), different otherwise; give the metric at creation for other data. The rebuild serves Milvus' usual
    /// create → insert → create-index sequence: rows written to the collection while it runs are not
    /// copied.
    public func adoptIndexMetric(_ name: String, field: String, metric: Metric) async throws(APIError) {
        try await mapped {
            let c = try collection(name)
            guard let f = c.schema.field(named: field), f.dataType.isVector, f.effectiveMetric != metric,
                  !c.indexes.contains(where: { $0.field == field }) else { return }
            let otherIndexes = c.indexes
            let rows = c.count()
            if rows > 0 && c.schema.primaryKey.autoID { return }
            var schema = c.schema
            for i in schema.fields.indices where schema.fields[i].name == field { schema.fields[i].metric = metric }
            let partitions = c.listPartitions()
            let loaded = loads.isLoaded(name)
            let temporary = "_vireo_rebuild_\(name)"
            if database.hasCollection(temporary) { try database.dropCollection(temporary) }
            var tempSchema = schema
            tempSchema.name = temporary
            let copy = try database.createCollection(tempSchema)
            do {
                for p in partitions where !copy.hasPartition(p) { try await copy.createPartition(p) }
                for spec in otherIndexes { try await copy.createIndex(spec) }
                // With a partition key, rows route themselves; otherwise copy partition by partition.
                let scopes: [String?] = schema.partitionKey != nil ? [nil] : partitions.map { Optional($0) }
                for p in scopes {
                    var it = c.queryIterator(outputFields: ["*"], batchSize: 2_000, partitions: p.map { [$0] })
                    while let batch = try it.next(), !batch.isEmpty {
                        _ = try await copy.insert(batch, partition: schema.partitionKey != nil ? nil : p)
                    }
                }
                try await copy.flush()
                try database.replaceCollection(name, with: temporary)
            } catch {
                try? database.dropCollection(temporary)
                throw error
            }
            loads.set(name, loaded: loaded)
        }
    }
}
