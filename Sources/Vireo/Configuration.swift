import Foundation
@_exported import protocol VireoKernels.ComputeBackend
@_exported import struct VireoKernels.OpenBLASBackend
import VireoKernels
import VireoStorage

/// Settings of an open database.
public struct Configuration: Sendable {
    /// The ceiling of each shard's LMDB map, in bytes (default 64 GiB): the map starts at
    /// ``initialMapSize`` and doubles on demand up to this size (it is address space; the file grows
    /// only as data is written). A shard whose data reaches it fails writes with
    /// ``VireoError/Code/storageFull`` and a message to raise it; reads keep working.
    public var mapSize: Int = 64 << 30
    /// The map size a shard opens with (default 64 MiB, or more for an existing larger file): a fresh
    /// database does not reserve ``mapSize`` of address space per shard up front.
    public var initialMapSize: Int = 64 << 20
    /// The ceiling of the catalog environment's map (schemas only).
    public var catalogMapSize: Int = 1 << 30
    /// Bytes kept in `<dir>/RESERVE` (default 64 MiB) and freed when the disk fills up, so that
    /// deletes and drops still succeed on a full disk; writes that add data are refused with
    /// ``VireoError/Code/diskFull`` until the file system has twice this much free again (then the
    /// reserve is re-created and writes resume, without a restart). 0 disables the reserve (the
    /// disk-full state still works).
    public var diskReserveBytes: Int = 64 << 20
    /// How often, at most, a disk-full database checks whether space is back (default 1 s).
    public var diskCheckInterval: Duration = .seconds(1)
    /// The database's disk-space guard, set by ``Database/open(at:configuration:)`` (nil read-only).
    var space: SpaceGuard?
    /// A growing segment is sealed when it holds this many rows (default 65,536).
    public var sealRows: Int = 65_536
    /// A growing segment is also sealed when its rows take this many bytes before compression
    /// (vectors, keys, scalars; default 1 GiB), so that no stored column passes its 32-bit offsets or
    /// LMDB's value limit however wide the rows are. Compaction merges up to the same bounds.
    public var sealBytes: Int = 1 << 30
    /// A sealed segment's vectors of one field past this many bytes (default 4 MiB) are stored in
    /// chunks of about this size, each committed in its own transaction before the one that records
    /// the segment: LMDB holds a transaction's new pages in memory until it commits, so a seal in one
    /// transaction held a second copy of every vector it stored (dev, 50,000 × 384: the process' peak
    /// went 200 → 279 MiB). The chunks map back to back into one contiguous range, as one blob did.
    /// A seal's peak is the growing rows plus one chunk (4 MiB rather than 8 took dev's seal peak
    /// 198 → 194 MiB); each chunk costs one durable commit (19 for dev's 73 MiB of vectors).
    public var vectorChunkBytes: Int = 4 << 20
    /// A sealed segment is rewritten without its deleted rows once this fraction of them is deleted
    /// (default 0.2, Milvus' `compaction.single.ratio.threshold`).
    public var compactionDeletedFraction: Double = 0.2
    /// How often the background compactor looks for segments to rewrite or merge (nil: only when
    /// ``Collection/compact()`` is called). Default one minute.
    public var compactionInterval: Duration? = .seconds(60)
    /// Threads a compaction's index builds use (default half the cores, at least one), so ingest and
    /// search keep the rest while it runs.
    public var compactionThreads: Int = max(1, System.coreCount / 2)
    /// While foreground requests run (any write or read in the last 200 ms), a compaction's index
    /// build works at most this fraction of the time (default 0.03); on an idle machine it runs flat
    /// out. Lower keeps foreground tail latency closer to normal while a compaction runs
    /// (`vireo-bench compaction`: 0.03 keeps inserts' p99 within 1.5× on 2 cores, 0.1 does not),
    /// higher finishes compactions sooner under load; 1 disables pacing.
    public var compactionBusyDutyCycle: Double = 0.03
    /// Recompute the CRC-32C of every sealed blob when a collection opens (reads all pages once).
    public var verifyChecksumsOnOpen: Bool = true
    /// Threads a batch search uses (default: all cores).
    public var searchThreads: Int = System.coreCount
    /// Threads an index build uses (default: all cores). Builds run one at a time, off the write path.
    public var indexBuildThreads: Int = System.coreCount
    /// Dense matrix backend for batch search (CPU OpenBLAS by default).
    public var computeBackend: any ComputeBackend = OpenBLASBackend()
    /// Batch searches, queries and counts that run at once on the database's read threads (each
    /// fans out over ``searchThreads``), default 2 × cores. Single-query searches run on the
    /// caller's thread but count against the bound below.
    public var maxConcurrentReads: Int = 2 * System.coreCount
    /// Reads admitted beyond ``maxConcurrentReads`` to wait for a thread (default 256); more are
    /// refused at once with ``VireoError/Code/overloaded`` (a server answers 503 / `UNAVAILABLE`).
    public var maxQueuedReads: Int = 256
    /// Open for reading only: LMDB environments are opened `MDB_RDONLY`, nothing is migrated,
    /// rebuilt, purged or cleaned up on disk, and every write fails with
    /// ``VireoError/Code/readOnly``. A read-only open takes no directory lock, so tools can inspect a
    /// directory a server owns (they see what it has committed).
    public var readOnly: Bool = false

    /// How primary keys longer than LMDB's 511-byte key limit are reduced to an LMDB key (SHA-256).
    /// Tests swap in a weak digest to force collisions; a real database never changes it, since a
    /// directory's long keys are found only with the digest that stored them (see ``PrimaryKeyIndex``).
    var primaryKeyDigest: PrimaryKeyDigest = .sha256

    /// The engine's time source: the insert time each row is stamped with, and the "now" that a
    /// collection's `collection.ttl.seconds` is measured against. Tests swap in a clock they move by
    /// hand, so expiry is tested without sleeping.
    public var clock: @Sendable () -> Date = { Date() }

    public init() {}
}

/// Facts about the machine.
public enum System {
    /// Number of active processor cores.
    public static var coreCount: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
