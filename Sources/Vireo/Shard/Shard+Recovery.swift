import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

extension Shard {
    // MARK: Recovery

    static func recover(
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
                    let prefix = SegmentKeys.indexPrefix(record.id, field: f)
                    let keyLength = prefix.count + 4  // + generation
                    try txn.forEach(blobs, prefix: prefix) { key, _ in
                        // One blob's key, or its chunks' (the key + a chunk number): one entry per generation.
                        guard key.count >= keyLength else { return }
                        var r = ByteReader(key)
                        r.skip(prefix.count)
                        let generation = r.u32be()
                        if found.last?.1 != generation { found.append((Array(key.prefix(keyLength)), generation)) }
                    }
                }
                snap.nextIndexGeneration = max(snap.nextIndexGeneration, (found.map(\.1).max() ?? 0) + 1)
                var chosen: [UInt8]?
                if let spec = indexes.spec(for: field.name), spec.isBuilt, let newest = found.last {
                    let what = "segment \(record.id) \(spec.kind.rawValue) index of field '\(field.name)'"
                    // An index is derived data: a blob that fails its checksum is dropped and built
                    // again from the vectors (which are checked themselves) rather than refusing the shard.
                    if let blob = try? env.mapStoredBlob(blobs, key: newest.0, kind: .index, verifyChecksum: verify, what: what) {
                        // A blob of another kind (the spec changed before a crash) is rebuilt.
                        if let index = try? spec.open(stored: blob.bytes, owner: blob, vectors: seg.vectors[f].floatMatrix(), nulls: seg.nullVectors[f], storedNormalized: field.storesNormalizedVectors),
                           index.matches(spec, rows: seg.rowCount) {
                            seg = seg.withIndex(index, field: f, stored: StoredIndex(key: newest.0, blob: blob))
                            chosen = newest.0
                        }
                    }
                }
                staleIndexKeys += found.map(\.0).filter { $0 != chosen }
            }
            snap.sealed.append(seg)
        }
        if !staleIndexKeys.isEmpty && !readOnly {
            // Essential: it only frees pages, so it also runs on a full disk (the shard must open).
            try env.write(essential: true) { txn in for k in staleIndexKeys { _ = try txn.deletePrefix(blobs, prefix: k) } }
        }
        // Segments a compaction replaced before the process stopped: nothing maps them now.
        if let retired = manifest.retired, !readOnly {
            var cleaned = manifest
            cleaned.retired = nil
            let bytes = try Array(JSONEncoder().encode(cleaned))
            try env.write(essential: true) { txn in
                try deleteSegments(retired, blobs: blobs, tombstones: tombstoneDB, txn: txn)
                try Blob.write(txn, meta, key: manifestKey, kind: .manifest, payload: bytes, compress: false)
            }
            snap.manifest = cleaned
        }
        if !readOnly { try removeUnrecordedBlobs(env: env, blobs: blobs, manifest: snap.manifest) }
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
                let (first, rows) = BatchRecord.decode(payload, pkIsInt: codec.schema.primaryKey.dataType == .int64, dims: dims,
                                                   elements: codec.vectorFields.map { VectorElement($0.dataType)! })
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

    /// Deletes the blobs of segments the manifest does not record: vector chunks that a seal or a
    /// compaction stored ahead of its transaction (``stageVectorChunks(id:_:clearing:)``) and never recorded,
    /// because it failed or the process stopped. Such blobs are under the growing segment's id or an
    /// id from ``ShardManifest/nextSegmentId`` up, where no recorded segment is.
    static func removeUnrecordedBlobs(env: Environment, blobs: LMDBDatabase, manifest: ShardManifest) throws {
        var ids: [UInt32] = []
        try env.read { txn in
            // The growing segment has no blobs of its own: a key under its id is a leftover. Only the
            // first key at or after the id needs looking at.
            try txn.forEach(blobs, from: SegmentKeys.be32(manifest.growingSegment)) { key, _ in
                var r = ByteReader(key)
                if key.count >= 4, r.u32be() == manifest.growingSegment {
                    ids.append(manifest.growingSegment)
                }
                return false
            }
            try txn.forEach(blobs, from: SegmentKeys.be32(manifest.nextSegmentId)) { key, _ in
                guard key.count >= 4 else { return true }
                var r = ByteReader(key)
                let id = r.u32be()
                if ids.last != id { ids.append(id) }
                return true
            }
        }
        guard !ids.isEmpty else { return }
        // Essential: it only frees pages, so it also runs on a full disk (the shard must open).
        try env.write(essential: true) { txn in
            for id in Set(ids) { _ = try txn.deletePrefix(blobs, prefix: SegmentKeys.be32(id)) }
        }
    }

    static func mapSealed(
        id: UInt32, rows: Int, env: Environment, blobs: LMDBDatabase, codec: RowCodec, dims: [Int], verify: Bool
    ) throws -> SealedSegment {
        var vectors: [VectorRows] = []
        for (f, d) in dims.enumerated() {
            let what = "segment \(id) vectors of field '\(codec.vectorFields[f].name)'"
            guard let blob = try env.mapStoredBlob(blobs, key: SegmentKeys.vectors(id, field: f), kind: .vectors, verifyChecksum: verify, what: what) else {
                throw StorageError.corrupted(what: what, reason: "missing")
            }
            let element = VectorElement(codec.vectorFields[f].dataType)!
            let perRow = element.bytesPerVector(dim: d)
            guard blob.count == rows * perRow else {
                throw StorageError.corrupted(what: what, reason: "\(blob.count) bytes, expected \(rows) rows of \(perRow) bytes")
            }
            if element == .float32 {
                vectors.append(.float32(MatrixView.inPlaceOrCopy(bytes: blob.bytes, dim: d, owner: blob)))
            } else {
                // Compact vectors stay compact, used in place from the map: exact scans run the
                // compact kernels on them. An index on the field widens its own float32 copy.
                vectors.append(.compact(CompactMatrix.inPlaceOrCopy(bytes: blob.bytes, element: element, dim: d, owner: blob)))
            }
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
        let insertTimes = try env.read { txn -> InsertTimeColumn in
            let what = "segment \(id) insert times"
            guard let stored = try txn.get(blobs, key: SegmentKeys.insertTimes(id)) else { return InsertTimeColumn(rows: rows) }
            let payload = try Blob.decode(stored, kind: .insertTimes, what: what)
            guard payload.count == rows * 8 else {
                throw StorageError.corrupted(what: what, reason: "\(payload.count) bytes, expected \(rows) rows of 8 bytes")
            }
            return payload.withUnsafeBytes { buf in
                var r = ByteReader(buf)
                return InsertTimeColumn((0..<rows).map { _ in r.i64() })
            }
        }
        // Segments written before nullable vector fields have no such blob: every row has its vectors.
        let nullVectors = try env.read { txn -> [Bitset?] in
            try dims.indices.map { f -> Bitset? in
                let what = "segment \(id) null vectors of field '\(codec.vectorFields[f].name)'"
                guard let stored = try txn.get(blobs, key: SegmentKeys.nullVectors(id, field: f)) else { return nil }
                return try NullVectors.decode(Blob.decode(stored, kind: .nullVectors, what: what), rows: rows, what: what)
            }
        }
        return SealedSegment(id: id, rowCount: rows, vectors: vectors, inverseNorms: inverseNorms, pks: pks,
                             pkIsInt: codec.schema.primaryKey.dataType == .int64, environment: env, blobs: blobs, partitions: partitions,
                             insertTimes: insertTimes, nullVectors: nullVectors)
    }

}

/// A sealed segment's vectors are views of a mapped blob: a pass that reads them once (an index
/// build encoding them) gives their pages back as it goes.
extension MappedBlob: ReleasableResidentPages {}
