import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

extension Shard {
    // MARK: Indexes

    /// Stores a built index as a blob (a new generation key, so a graph a reader may still use is
    /// never overwritten), maps it in place and swaps the segment in the snapshot.
    func attachIndex(segment: UInt32, field f: Int, index built: any SegmentIndex, snap: inout ShardSnapshot) throws {
        guard let pos = snap.sealed.firstIndex(where: { $0.id == segment }) else { return }
        let name = codec.vectorFields[f].name
        guard let spec = indexes.spec(for: name), built.matches(spec, rows: snap.sealed[pos].rowCount) else { return }
        let key = SegmentKeys.index(segment, field: f, generation: snap.nextIndexGeneration)
        snap.nextIndexGeneration += 1
        // A large index goes in chunks, each committed on its own: it is complete (and found at the
        // next open) once the last one is, and an incomplete one is rebuilt (its chunk count).
        var clearing: UInt32? = nil
        if try !stageIndexChunks(key: key, built, clearing: &clearing) {
            try environment.write { txn in
                try Blob.writeInPlace(txn, blobs, key: key, kind: .index, payloadCount: built.byteCount) { buf in built.serialize(into: buf) }
            }
        }
        let seg = snap.sealed[pos]
        let what = "segment \(segment) \(spec.kind.rawValue) index of field '\(name)'"
        guard let blob = try environment.mapStoredBlob(blobs, key: key, kind: .index, verifyChecksum: false, what: what),
              let mapped = try spec.open(stored: blob.bytes, owner: blob, vectors: seg.vectors[f].floatMatrix(), nulls: seg.nullVectors[f], storedNormalized: codec.vectorFields[f].storesNormalizedVectors) else {
            throw StorageError.corrupted(what: what, reason: "missing right after it was written")
        }
        if let old = seg.indexBlobs[f] { retire([RetiredBlobs(keys: [old.key], holders: [WeakHolder(object: old.blob)])]) }
        snap.sealed[pos] = seg.withIndex(mapped, field: f, stored: StoredIndex(key: key, blob: blob))
    }

    /// Queues a build for every sealed segment that lacks the index its field's spec asks for.
    func scheduleMissingIndexBuilds(in snap: ShardSnapshot? = nil) {
        let snap = snap ?? snapshot
        for (f, field) in codec.vectorFields.enumerated() {
            guard let spec = indexes.spec(for: field.name), spec.isBuilt else { continue }
            // A segment whose rows all lack a vector for the field has nothing to index.
            for seg in snap.sealed where seg.indexes[f] == nil && seg.nullVectors[f]?.count != seg.rowCount {
                let segmentID = seg.id
                builder.schedule(rows: seg.rowCount) { [weak self] progress in
                    self?.buildIndex(segment: segmentID, field: f, progress: progress)
                }
            }
        }
    }

    /// Runs on the index builder's thread: builds the graph from the mapped vectors (all cores),
    /// then hands it to the writer and waits until it is stored and in use.
    func buildIndex(segment: UInt32, field f: Int, progress: IndexBuildProgress) {
        let snap = snapshot
        guard let seg = snap.sealed.first(where: { $0.id == segment }), seg.indexes[f] == nil,
              let spec = indexes.spec(for: codec.vectorFields[f].name), spec.isBuilt else { return }
        // No build on a full disk: its result could not be stored (the next seal or open schedules it).
        if configuration.space?.isDiskFull == true { return }
        let built: any SegmentIndex
        do {
            guard let b = try spec.build(vectors: seg.vectors[f].floatMatrix(), nulls: seg.nullVectors[f], storedNormalized: codec.vectorFields[f].storesNormalizedVectors,
                                         configuration: configuration, progress: progress) else { return }
            built = b
        } catch {
            return  // parameters were validated when the spec was created
        }
        _ = try? submitAndWait(.attachIndex(segment: segment, field: f, index: built))
    }

}
