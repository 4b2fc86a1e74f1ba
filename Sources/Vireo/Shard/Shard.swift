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
}

/// A write the shard's writer applies.
enum WriteOp: Sendable {
    case insert([PreparedRow])
    case upsert([PreparedRow])
    case delete([PrimaryKey])
    /// Seal the growing segment now (flush).
    case seal
    /// Store a built index of a sealed segment's vector field and start using it.
    case attachIndex(segment: UInt32, field: Int, index: any SegmentIndex)
    /// Stop using the indexes of a vector field (its spec was dropped).
    case detachIndexes(field: Int)
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
    let codec: RowCodec
    let dims: [Int]
    let configuration: Configuration
    let indexes: IndexRegistry
    let builder: IndexBuilder

    let meta: LMDBDatabase
    let blobs: LMDBDatabase
    let growingDB: LMDBDatabase
    let tombstoneDB: LMDBDatabase
    let pkDB: LMDBDatabase

    private let published: Mutex<ShardSnapshot>
    private let pending = Mutex<PendingWrites>(PendingWrites())
    private let queue: DispatchQueue

    private struct PendingWrites: Sendable {
        var ops: [(WriteOp, WriteCompletion)] = []
        var draining = false
    }

    static let databaseNames = ["meta", "blobs", "growing", "tombstones", "pks"]
    static let manifestKey = Array("manifest".utf8)

    /// Opens (or creates) the shard at `path` and recovers its state: the manifest, sealed segments
    /// mapped in place, the growing segment's batches, and tombstones.
    init(index: Int, path: String, codec: RowCodec, configuration: Configuration, indexes: IndexRegistry, builder: IndexBuilder) throws {
        self.indexes = indexes
        self.builder = builder
        self.index = index
        self.codec = codec
        self.dims = codec.vectorFields.map { $0.dimension! }
        self.configuration = configuration
        let env: Environment
        do {
            env = try Environment(path: path, mapSize: configuration.mapSize, databases: Shard.databaseNames, readOnly: configuration.readOnly)
        } catch {
            throw VireoError.storage(error, "opening shard \(index) of collection '\(codec.schema.name)'")
        }
        environment = env
        meta = env.database("meta")
        blobs = env.database("blobs")
        growingDB = env.database("growing")
        tombstoneDB = env.database("tombstones")
        pkDB = env.database("pks")
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

    // MARK: Recovery

    private static func recover(
        env: Environment, meta: LMDBDatabase, blobs: LMDBDatabase, growingDB: LMDBDatabase, tombstoneDB: LMDBDatabase,
        codec: RowCodec, dims: [Int], verify: Bool, shard: Int, indexes: IndexRegistry, readOnly: Bool
    ) throws -> ShardSnapshot {
        let manifest: ShardManifest = try env.read { txn in
            guard let stored = try txn.get(meta, key: manifestKey) else { return ShardManifest() }
            let payload = try Blob.decode(stored, kind: .manifest, what: "shard \(shard) manifest")
            return try JSONDecoder().decode(ShardManifest.self, from: Data(payload))
        }
        var snap = ShardSnapshot(growing: GrowingSegment(id: manifest.growingSegment), manifest: manifest)
        var staleIndexKeys: [[UInt8]] = []
        for record in manifest.sealed {
            var seg = try mapSealed(id: record.id, rows: record.rows, env: env, blobs: blobs, codec: codec, dims: dims, verify: verify)
            for (f, field) in codec.vectorFields.enumerated() {
                // Index blobs of this field, newest generation last; use the newest one that matches the
                // current spec, delete the rest (nothing maps them yet at open).
                var found: [([UInt8], UInt32)] = []
                try env.read { txn in
                    try txn.forEach(blobs, prefix: SegmentKeys.indexPrefix(record.id, field: f)) { key, _ in
                        var r = ByteReader(key)
                        r.skip(9)
                        found.append((Array(key), r.u32be()))
                    }
                }
                snap.nextIndexGeneration = max(snap.nextIndexGeneration, (found.map(\.1).max() ?? 0) + 1)
                var chosen: [UInt8]?
                if let spec = indexes.spec(for: field.name), spec.isBuilt, let newest = found.last {
                    let what = "segment \(record.id) \(spec.kind.rawValue) index of field '\(field.name)'"
                    if let blob = try env.mapBlob(blobs, key: newest.0, kind: .index, verifyChecksum: verify, what: what) {
                        // A blob of another kind (the spec changed before a crash) is rebuilt.
                        if let index = try? spec.open(stored: blob.bytes, owner: blob, vectors: seg.vectors[f], storedNormalized: field.storesNormalizedVectors),
                           index.matches(spec, rows: seg.rowCount) {
                            seg = seg.withIndex(index, field: f)
                            chosen = newest.0
                        }
                    }
                }
                staleIndexKeys += found.map(\.0).filter { $0 != chosen }
            }
            snap.sealed.append(seg)
        }
        if !staleIndexKeys.isEmpty && !readOnly {
            try env.write { txn in for k in staleIndexKeys { try txn.delete(blobs, key: k) } }
        }
        // Growing segment: replay its batch records in order.
        var pendingRows: [PreparedRow] = []
        var nextSeq: UInt64 = 0
        try env.read { txn in
            try txn.forEach(growingDB, prefix: SegmentKeys.be32(manifest.growingSegment)) { key, value in
                var k = ByteReader(key)
                k.skip(4)
                let seq = k.u64be()
                nextSeq = seq + 1
                let payload = try Blob.decode(value, kind: .growingBatch, what: "shard \(shard) growing batch \(seq)")
                let (first, rows) = BatchRecord.decode(payload, pkIsInt: codec.schema.primaryKey.dataType == .int64, dims: dims)
                precondition(first == snap.growing.rowCount + pendingRows.count, "growing batches out of order")
                pendingRows.append(contentsOf: rows)
                if pendingRows.count >= GrowingBlock.maxRows {
                    snap.growing.append(pendingRows, dims: dims)
                    pendingRows.removeAll(keepingCapacity: true)
                }
            }
            try txn.forEach(tombstoneDB) { key, _ in
                var k = ByteReader(key)
                let seg = k.u32be()
                let row = k.u32be()
                if snap.tombstones[seg, default: Bitset()].insert(Int(row)) { snap.deletedCount += 1 }
                return true
            }
        }
        snap.growing.append(pendingRows, dims: dims)
        snap.nextBatchSeq = nextSeq
        return snap
    }

    private static func mapSealed(
        id: UInt32, rows: Int, env: Environment, blobs: LMDBDatabase, codec: RowCodec, dims: [Int], verify: Bool
    ) throws -> SealedSegment {
        var vectors: [MatrixView] = []
        for (f, d) in dims.enumerated() {
            let what = "segment \(id) vectors of field '\(codec.vectorFields[f].name)'"
            guard let blob = try env.mapBlob(blobs, key: SegmentKeys.vectors(id, field: f), kind: .vectors, verifyChecksum: verify, what: what) else {
                throw StorageError.corrupted(what: what, reason: "missing")
            }
            guard blob.count == rows * d * 4 else {
                throw StorageError.corrupted(what: what, reason: "\(blob.count) bytes, expected \(rows) rows of \(d) floats")
            }
            vectors.append(MatrixView.inPlaceOrCopy(bytes: blob.bytes, dim: d, owner: blob))
        }
        var inverseNorms: [MatrixView] = []
        for (f, v) in vectors.enumerated() {
            let what = "segment \(id) norms of field '\(codec.vectorFields[f].name)'"
            if let blob = try env.mapBlob(blobs, key: SegmentKeys.inverseNorms(id, field: f), kind: .inverseNorms, verifyChecksum: verify, what: what) {
                guard blob.count == rows * 4 else { throw StorageError.corrupted(what: what, reason: "\(blob.count) bytes, expected \(rows) floats") }
                inverseNorms.append(MatrixView.inPlaceOrCopy(bytes: blob.bytes, dim: 1, owner: blob))
            } else {
                inverseNorms.append(v.inverseNorms())  // sealed before norms were stored
            }
        }
        let what = "segment \(id) primary keys"
        guard let pks = try env.mapBlob(blobs, key: SegmentKeys.pks(id), kind: .primaryKeys, verifyChecksum: verify, what: what) else {
            throw StorageError.corrupted(what: what, reason: "missing")
        }
        let partitions = try env.read { txn -> PartitionColumn in
            let what = "segment \(id) partitions"
            guard let stored = try txn.get(blobs, key: SegmentKeys.partitions(id)) else { return PartitionColumn(rows: rows) }
            let payload = try Blob.decode(stored, kind: .partitions, what: what)
            guard payload.count == rows * 2 else {
                throw StorageError.corrupted(what: what, reason: "\(payload.count) bytes, expected \(rows) rows of 2 bytes")
            }
            return PartitionColumn((0..<rows).map { UInt16(payload[2 * $0]) | UInt16(payload[2 * $0 + 1]) << 8 })
        }
        return SealedSegment(id: id, rowCount: rows, vectors: vectors, inverseNorms: inverseNorms, pks: pks,
                             pkIsInt: codec.schema.primaryKey.dataType == .int64, environment: env, blobs: blobs, partitions: partitions)
    }

    // MARK: Writes

    /// Queues `op` for the writer and returns once it is durably committed (or failed).
    ///
    /// - Returns: rows inserted / upserted / deleted.
    func submit(_ op: WriteOp) async throws -> Int {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int, any Error>) in
            enqueue(op) { cont.resume(with: $0) }
        }
    }

    /// Queues `op`; `completion` runs on the writer's thread after the op committed or failed.
    func enqueue(_ op: WriteOp, completion: @escaping WriteCompletion) {
        if configuration.readOnly {
            completion(.failure(VireoError.readOnlyDatabase))
            return
        }
        let schedule = pending.withLock { p -> Bool in
                p.ops.append((op, completion))
                if p.draining { return false }
                p.draining = true
                return true
            }
            guard schedule else { return }
            // The shard is held only while a group is applied (`self?.drainOnce()`), never while
            // callers are resumed: once a caller has its acknowledgement it may drop the last
            // reference, and the environment must then close at once (so the directory can be
            // reopened), not when this thread gets around to it.
            queue.async { [weak self] in
                while true {
                    guard let (resumptions, more) = self?.drainOnce() else { return }
                    for (c, r) in resumptions { c(r) }
                    if !more { return }
                }
            }
    }

    typealias Resumption = (WriteCompletion, Result<Int, any Error>)

    /// Takes every queued write and applies it. Returns who to resume, and whether more writes
    /// arrived meanwhile; when none did, draining has already ended (a later submit starts a new
    /// drain), so the caller must not touch the shard again.
    private func drainOnce() -> ([Resumption], Bool) {
        let batch = pending.withLock { p -> [(WriteOp, WriteCompletion)] in
            let b = p.ops
            p.ops.removeAll()
            if b.isEmpty { p.draining = false }
            return b
        }
        if batch.isEmpty { return ([], false) }
        let resumptions = process(batch)
        let more = pending.withLock { p -> Bool in
            if p.ops.isEmpty { p.draining = false }
            return p.draining
        }
        return (resumptions, more)
    }

    private func process(_ batch: [(WriteOp, WriteCompletion)]) -> [Resumption] {
        var out: [Resumption] = []
        var snap = snapshot
        var results = [Result<Int, any Error>?](repeating: nil, count: batch.count)
        var sealRequested: [Int] = []
        var indexOps: [Int] = []
        let dataOps = batch.indices.filter { i in
            switch batch[i].0 {
            case .insert, .upsert, .delete: return true
            case .seal: sealRequested.append(i)
            case .attachIndex, .detachIndexes: indexOps.append(i)
            }
            return false
        }
        if !dataOps.isEmpty {
            var staged = snap
            do {
                try environment.write { txn in
                    for i in dataOps {
                        var attempt = staged
                        do {
                            let n = try txn.nested { child in try apply(batch[i].0, txn: child, snap: &attempt) }
                            staged = attempt
                            results[i] = .success(n)
                        } catch let e as VireoError {
                            results[i] = .failure(e)
                        }
                    }
                }
                snap = staged
            } catch {
                // The commit itself failed: nothing of this group is durable.
                let wrapped = VireoError.storage(error, "writing to shard \(index) of collection '\(codec.schema.name)'")
                for i in dataOps where results[i] == nil || (try? results[i]!.get()) != nil { results[i] = .failure(wrapped) }
            }
            published.withLock { $0 = snap }
            for i in dataOps { out.append((batch[i].1, results[i] ?? .failure(VireoError(.storageFailure, kind: .internal, "write was not applied")))) }
        }
        if !sealRequested.isEmpty || snap.growing.rowCount >= configuration.sealRows {
            let outcome: Result<Int, any Error>
            do {
                let sealed = snap.growing.rowCount
                try seal(&snap)
                published.withLock { $0 = snap }
                outcome = .success(sealed)
            } catch {
                outcome = .failure(VireoError.storage(error, "sealing a segment of shard \(index) of collection '\(codec.schema.name)'"))
            }
            for i in sealRequested { out.append((batch[i].1, outcome)) }
            if case .success = outcome { scheduleMissingIndexBuilds(in: snap) }
        }
        for i in indexOps {
            let outcome: Result<Int, any Error>
            do {
                switch batch[i].0 {
                case let .attachIndex(segment, field, index):
                    try attachIndex(segment: segment, field: field, index: index, snap: &snap)
                case let .detachIndexes(field):
                    snap.sealed = snap.sealed.map { $0.withoutIndex(field: field) }
                default:
                    preconditionFailure("not an index op")
                }
                published.withLock { $0 = snap }
                outcome = .success(0)
            } catch {
                outcome = .failure(VireoError.storage(error, "storing an index of shard \(index) of collection '\(codec.schema.name)'"))
            }
            out.append((batch[i].1, outcome))
        }
        return out
    }

    // MARK: Indexes

    /// Stores a built index as a blob (a new generation key, so a graph a reader may still use is
    /// never overwritten), maps it in place and swaps the segment in the snapshot.
    private func attachIndex(segment: UInt32, field f: Int, index built: any SegmentIndex, snap: inout ShardSnapshot) throws {
        guard let pos = snap.sealed.firstIndex(where: { $0.id == segment }) else { return }
        let name = codec.vectorFields[f].name
        guard let spec = indexes.spec(for: name), built.matches(spec, rows: snap.sealed[pos].rowCount) else { return }
        let key = SegmentKeys.index(segment, field: f, generation: snap.nextIndexGeneration)
        snap.nextIndexGeneration += 1
        try environment.write { txn in
            try Blob.writeInPlace(txn, blobs, key: key, kind: .index, payloadCount: built.byteCount) { buf in built.serialize(into: buf) }
        }
        let seg = snap.sealed[pos]
        let what = "segment \(segment) \(spec.kind.rawValue) index of field '\(name)'"
        guard let blob = try environment.mapBlob(blobs, key: key, kind: .index, verifyChecksum: false, what: what),
              let mapped = try spec.open(stored: blob.bytes, owner: blob, vectors: seg.vectors[f], storedNormalized: codec.vectorFields[f].storesNormalizedVectors) else {
            throw StorageError.corrupted(what: what, reason: "missing right after it was written")
        }
        snap.sealed[pos] = seg.withIndex(mapped, field: f)
    }

    /// Queues a build for every sealed segment that lacks the index its field's spec asks for.
    func scheduleMissingIndexBuilds(in snap: ShardSnapshot? = nil) {
        let snap = snap ?? snapshot
        for (f, field) in codec.vectorFields.enumerated() {
            guard let spec = indexes.spec(for: field.name), spec.isBuilt else { continue }
            for seg in snap.sealed where seg.indexes[f] == nil {
                let segmentID = seg.id
                builder.schedule(rows: seg.rowCount) { [weak self] progress in
                    self?.buildIndex(segment: segmentID, field: f, progress: progress)
                }
            }
        }
    }

    /// Runs on the index builder's thread: builds the graph from the mapped vectors (all cores),
    /// then hands it to the writer and waits until it is stored and in use.
    private func buildIndex(segment: UInt32, field f: Int, progress: IndexBuildProgress) {
        let snap = snapshot
        guard let seg = snap.sealed.first(where: { $0.id == segment }), seg.indexes[f] == nil,
              let spec = indexes.spec(for: codec.vectorFields[f].name), spec.isBuilt else { return }
        let built: any SegmentIndex
        do {
            guard let b = try spec.build(vectors: seg.vectors[f], storedNormalized: codec.vectorFields[f].storesNormalizedVectors,
                                         configuration: configuration, progress: progress) else { return }
            built = b
        } catch {
            return  // parameters were validated when the spec was created
        }
        let done = DispatchSemaphore(value: 0)
        enqueue(.attachIndex(segment: segment, field: f, index: built)) { _ in done.signal() }
        done.wait()
    }

    /// Applies one request inside (nested) transaction `txn`, updating `snap` to match.
    private func apply(_ op: WriteOp, txn: WriteTransaction, snap: inout ShardSnapshot) throws -> Int {
        switch op {
        case let .insert(rows):
            return try appendRows(rows, replacing: false, txn: txn, snap: &snap)
        case let .upsert(rows):
            return try appendRows(rows, replacing: true, txn: txn, snap: &snap)
        case let .delete(keys):
            var n = 0
            for key in keys {
                let k = key.storageKey
                guard let loc = try txn.get(pkDB, key: k).map(RowLocation.init) else { continue }
                try tombstone(loc, txn: txn, snap: &snap)
                try txn.delete(pkDB, key: k)
                n += 1
            }
            return n
        case .seal, .attachIndex, .detachIndexes:
            preconditionFailure("seal and index ops are handled outside the group transaction")
        }
    }

    private func appendRows(_ rows: [PreparedRow], replacing: Bool, txn: WriteTransaction, snap: inout ShardSnapshot) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        let seg = snap.growing.id
        let first = snap.growing.rowCount
        guard first + rows.count < Int(UInt32.max) else {
            throw VireoError(.storageFailure, kind: .internal, "growing segment is full; lower Configuration.sealRows")
        }
        for (j, row) in rows.enumerated() {
            let loc = RowLocation(segment: seg, row: UInt32(first + j))
            let key = row.pk.storageKey
            if replacing {
                if let old = try txn.get(pkDB, key: key).map(RowLocation.init) {
                    try tombstone(old, txn: txn, snap: &snap)
                }
                try txn.put(pkDB, key: key, value: loc.bytes)
            } else {
                do {
                    try txn.put(pkDB, key: key, value: loc.bytes, noOverwrite: true)
                } catch let e as StorageError where e.lmdbCode == .keyExists {
                    throw VireoError(.primaryKeyExists, kind: .conflict,
                                     "primary key \(row.pk) already exists in collection '\(codec.schema.name)'; use upsert to replace it. Nothing from this request was written")
                }
            }
        }
        let record = BatchRecord.encode(firstRow: first, rows: rows)
        try Blob.write(txn, growingDB, key: SegmentKeys.batch(seg, seq: snap.nextBatchSeq), kind: .growingBatch, payload: record, compress: false)
        snap.nextBatchSeq += 1
        snap.growing.append(rows, dims: dims)
        return rows.count
    }

    private func tombstone(_ loc: RowLocation, txn: WriteTransaction, snap: inout ShardSnapshot) throws {
        try txn.put(tombstoneDB, key: SegmentKeys.tombstone(loc), value: [])
        if snap.tombstones[loc.segment, default: Bitset()].insert(Int(loc.row)) { snap.deletedCount += 1 }
    }

    /// Seals the growing segment: writes its vectors, keys and scalars as checksummed blobs, drops its
    /// batch records and records it in the manifest, all in one transaction; then maps it in place.
    private func seal(_ snap: inout ShardSnapshot) throws {
        let g = snap.growing
        guard g.rowCount > 0 else { return }
        let id = g.id
        var manifest = snap.manifest
        manifest.sealed.append(.init(id: id, rows: g.rowCount))
        manifest.growingSegment = manifest.nextSegmentId
        manifest.nextSegmentId += 1
        let manifestBytes = try Array(JSONEncoder().encode(manifest))
        try environment.write { txn in
            for (f, d) in dims.enumerated() {
                try Blob.writeInPlace(txn, blobs, key: SegmentKeys.vectors(id, field: f), kind: .vectors, payloadCount: g.rowCount * d * 4) { buf in
                    MatrixView.concatenate(g.blocks.map { $0.vectors[f] }, into: buf)
                }
                try Blob.writeInPlace(txn, blobs, key: SegmentKeys.inverseNorms(id, field: f), kind: .inverseNorms, payloadCount: g.rowCount * 4) { buf in
                    MatrixView.concatenate(g.blocks.map { $0.inverseNorms[f] }, into: buf)
                }
            }
            var pkw = ByteWriter()
            let allPKs = g.blocks.flatMap(\.pks)
            if codec.schema.primaryKey.dataType == .int64 {
                for pk in allPKs { if case let .int(i) = pk { pkw.i64(i) } }
            } else {
                var offset: UInt32 = 0
                var body: [UInt8] = []
                pkw.u32(0)
                for pk in allPKs {
                    if case let .string(s) = pk { body.append(contentsOf: s.utf8) }
                    offset = UInt32(body.count)
                    pkw.u32(offset)
                }
                pkw.bytes.append(contentsOf: body)
            }
            try Blob.write(txn, blobs, key: SegmentKeys.pks(id), kind: .primaryKeys, payload: pkw.bytes, compress: false)
            let allScalars = g.blocks.flatMap(\.scalars)
            var chunk = 0
            var start = 0
            while start < allScalars.count {
                let end = min(start + SealedSegment.scalarChunkRows, allScalars.count)
                var w = ByteWriter()
                w.u32(UInt32(end - start))
                for s in allScalars[start..<end] { w.raw(s) }
                try Blob.write(txn, blobs, key: SegmentKeys.scalars(id, chunk: chunk), kind: .scalars, payload: w.bytes, compress: true)
                chunk += 1
                start = end
            }
            for (ordinal, field) in codec.schema.fields.enumerated() where !field.isPrimaryKey && !field.dataType.isVector {
                let column = ColumnCache.decode(field: field, rows: allScalars.count, codec: codec, encodedRows: allScalars)
                guard let payload = ColumnCodec.encode(column, rows: allScalars.count) else { continue }
                try Blob.write(txn, blobs, key: SegmentKeys.column(id, field: ordinal), kind: .column, payload: payload, compress: true)
            }
            let partitionIDs = g.blocks.flatMap { $0.partitions.all(count: $0.count) }
            if partitionIDs.contains(where: { $0 != 0 }) {
                var w = ByteWriter()
                w.bytes.reserveCapacity(partitionIDs.count * 2)
                for p in partitionIDs { w.u8(UInt8(p & 0xFF)); w.u8(UInt8(p >> 8)) }
                try Blob.write(txn, blobs, key: SegmentKeys.partitions(id), kind: .partitions, payload: w.bytes, compress: true)
            }
            try txn.deletePrefix(growingDB, prefix: SegmentKeys.be32(id))
            try Blob.write(txn, meta, key: Shard.manifestKey, kind: .manifest, payload: manifestBytes, compress: false)
        }
        let sealed = try Shard.mapSealed(id: id, rows: g.rowCount, env: environment, blobs: blobs, codec: codec, dims: dims, verify: false)
        snap.sealed.append(sealed)
        snap.growing = GrowingSegment(id: manifest.growingSegment)
        snap.nextBatchSeq = 0
        snap.manifest = manifest
    }

    // MARK: Reads

    /// Where `key` is stored, if it is live in `snap`.
    func locate(_ key: PrimaryKey, in snap: ShardSnapshot) throws -> RowLocation? {
        let loc = try environment.read { txn in try txn.get(pkDB, key: key.storageKey).map(RowLocation.init) }
        guard let loc, snap.isLive(loc) else { return nil }
        return loc
    }

    /// The largest Int64 primary key stored (for auto-id allocation).
    func maxIntKey() throws -> Int64? {
        try environment.read { txn in
            guard let k = try txn.lastKey(pkDB), k.count == 8 else { return nil }
            return k.withUnsafeBytes { b -> Int64? in
                if case let .int(i) = PrimaryKey.fromStorageKey(b, isInt: true) { return i }
                return nil
            }
        }
    }

    /// Rows of each segment of `snap` that are live, in an allowed partition (nil: any) and satisfy
    /// `filter` (nil: every row), by segment id. Segments holding no allowed partition are empty sets
    /// without reading a column.
    func select(_ filter: Filter?, partitions allowed: Set<UInt16>?, in snap: ShardSnapshot, budget: WorkBudget? = nil) throws -> [UInt32: Bitset] {
        var out: [UInt32: Bitset] = [:]
        let fields = codec.schema.fields
        for seg in snap.sealed {
            try budget?.check("the filter")
            out[seg.id] = try select(filter, partitions: allowed, rows: seg.rowCount, partitionColumn: seg.partitions,
                                     tombstones: snap.tombstones[seg.id], columns: seg.columns,
                                     stored: { name in try fields.firstIndex { $0.name == name }.flatMap { try seg.storedColumn(ordinal: $0, name: name) } },
                                     indexed: { name in self.indexes.spec(for: name)?.kind.isScalar == true },
                                     encodedRows: { try (0..<((seg.rowCount + SealedSegment.scalarChunkRows - 1) / SealedSegment.scalarChunkRows)).flatMap { try seg.scalarChunk($0) } },
                                     primaryKey: { seg.primaryKey(row: $0) })
        }
        var bits = Bitset(capacity: snap.growing.rowCount)
        let tomb = snap.tombstones[snap.growing.id]
        for block in snap.growing.blocks {
            let blockBits = try select(filter, partitions: allowed, rows: block.count, partitionColumn: block.partitions, tombstones: nil,
                                       columns: block.columns, stored: { _ in nil }, indexed: { _ in false },
                                       encodedRows: { block.scalars }, primaryKey: { block.pks[$0] })
            for i in 0..<block.count where blockBits.contains(i) && tomb?.contains(block.firstRow + i) != true {
                bits.insert(block.firstRow + i)
            }
        }
        out[snap.growing.id] = bits
        return out
    }

    /// ``select(_:partitions:in:)`` for one segment or block.
    private func select(
        _ filter: Filter?, partitions allowed: Set<UInt16>?, rows: Int, partitionColumn: PartitionColumn, tombstones: Bitset?,
        columns: ColumnCache, stored: @escaping (String) throws -> ScalarColumn?, indexed: @escaping (String) -> Bool,
        encodedRows: @escaping () throws -> [[UInt8]], primaryKey: (Int) -> PrimaryKey
    ) throws -> Bitset {
        let partitionMask = allowed.flatMap { partitionColumn.mask(rows: rows, allowed: $0) }
        if let partitionMask, partitionMask.isEmpty { return partitionMask }
        var bits: Bitset
        if let filter {
            // Columnar path: typed columns decoded once per segment, predicates as bitset passes.
            let codec = self.codec
            let column = { (name: String) throws -> ScalarColumn in
                try columns.column(name, field: codec.schema.field(named: name), rows: rows, codec: codec,
                                   stored: { try stored(name) }, encodedRows: encodedRows)
            }
            let columnar = ColumnarFilter(rows: rows, column: column) { name in
                indexed(name) ? try columns.index(name) { try column(name) } : nil
            }
            if let b = try columnar.evaluate(filter.root) {
                bits = b
            } else {
                let wanted = filter.fieldNames
                let pkName = codec.schema.primaryKey.name
                let needsPK = wanted.contains(pkName)
                bits = Bitset(capacity: rows)
                var values: [String: JSONValue] = [:]
                for (i, encoded) in try encodedRows().enumerated() where tombstones?.contains(i) != true && partitionMask?.contains(i) != false {
                    values.removeAll(keepingCapacity: true)
                    if needsPK { values[pkName] = primaryKey(i).fieldValue.jsonValue }
                    encoded.withUnsafeBytes { codec.filterValues($0, wanted: wanted, into: &values) }
                    if filter.matches(values: values) { bits.insert(i) }
                }
            }
        } else {
            bits = Bitset(capacity: rows).inverted()
        }
        if let tombstones { bits = bits.subtracting(tombstones) }
        if let partitionMask { bits = bits.subtracting(partitionMask.inverted()) }
        return bits
    }

    /// Materialises the requested fields of the row at `loc`.
    func materialize(_ loc: RowLocation, in snap: ShardSnapshot, fields: FieldSelection) throws -> (PrimaryKey, Row) {
        var row = Row()
        let r = Int(loc.row)
        let pk: PrimaryKey
        var vectors: [[Float]] = []
        var scalars: [UInt8] = []
        if loc.segment == snap.growing.id, let block = snap.growing.block(containing: r) {
            let i = r - block.firstRow
            pk = block.pks[i]
            if fields.needsVectors { vectors = block.vectors.map { $0.rowArray(i) } }
            if fields.needsScalars { scalars = block.scalars[i] }
        } else if let seg = snap.sealed.first(where: { $0.id == loc.segment }) {
            pk = seg.primaryKey(row: r)
            if fields.needsVectors { vectors = seg.vectors.map { $0.rowArray(r) } }
            if fields.needsScalars { scalars = try seg.scalars(row: r) }
        } else {
            throw VireoError(.corrupted, kind: .internal, "row \(loc) is not in shard \(index)")
        }
        if fields.includesPrimaryKey { row[codec.schema.primaryKey.name] = pk.fieldValue }
        for (f, field) in codec.vectorFields.enumerated() where fields.includes(field.name) {
            row[field.name] = .floatVector(vectors[f])
        }
        if fields.needsScalars {
            scalars.withUnsafeBytes { codec.decodeScalars($0, wanted: fields.scalarNames, into: &row) }
        }
        return (pk, row)
    }
}

/// Which fields a read returns.
struct FieldSelection: Sendable {
    var all: Bool
    var names: Set<String>
    let schema: CollectionSchema

    func includes(_ name: String) -> Bool { all || names.contains(name) }
    var includesPrimaryKey: Bool { true }
    var needsVectors: Bool { schema.vectorFields.contains { includes($0.name) } }
    var needsScalars: Bool { all || !names.subtracting(schema.vectorFields.map(\.name)).subtracting([schema.primaryKey.name]).isEmpty }
    /// Scalar names to decode (nil = all).
    var scalarNames: Set<String>? { all ? nil : names }
}

/// The growing-segment batch record: `u32 firstRow, u32 count`, then per row the primary key
/// (Int64, or u32 length + UTF-8), each vector field's floats, and the encoded scalars (u32 length +
/// bytes).
enum BatchRecord {
    static func encode(firstRow: Int, rows: [PreparedRow]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(firstRow))
        w.u32(UInt32(rows.count))
        for r in rows {
            switch r.pk {
            case let .int(i): w.i64(i)
            case let .string(s): w.string(s)
            }
            for v in r.vectors { w.floats(v) }
            w.raw(r.scalars)
        }
        // Partition ids trail the rows (absent when all are 0, so older records read the same).
        if rows.contains(where: { $0.partition != 0 }) {
            w.u8(1)
            for r in rows { w.u32(UInt32(r.partition)) }
        }
        return w.bytes
    }

    static func decode(_ payload: [UInt8], pkIsInt: Bool, dims: [Int]) -> (Int, [PreparedRow]) {
        payload.withUnsafeBytes { buf in
            var r = ByteReader(buf)
            let first = Int(r.u32())
            let n = Int(r.u32())
            var rows: [PreparedRow] = []
            rows.reserveCapacity(n)
            for _ in 0..<n {
                let pk: PrimaryKey = pkIsInt ? .int(r.i64()) : .string(r.string())
                var vectors: [[Float]] = []
                for d in dims { vectors.append(r.floats(d)) }
                rows.append(PreparedRow(pk: pk, vectors: vectors, scalars: r.raw()))
            }
            if !r.isAtEnd, r.u8() == 1 {
                for i in rows.indices { rows[i].partition = UInt16(truncatingIfNeeded: r.u32()) }
            }
            return (first, rows)
        }
    }
}
