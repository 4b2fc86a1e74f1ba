import Vireo

/// Ids and cluster facts that admin tools (attu, the Node SDK's resource-group and segment calls)
/// read. Ids come from the catalog: a collection's id is assigned once at create (a database-wide
/// counter, so the same name in two databases gets two ids) and kept across renames and restarts.
extension MilvusHandlers {
    /// The name of Vireo's one resource group, as Milvus names its default group.
    public static let defaultResourceGroup = "__default_resource_group"

    /// The catalog id of `name` (a collection or an alias) in the request's database; nil when absent.
    public func collectionID(named name: String) -> UInt64? {
        (try? collection(name))?.id
    }

    /// The collection of the request's database whose catalog id is `id`; nil when none has it.
    public func collectionName(id: UInt64) -> String? {
        database.listCollections(in: currentDatabase).first { (try? database.collection($0, in: currentDatabase))?.id == id }
    }

    /// A collection's catalog id and its partitions' ids (creation order; `name` may be an alias).
    public func partitionIDs(_ name: String) async throws(APIError) -> (collection: UInt64, partitions: [(name: String, id: UInt16)]) {
        try await mapped {
            let c = try collection(name)
            return (c.id, c.partitionIDs())
        }
    }

    /// The loaded collections of the request's database (what the one resource group serves).
    public func loadedCollections() -> [String] {
        collectionSummaries(loadedOnly: true).map(\.name)
    }
}
