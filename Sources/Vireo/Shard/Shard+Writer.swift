import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

extension Shard {
    // MARK: Writes

    /// Queues `op` for the writer and returns once it is durably committed (or failed).
    ///
    /// - Returns: rows inserted / upserted / deleted.
    func submit(_ op: WriteOp) async throws -> Int {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int, any Error>) in
            enqueue(op) { cont.resume(with: $0) }
        }
    }

    /// Queues `op` and blocks this (non-cooperative) thread until the writer applied it.
    func submitAndWait(_ op: WriteOp) throws -> Int {
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        enqueue(op) { r in
            outcome.withLock { $0 = r }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// Queues `op`; `completion` runs on the writer's thread after the op committed or failed.
    func enqueue(_ op: WriteOp, completion: @escaping WriteCompletion) {
        if configuration.readOnly {
            completion(.failure(VireoError.readOnlyDatabase))
            return
        }
        // On a full disk, writes that add data are refused before they queue; deletes go on.
        if op.addsData, let space = configuration.space, space.isDiskFull {
            completion(.failure(diskFullError))
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
    func drainOnce() -> ([Resumption], Bool) {
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

    func process(_ batch: [(WriteOp, WriteCompletion)]) -> [Resumption] {
        var out: [Resumption] = []
        var snap = snapshot
        var results = [Result<Int, any Error>?](repeating: nil, count: batch.count)
        var sealRequested: [Int] = []
        var indexOps: [Int] = []
        let dataOps = batch.indices.filter { i in
            switch batch[i].0 {
            case .insert, .upsert, .delete, .deletePartitions, .expire: return true
            case .seal: sealRequested.append(i)
            case .attachIndex, .detachIndexes, .commitCompaction, .sweep: indexOps.append(i)
            }
            return false
        }
        if !dataOps.isEmpty {
            var staged = snap
            // A group with deletes is essential: it still runs on a full disk (on the reserve).
            let essential = dataOps.contains { !batch[$0].0.addsData }
            do {
                try environment.write(essential: essential) { txn in
                    // The body may run again (after the map grew, or on the reserve after a full
                    // disk): every attempt starts from the published snapshot and no results.
                    staged = snap
                    for i in dataOps { results[i] = nil }
                    let diskFull = configuration.space?.isDiskFull ?? false
                    for i in dataOps {
                        if diskFull && batch[i].0.addsData {
                            results[i] = .failure(diskFullError)
                            continue
                        }
                        var attempt = staged
                        do {
                            let n = try txn.nested { child in try apply(batch[i].0, txn: child, snap: &attempt) }
                            staged = attempt
                            results[i] = .success(n)
                        } catch let e as VireoError {
                            results[i] = .failure(e)
                        } catch let e as StorageError where (e.lmdbCode == .mapFull && environment.canGrow) || e.isNoSpace {
                            throw e  // the whole group retries once the map grew / goes to the disk-full path
                        } catch {
                            // LMDB failed only the nested transaction: this request fails, the group goes on.
                            results[i] = .failure(VireoError.storage(error, "writing to shard \(index) of collection '\(codec.schema.name)'"))
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
        if !sealRequested.isEmpty || snap.growing.rowCount >= configuration.sealRows
            || snap.growing.approximateBytes >= configuration.sealBytes {
            let outcome: Result<Int, any Error>
            do {
                let sealed = snap.growing.rowCount
                try seal(&snap)
                published.withLock { $0 = snap }
                // The growing segment's blocks and rows went with the snapshot it was in (unless a
                // reader still holds that one): give the memory back.
                Allocator.releaseFreePages()
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
                var value = 0
                switch batch[i].0 {
                case let .attachIndex(segment, field, index):
                    try attachIndex(segment: segment, field: field, index: index, snap: &snap)
                case let .detachIndexes(field):
                    retire(snap.sealed.compactMap { seg in
                        seg.indexBlobs[field].map { RetiredBlobs(keys: [$0.key], holders: [WeakHolder(object: $0.blob)]) }
                    })
                    snap.sealed = snap.sealed.map { $0.withoutIndex(field: field) }
                    value = 0
                case let .commitCompaction(commit):
                    value = try commitCompaction(commit, snap: &snap)
                case .sweep:
                    try sweepRetired(&snap)
                    value = 0
                default:
                    preconditionFailure("not an index op")
                }
                published.withLock { $0 = snap }
                outcome = .success(value)
            } catch {
                outcome = .failure(VireoError.storage(error, "maintaining segments of shard \(index) of collection '\(codec.schema.name)'"))
            }
            out.append((batch[i].1, outcome))
        }
        // An index build or a compaction just freed its working memory (graphs under construction,
        // gathered rows): give it back rather than leave it in the allocator's arenas.
        if indexOps.contains(where: { if case .sweep = batch[$0].0 { return false } else { return true } }) {
            Allocator.releaseFreePages()
        }
        // Blobs retired earlier (a compacted segment, a replaced index) whose last reader is gone.
        if retired.withLock({ $0.contains(where: \.isFree) }) {
            if (try? sweepRetired(&snap)) != nil { published.withLock { $0 = snap } }
        }
        return out
    }

    /// The error of a write refused because the disk is full.
    var diskFullError: VireoError {
        VireoError.storage(StorageError.diskFull(path: environment.path), "writing to shard \(index) of collection '\(codec.schema.name)'")
    }

    /// Applies one request inside (nested) transaction `txn`, updating `snap` to match.
    func apply(_ op: WriteOp, txn: WriteTransaction, snap: inout ShardSnapshot) throws -> Int {
        switch op {
        case let .insert(rows):
            return try appendRows(rows, replacing: false, txn: txn, snap: &snap)
        case let .upsert(rows):
            return try appendRows(rows, replacing: true, txn: txn, snap: &snap)
        case let .delete(keys):
            var n = 0
            for key in keys {
                guard let loc = try self.keys.remove(key, in: txn) else { continue }
                try tombstone(loc, txn: txn, snap: &snap)
                n += 1
            }
            return n
        case let .deletePartitions(ids):
            var n = 0
            func drop(_ loc: RowLocation, _ pk: PrimaryKey) throws {
                guard snap.tombstones[loc.segment]?.contains(Int(loc.row)) != true else { return }
                try tombstone(loc, txn: txn, snap: &snap)
                try self.keys.remove(pk, ifAt: loc, in: txn)
                n += 1
            }
            for seg in snap.sealed where !seg.partitions.present.isDisjoint(with: ids) {
                for row in 0..<seg.rowCount where ids.contains(seg.partitions.partition(of: row)) {
                    try drop(RowLocation(segment: seg.id, row: UInt32(row)), seg.primaryKey(row: row))
                }
            }
            for block in snap.growing.blocks where !block.partitions.present.isDisjoint(with: ids) {
                for i in 0..<block.count where ids.contains(block.partitions.partition(of: i)) {
                    try drop(RowLocation(segment: snap.growing.id, row: UInt32(block.firstRow + i)), block.pks[i])
                }
            }
            return n
        case let .expire(cutoff):
            return try expireRows(cutoff: cutoff, txn: txn, snap: &snap)
        case .seal, .attachIndex, .detachIndexes, .commitCompaction, .sweep:
            preconditionFailure("seal and index ops are handled outside the group transaction")
        }
    }

    func appendRows(_ rows: [PreparedRow], replacing: Bool, txn: WriteTransaction, snap: inout ShardSnapshot) throws -> Int {
        guard !rows.isEmpty else { return 0 }
        // Every row of a batch gets the writer's clock as its insert time (what a TTL counts from).
        let now = expiry.nowMillis
        let cutoff = expiry.cutoff()
        var rows = rows
        for i in rows.indices { rows[i].insertedAt = now }
        let seg = snap.growing.id
        let first = snap.growing.rowCount
        guard first + rows.count < Int(UInt32.max) else {
            throw VireoError(.storageFailure, kind: .internal, "growing segment is full; lower Configuration.sealRows")
        }
        for (j, row) in rows.enumerated() {
            let loc = RowLocation(segment: seg, row: UInt32(first + j))
            if replacing {
                if let old = try keys.set(row.pk, at: loc, in: txn) {
                    try tombstone(old, txn: txn, snap: &snap)
                }
            } else {
                if try keys.insert(row.pk, at: loc, in: txn) { continue }
                if let cutoff, let old = try keys.location(of: row.pk, in: txn), snap.insertTime(of: old) <= cutoff {
                    // The stored row with this key expired (not yet compacted away): it is gone for
                    // readers, so the insert replaces it.
                    _ = try keys.set(row.pk, at: loc, in: txn)
                    try tombstone(old, txn: txn, snap: &snap)
                    continue
                }
                throw VireoError(.primaryKeyExists, kind: .conflict,
                                 "primary key \(row.pk) already exists in collection '\(codec.schema.name)'; use upsert to replace it. Nothing from this request was written")
            }
        }
        let record = BatchRecord.encode(firstRow: first, rows: rows, elements: elements)
        try Blob.write(txn, growingDB, key: SegmentKeys.batch(seg, seq: snap.nextBatchSeq), kind: .growingBatch, payload: record, compress: false)
        snap.nextBatchSeq += 1
        snap.growing.append(rows, dims: dims)
        return rows.count
    }

    func tombstone(_ loc: RowLocation, txn: WriteTransaction, snap: inout ShardSnapshot) throws {
        try txn.put(tombstoneDB, key: SegmentKeys.tombstone(loc), value: [])
        if snap.tombstones[loc.segment, default: Bitset()].insert(Int(loc.row)) { snap.deletedCount += 1 }
    }

}
