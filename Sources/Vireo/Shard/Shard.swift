import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

/// What readers see of a shard: an immutable value published by the writer after each commit.
struct ShardSnapshot: Sendable {
    var sealed: [SealedSegment] = []
    var growing: GrowingSegment
    /// Deleted rows per segment id.
    var tombstones: [UInt32: Bitset] = [:]
    var deletedCount = 0
    var nextBatchSeq: UInt64 = 0
    /// Index blobs get a fresh generation number in their key each build.
    var nextIndexGeneration: UInt32 = 1
    var manifest: ShardManifest

    var rowCount: Int { sealed.reduce(0) { $0 + $1.rowCount } + growing.rowCount }
    var liveCount: Int { rowCount - deletedCount }

    /// The primary key of `row` in the segment at `ordinal` (sealed segments first, then growing).
    func primaryKey(ordinal: Int, row: Int) -> PrimaryKey {
        if ordinal < sealed.count { return sealed[ordinal].primaryKey(row: row) }
        let block = growing.block(containing: row)!
        return block.pks[row - block.firstRow]
    }

    /// Partition ids present in any segment.
    var partitionsPresent: Set<UInt16> {
        var out = Set<UInt16>()
        for seg in sealed { out.formUnion(seg.partitions.present) }
        for block in growing.blocks { out.formUnion(block.partitions.present) }
        return out
    }

    /// The partition of the row at `loc`.
    func partition(of loc: RowLocation) -> UInt16 {
        if loc.segment == growing.id, let block = growing.block(containing: Int(loc.row)) {
            return block.partitions.partition(of: Int(loc.row) - block.firstRow)
        }
        return sealed.first { $0.id == loc.segment }?.partitions.partition(of: Int(loc.row)) ?? 0
    }

    /// Whether `loc` names a row this snapshot contains and has not deleted.
    func isLive(_ loc: RowLocation) -> Bool {
        if tombstones[loc.segment]?.contains(Int(loc.row)) == true { return false }
        if loc.segment == growing.id { return Int(loc.row) < growing.rowCount }
        return sealed.contains { $0.id == loc.segment && Int(loc.row) < $0.rowCount }
    }
}

/// The shard's table of contents, stored under `meta/manifest`.
struct ShardManifest: Codable, Sendable {
    struct Sealed: Codable, Sendable {
        var id: UInt32
        var rows: Int
    }
    var formatVersion = 1
    var sealed: [Sealed] = []
    var growingSegment: UInt32 = 1
    var nextSegmentId: UInt32 = 2
    /// Segments replaced by compaction whose blobs are not deleted yet (readers may still map them);
    /// whatever is left here at open is deleted then.
    var retired: [UInt32]? = nil
}

/// A write the shard's writer applies.
enum WriteOp: Sendable {
    case insert([PreparedRow])
    case upsert([PreparedRow])
    case delete([PrimaryKey])
    /// Tombstone every live row written at or before this time (milliseconds since 1970): the
    /// collection's TTL expired them (see ``RowExpiry``).
    case expire(cutoff: Int64)
    /// Delete every live row of these partitions (a dropped partition), by location: a key that an
    /// upsert has moved to another partition keeps its new row.
    case deletePartitions(Set<UInt16>)
    /// Seal the growing segment now (flush).
    case seal
    /// Store a built index of a sealed segment's vector field and start using it.
    case attachIndex(segment: UInt32, field: Int, index: any SegmentIndex)
    /// Stop using the indexes of a vector field (its spec was dropped).
    case detachIndexes(field: Int)
    /// Swap a compacted segment in for its sources.
    case commitCompaction(CompactionCommit)
    /// Delete retired blobs that nothing maps any more.
    case sweep
}

extension WriteOp {
    /// Whether the op stores new data (refused on a full disk); deletes and detaching do not.
    var addsData: Bool {
        switch self {
        case .insert, .upsert, .seal, .attachIndex, .commitCompaction: return true
        case .delete, .deletePartitions, .expire, .detachIndexes, .sweep: return false
        }
    }
}

/// Who to tell when a write finished.
typealias WriteCompletion = @Sendable (Result<Int, any Error>) -> Void

/// One shard of a collection: one LMDB environment (`<collection>/shard-<n>/`), its segments, and a
/// single writer.
///
/// ## Concurrency
/// - **One writer.** Writes are queued and applied by a serial `DispatchQueue` (not the cooperative
///   pool, since a commit blocks on `fsync`). Each drain takes *every* queued request and applies them
///   in one LMDB write transaction (group commit), each request in a nested transaction so a failing
///   request loses only its own writes. A request's continuation resumes only after the commit
///   returned, i.e. after LMDB's `fsync`: acknowledged means durable.
/// - **Readers never wait.** After a commit the writer publishes a new ``ShardSnapshot`` (a value of
///   immutable parts) under a mutex held for a pointer copy; searches and gets work on the snapshot
///   they took, concurrently with writes, and see every acknowledged write.
final class Shard: Sendable {
    let index: Int
    let environment: Environment
    /// The collection's current row codec (shared with it; see ``CodecBox``).
    let codecs: CodecBox
    var codec: RowCodec { codecs.current }
    let dims: [Int]
    /// Element encoding of each vector field (schema order): how its vectors are stored.
    let elements: [VectorElement]
    let configuration: Configuration
    let indexes: IndexRegistry
    let builder: IndexBuilder
    /// The collection's TTL and clock (shared by its shards).
    let expiry: RowExpiry

    let meta: LMDBDatabase
    let blobs: LMDBDatabase
    let growingDB: LMDBDatabase
    let tombstoneDB: LMDBDatabase
    let pkDB: LMDBDatabase
    /// The primary key → row map stored in `pkDB` (long keys under a digest; see ``PrimaryKeyIndex``).
    let keys: PrimaryKeyIndex

    let published: Mutex<ShardSnapshot>
    let pending = Mutex<PendingWrites>(PendingWrites())
    let queue: DispatchQueue

    struct PendingWrites: Sendable {
        var ops: [(WriteOp, WriteCompletion)] = []
        var draining = false
    }

    /// Blobs waiting for their last reader before they are deleted (see ``RetiredBlobs``).
    let retired = Mutex<[RetiredBlobs]>([])
    /// Whether a compaction of this shard is queued or running (background passes skip it then).
    let compacting = Mutex(false)

    static let databaseNames = ["meta", "blobs", "growing", "tombstones", "pks"]
    static let manifestKey = Array("manifest".utf8)

    /// Opens (or creates) the shard at `path` and recovers its state: the manifest, sealed segments
    /// mapped in place, the growing segment's batches, and tombstones.
    init(index: Int, path: String, codecs: CodecBox, configuration: Configuration, indexes: IndexRegistry, builder: IndexBuilder,
         expiry: RowExpiry) throws {
        let codec = codecs.current
        self.expiry = expiry
        self.indexes = indexes
        self.builder = builder
        self.index = index
        self.codecs = codecs
        self.dims = codec.vectorFields.map { $0.dimension! }
        self.elements = codec.vectorFields.map { VectorElement($0.dataType)! }
        self.configuration = configuration
        let env: Environment
        do {
            env = try Environment(path: path, mapSize: configuration.mapSize, initialMapSize: configuration.initialMapSize,
                                  databases: Shard.databaseNames, readOnly: configuration.readOnly, space: configuration.space)
        } catch {
            throw VireoError.storage(error, "opening shard \(index) of collection '\(codec.schema.name)'")
        }
        environment = env
        meta = env.database("meta")
        blobs = env.database("blobs")
        growingDB = env.database("growing")
        tombstoneDB = env.database("tombstones")
        pkDB = env.database("pks")
        keys = PrimaryKeyIndex(db: pkDB, digest: configuration.primaryKeyDigest)
        queue = DispatchQueue(label: "vireo.shard-writer.\(codec.schema.name).\(index)")
        do {
            published = Mutex(try Shard.recover(env: env, meta: meta, blobs: blobs, growingDB: growingDB,
                                                 tombstoneDB: tombstoneDB, codec: codec, dims: dims,
                                                 verify: configuration.verifyChecksumsOnOpen, shard: index, indexes: indexes,
                                                 readOnly: configuration.readOnly))
        } catch {
            throw VireoError.storage(error, "recovering shard \(index) of collection '\(codec.schema.name)'")
        }
    }

    /// The current snapshot (every acknowledged write is in it).
    var snapshot: ShardSnapshot { published.withLock { $0 } }

}
