import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

/// A compacted segment handed to the writer: the live rows of `sources`, gathered from a snapshot,
/// with indexes built on them.
struct CompactionCommit: Sendable {
    let sources: [UInt32]
    let content: SegmentContent
    /// Where each row of `content` came from (a row deleted since it was gathered is deleted in the
    /// new segment as well).
    let origins: [RowLocation]
    /// Indexes built on `content`'s vectors, by vector field.
    let indexes: [Int: any SegmentIndex]
    /// `content`'s keys, scalars and columns in stored form (encoded off the writer).
    let encoded: [EncodedBlob]
}

/// Blobs no snapshot may use any more, deleted once nothing maps them: a compacted segment (every
/// key under its id) or single keys (an index generation that was replaced or dropped).
struct RetiredBlobs: Sendable {
    var segment: UInt32?
    var keys: [[UInt8]] = []
    var holders: [WeakHolder]

    /// Whether no holder of the blobs' bytes is alive (LMDB may then reuse their pages).
    var isFree: Bool { holders.allSatisfy { $0.object == nil } }
}

/// A weak reference to an object that keeps mapped pages in use.
struct WeakHolder: @unchecked Sendable {
    // SAFETY: the reference is only tested for nil (whether the holder is gone), never dereferenced,
    // and weak loads are atomic in Swift.
    weak var object: AnyObject?
}

/// What one compaction of a shard did.
public struct CompactionReport: Sendable, Hashable {
    /// Segments rewritten or merged, each listed once, with the segment they became (nil: every row
    /// was deleted, so nothing replaced them).
    public var merges: [Merge] = []
    /// Deleted rows whose storage was dropped.
    public var rowsRemoved = 0
    /// Rows copied into new segments.
    public var rowsRewritten = 0
    /// Rows the collection's TTL expired that this compaction turned into deleted rows (their
    /// storage is dropped with the rest of the deleted rows).
    public var rowsExpired = 0

    public struct Merge: Sendable, Hashable {
        public var shard: Int
        public var sources: [Int64]
        public var target: Int64?
    }

    public init() {}

    mutating func add(_ other: CompactionReport) {
        merges += other.merges
        rowsRemoved += other.rowsRemoved
        rowsRewritten += other.rowsRewritten
        rowsExpired += other.rowsExpired
    }
}

extension Shard {
    // MARK: Planning

    /// Groups of sealed segments worth rewriting, oldest first: each group becomes one segment of its
    /// live rows (at most `sealRows` and `sealBytes`).
    ///
    /// A segment is a candidate when at least `compactionDeletedFraction` of its rows are deleted, or
    /// when it is small (fewer live rows than half of `sealRows`, e.g. after a flush). A group of one
    /// segment with nothing deleted would rewrite the same rows, so it is left alone.
    func compactionPlan(_ snap: ShardSnapshot) -> [[UInt32]] {
        let limitRows = configuration.sealRows
        let bytesPerRow = dims.reduce(0) { $0 + ($1 + 1) * 4 } + 64
        let limitBytes = configuration.sealBytes
        var candidates: [(id: UInt32, live: Int, dead: Int)] = []
        for seg in snap.sealed {
            let dead = snap.tombstones[seg.id]?.count ?? 0
            let live = seg.rowCount - dead
            let deletedEnough = dead > 0 && Double(dead) >= configuration.compactionDeletedFraction * Double(seg.rowCount)
            let small = live * 2 < limitRows
            if deletedEnough || small { candidates.append((seg.id, live, dead)) }
        }
        var groups: [[UInt32]] = []
        var current: [(id: UInt32, live: Int, dead: Int)] = []
        var rows = 0
        func close() {
            // A lone segment is rewritten only to drop deleted rows.
            if current.count > 1 || current.first.map({ $0.dead > 0 }) == true { groups.append(current.map(\.id)) }
            current = []
            rows = 0
        }
        for c in candidates {
            if !current.isEmpty && (rows + c.live > limitRows || (rows + c.live) * bytesPerRow > limitBytes) { close() }
            current.append(c)
            rows += c.live
        }
        if !current.isEmpty { close() }
        return groups
    }

    /// Whether the growing segment holds enough deleted rows that sealing it lets compaction drop them.
    func growingNeedsCompaction(_ snap: ShardSnapshot) -> Bool {
        let dead = snap.tombstones[snap.growing.id]?.count ?? 0
        return dead > 0 && Double(dead) >= configuration.compactionDeletedFraction * Double(snap.growing.rowCount)
    }

    /// Whether a background pass has anything to do here.
    var needsCompaction: Bool {
        let snap = snapshot
        return !compactionPlan(snap).isEmpty || retired.withLock { $0.contains { $0.isFree } }
    }

    // MARK: The job (on the index builder's thread)

    /// Compacts this shard: seals the growing segment first when `sealGrowing` and it holds enough
    /// deleted rows, then rewrites each planned group (gathering its live rows from a snapshot and
    /// building its indexes off the writer) and hands the result to the writer, which swaps it in
    /// atomically. Searches and writes go on meanwhile. Runs on the index builder's thread, so it
    /// never competes with an index build, and builds with `compactionThreads` cores.
    func runCompaction(sealGrowing: Bool) throws -> CompactionReport {
        var report = CompactionReport()
        // Rows the TTL expired become deleted rows first (durably, keys freed), so the plan below
        // drops them like any deleted row, and drops wholly expired segments outright.
        if let cutoff = expiry.cutoff(), hasUntombstonedExpiredRows(snapshot, cutoff: cutoff) {
            report.rowsExpired += try submitAndWait(.expire(cutoff: cutoff))
        }
        if sealGrowing && growingNeedsCompaction(snapshot) {
            _ = try submitAndWait(.seal)
        }
        for group in compactionPlan(snapshot) {
            let snap = snapshot
            let segments = group.compactMap { id in snap.sealed.first { $0.id == id } }
            guard segments.count == group.count else { continue }  // the plan is stale
            let (content, origins) = try gather(segments, in: snap)
            var built: [Int: any SegmentIndex] = [:]
            if content.rows > 0 {
                var buildConfiguration = configuration
                buildConfiguration.indexBuildThreads = max(1, configuration.compactionThreads)
                for (f, field) in codec.vectorFields.enumerated() {
                    guard let spec = indexes.spec(for: field.name), spec.isBuilt else { continue }
                    let pacer = CompactionPacer(dutyCycle: configuration.compactionBusyDutyCycle)
                    let progress = IndexBuildProgress(total: content.rows) { pacer.pace() }
                    if let index = try spec.build(vectors: content.vectors[f][0], nulls: content.nullVectors[f], storedNormalized: field.storesNormalizedVectors,
                                                  configuration: buildConfiguration, progress: progress) {
                        built[f] = index
                    }
                }
            }
            let encoded = content.rows > 0 ? try encodeSmallBlobs(content) : []
            let target = try submitAndWait(.commitCompaction(CompactionCommit(sources: group, content: content, origins: origins,
                                                                              indexes: built, encoded: encoded)))
            let before = segments.reduce(0) { $0 + $1.rowCount }
            report.merges.append(.init(shard: index, sources: group.map(Int64.init), target: target > 0 ? Int64(target) : nil))
            report.rowsRewritten += content.rows
            report.rowsRemoved += before - content.rows
        }
        return report
    }

    /// Runs `body` on a thread of its own with a lower CPU priority (nice 10), and waits for it: a
    /// compaction's gathering and index builds then take only the CPU that searches and ingest leave
    /// idle (Linux schedules each thread by its own nice value), which is the throttle that keeps
    /// their latency close to normal while it runs (`vireo-bench compaction`). The builder's thread
    /// waits meanwhile, so compactions and index builds still run one at a time.
    static func atLowPriority<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            ThreadPriority.setNice(10)
            let r = Result { try body() }
            outcome.withLock { $0 = r }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// The live rows of `segments` in `snap`, in segment then row order, and where each came from.
    func gather(_ segments: [SealedSegment], in snap: ShardSnapshot) throws -> (SegmentContent, [RowLocation]) {
        var liveRows: [[Int]] = []
        var origins: [RowLocation] = []
        var pks: [PrimaryKey] = []
        var scalars: [[UInt8]] = []
        var partitions: [UInt16] = []
        var insertTimes: [Int64] = []
        for seg in segments {
            let tomb = snap.tombstones[seg.id]
            let live = (0..<seg.rowCount).filter { tomb?.contains($0) != true }
            liveRows.append(live)
            origins += live.map { RowLocation(segment: seg.id, row: UInt32($0)) }
            pks += live.map { seg.primaryKey(row: $0) }
            partitions += live.map { seg.partitions.partition(of: $0) }
            insertTimes += live.map { seg.insertTimes.time(of: $0) }
            var chunkIndex = -1
            var chunk: [[UInt8]] = []
            for r in live {
                let c = r / SealedSegment.scalarChunkRows
                if c != chunkIndex {
                    chunk = try seg.scalarChunk(c)
                    chunkIndex = c
                }
                let i = r % SealedSegment.scalarChunkRows
                guard i < chunk.count else {
                    throw StorageError.corrupted(what: "segment \(seg.id) scalar chunk \(c)", reason: "row \(r) is missing")
                }
                scalars.append(chunk[i])
            }
        }
        let vectors = dims.indices.map { f in
            [VectorRows.gather(zip(segments, liveRows).map { (rows: $0.vectors[f], indices: $1) }, dim: dims[f])]
        }
        let norms = dims.indices.map { f in
            [MatrixView.gather(zip(segments, liveRows).map { (view: $0.inverseNorms[f], rows: $1) }, dim: 1)]
        }
        // A row without a vector keeps it through compaction (its zero placeholder is gathered too).
        let nulls = dims.indices.map { f in
            NullVectors.concatenate(zip(segments, liveRows).map { (NullVectors.gather($0.nullVectors[f], rows: $1), $1.count) })
        }
        let content = SegmentContent(rows: pks.count, vectors: vectors, inverseNorms: norms, pks: pks, scalars: scalars, partitions: partitions,
                                     insertTimes: insertTimes, nullVectors: nulls)
        return (content, origins)
    }

    // MARK: The writer's part

    /// Swaps a compacted segment in, in one transaction: stores it (and its indexes), moves the
    /// primary keys of its rows to it, deletes in it the rows deleted since they were gathered, drops
    /// the sources' tombstones and records the change in the manifest. The sources' blobs are retired:
    /// deleted once no snapshot maps them (``sweepRetired(_:)``).
    ///
    /// - Returns: the new segment's id, or 0 when no row was live (the sources are simply dropped)
    ///   or the plan went stale.
    func commitCompaction(_ c: CompactionCommit, snap: inout ShardSnapshot) throws -> Int {
        let positions = c.sources.compactMap { id in snap.sealed.firstIndex { $0.id == id } }
        guard positions.count == c.sources.count else { return 0 }
        let sources = Set(c.sources)
        let newID = snap.manifest.nextSegmentId
        let hasRows = c.content.rows > 0
        var manifest = snap.manifest
        let insertAt = manifest.sealed.firstIndex { sources.contains($0.id) } ?? manifest.sealed.count
        manifest.sealed.removeAll { sources.contains($0.id) }
        if hasRows {
            manifest.sealed.insert(.init(id: newID, rows: c.content.rows), at: min(insertAt, manifest.sealed.count))
            manifest.nextSegmentId += 1
        }
        manifest.retired = (manifest.retired ?? []) + c.sources
        let manifestBytes = try Array(JSONEncoder().encode(manifest))
        // Indexes whose spec changed while they were built are left to the builder.
        var indexKeys: [Int: [UInt8]] = [:]
        var generation = snap.nextIndexGeneration
        for (f, built) in c.indexes.sorted(by: { $0.key < $1.key }) {
            guard let spec = indexes.spec(for: codec.vectorFields[f].name), built.matches(spec, rows: c.content.rows) else { continue }
            indexKeys[f] = SegmentKeys.index(newID, field: f, generation: generation)
            generation += 1
        }
        let tombstones = snap.tombstones
        var deletedInNew = Bitset(capacity: c.content.rows)
        var clearing: UInt32? = newID
        let staged = hasRows ? try stageVectorChunks(id: newID, c.content, clearing: &clearing) : []
        var stagedIndexes = Set<Int>()
        if hasRows {
            for (f, key) in indexKeys.sorted(by: { $0.key < $1.key }) {
                if try stageIndexChunks(key: key, c.indexes[f]!, clearing: &clearing) { stagedIndexes.insert(f) }
            }
        }
        let clearLeftovers = clearing != nil
        try environment.write { txn in
            deletedInNew = Bitset(capacity: c.content.rows)  // the body may run again after the map grew
            if hasRows {
                try writeSegment(id: newID, c.content, encoded: c.encoded, staged: staged, clearLeftovers: clearLeftovers, txn: txn)
                for (f, key) in indexKeys where !stagedIndexes.contains(f) {
                    let built = c.indexes[f]!
                    try Blob.writeInPlace(txn, blobs, key: key, kind: .index, payloadCount: built.byteCount) { buf in built.serialize(into: buf) }
                }
            }
            for (i, origin) in c.origins.enumerated() {
                let newLoc = RowLocation(segment: newID, row: UInt32(i))
                if tombstones[origin.segment]?.contains(Int(origin.row)) == true {
                    try txn.put(tombstoneDB, key: SegmentKeys.tombstone(newLoc), value: [])
                    deletedInNew.insert(i)
                    continue
                }
                let key = c.content.pks[i]
                guard let current = try keys.location(of: key, in: txn), current == origin else {
                    throw StorageError.corrupted(what: "shard \(index) primary-key index",
                                                 reason: "key \(c.content.pks[i]) does not point at its live row \(origin)")
                }
                try keys.set(key, at: newLoc, in: txn)
            }
            for s in c.sources { _ = try txn.deletePrefix(tombstoneDB, prefix: SegmentKeys.be32(s)) }
            try Blob.write(txn, meta, key: Shard.manifestKey, kind: .manifest, payload: manifestBytes, compress: false)
        }
        // Committed: the snapshot follows.
        let retiredSegments = positions.map { snap.sealed[$0] }
        for s in c.sources {
            snap.deletedCount -= snap.tombstones[s]?.count ?? 0
            snap.tombstones[s] = nil
        }
        snap.sealed.removeAll { sources.contains($0.id) }
        snap.manifest = manifest
        snap.nextIndexGeneration = generation
        if hasRows {
            var seg = try Shard.mapSealed(id: newID, rows: c.content.rows, env: environment, blobs: blobs, codec: codec, dims: dims, verify: false)
            for (f, key) in indexKeys {
                let field = codec.vectorFields[f]
                let spec = indexes.spec(for: field.name)!
                let what = "segment \(newID) \(spec.kind.rawValue) index of field '\(field.name)'"
                guard let blob = try environment.mapStoredBlob(blobs, key: key, kind: .index, verifyChecksum: false, what: what),
                      let mapped = try spec.open(stored: blob.bytes, owner: blob, vectors: seg.vectors[f].floatMatrix(), nulls: seg.nullVectors[f], storedNormalized: field.storesNormalizedVectors) else {
                    throw StorageError.corrupted(what: what, reason: "missing right after it was written")
                }
                seg = seg.withIndex(mapped, field: f, stored: StoredIndex(key: key, blob: blob))
            }
            snap.sealed.insert(seg, at: min(positions.min()!, snap.sealed.count))
            if !deletedInNew.isEmpty {
                snap.tombstones[newID] = deletedInNew
                snap.deletedCount += deletedInNew.count
            }
        }
        retire(retiredSegments.map { RetiredBlobs(segment: $0.id, holders: $0.storageHolders.map { WeakHolder(object: $0) }) })
        return hasRows ? Int(newID) : 0
    }

    /// Records blobs to delete once nothing maps them.
    func retire(_ items: [RetiredBlobs]) {
        guard !items.isEmpty else { return }
        retired.withLock { $0 += items }
    }

    /// Deletes the retired blobs nothing maps any more (their pages go back to LMDB's free list) and
    /// drops the segments among them from the manifest's retired list. Runs on the writer.
    func sweepRetired(_ snap: inout ShardSnapshot) throws {
        let ready = retired.withLock { r -> [RetiredBlobs] in
            let free = r.filter(\.isFree)
            r.removeAll(where: \.isFree)
            return free
        }
        guard !ready.isEmpty else { return }
        let segments = Set(ready.compactMap(\.segment))
        var manifest = snap.manifest
        if !segments.isEmpty {
            let left = (manifest.retired ?? []).filter { !segments.contains($0) }
            manifest.retired = left.isEmpty ? nil : left
        }
        let manifestBytes = try Array(JSONEncoder().encode(manifest))
        do {
            // Essential: it only frees pages, so it also runs on a full disk.
            try environment.write(essential: true) { txn in
                try Shard.deleteSegments(ready.compactMap(\.segment), blobs: blobs, tombstones: tombstoneDB, txn: txn)
                for r in ready {
                    // An index blob's key, or the prefix of its chunks' keys.
                    for k in r.keys { _ = try txn.deletePrefix(blobs, prefix: k) }
                }
                if !segments.isEmpty { try Blob.write(txn, meta, key: Shard.manifestKey, kind: .manifest, payload: manifestBytes, compress: false) }
            }
        } catch {
            retired.withLock { $0 += ready }
            throw error
        }
        snap.manifest = manifest
    }

    /// Deletes every blob and tombstone of `segments` (retired segments nothing maps) inside `txn`.
    static func deleteSegments(_ segments: [UInt32], blobs: LMDBDatabase, tombstones: LMDBDatabase, txn: WriteTransaction) throws {
        for s in segments {
            _ = try txn.deletePrefix(blobs, prefix: SegmentKeys.be32(s))
            _ = try txn.deletePrefix(tombstones, prefix: SegmentKeys.be32(s))
        }
    }

    /// Retired blobs still waiting for their last reader (tests and statistics).
    var retiredCount: Int { retired.withLock { $0.count } }
}
