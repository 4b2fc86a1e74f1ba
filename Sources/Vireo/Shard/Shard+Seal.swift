import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage
import VireoText

/// A blob of a segment in its stored form, keyed without the segment id (the 4 bytes every segment key
/// starts with).
struct EncodedBlob: Sendable {
    let keySuffix: [UInt8]
    let stored: [UInt8]
}

/// The rows of a segment about to be stored: from a growing segment's blocks (seal) or gathered from
/// the live rows of sealed segments (compaction).
struct SegmentContent: Sendable {
    var rows: Int
    /// Per vector field, the row blocks in order (seal passes the growing blocks without copying).
    var vectors: [[MatrixView]]
    /// Per vector field, `1/|row|` blocks matching ``vectors``.
    var inverseNorms: [[MatrixView]]
    var pks: [PrimaryKey]
    /// The encoded scalar part of each row.
    var scalars: [[UInt8]]
    var partitions: [UInt16]
    /// When each row was written (``InsertTimeColumn/unknown`` for rows of older versions).
    var insertTimes: [Int64]
    /// Per vector field, the rows that have no vector (nil: every row has one).
    var nullVectors: [Bitset?]

    init(rows: Int, vectors: [[MatrixView]], inverseNorms: [[MatrixView]], pks: [PrimaryKey], scalars: [[UInt8]], partitions: [UInt16],
         insertTimes: [Int64], nullVectors: [Bitset?]) {
        precondition(pks.count == rows && scalars.count == rows && partitions.count == rows && insertTimes.count == rows)
        precondition(nullVectors.count == vectors.count)
        self.nullVectors = nullVectors
        self.insertTimes = insertTimes
        self.rows = rows
        self.vectors = vectors
        self.inverseNorms = inverseNorms
        self.pks = pks
        self.scalars = scalars
        self.partitions = partitions
    }

    init(growing g: GrowingSegment) {
        self.init(rows: g.rowCount,
                  vectors: g.blocks.first.map { $0.vectors.indices.map { f in g.blocks.map { $0.vectors[f] } } } ?? [],
                  inverseNorms: g.blocks.first.map { $0.inverseNorms.indices.map { f in g.blocks.map { $0.inverseNorms[f] } } } ?? [],
                  pks: g.blocks.flatMap(\.pks), scalars: g.blocks.flatMap(\.scalars),
                  partitions: g.blocks.flatMap { $0.partitions.all(count: $0.count) },
                  insertTimes: g.blocks.flatMap { $0.insertTimes.all(count: $0.count) },
                  nullVectors: g.blocks.first.map { $0.vectors.indices.map { f in NullVectors.concatenate(g.blocks.map { ($0.nullVectors[f], $0.count) }) } } ?? [])
    }

    /// Bytes the stored segment takes before compression (vectors, norms, keys, scalars): what
    /// sealing by bytes bounds.
    var approximateBytes: Int {
        let vectorBytes = vectors.reduce(0) { $0 + $1.reduce(0) { $0 + $1.rows * ($1.dim + 1) * 4 } }
        return vectorBytes + scalars.reduce(0) { $0 + $1.count } + pks.reduce(0) { $0 + $1.storageKeyCount }
    }
}

extension Shard {
    /// Seals the growing segment: writes its vectors, keys and scalars as checksummed blobs, drops its
    /// batch records and records it in the manifest, all in one transaction (vectors past
    /// ``Configuration/vectorChunkBytes`` go ahead of it in chunks, ``stageVectorChunks(id:_:clearing:)``, so
    /// that LMDB's dirty pages never hold all of them); then maps it in place.
    func seal(_ snap: inout ShardSnapshot) throws {
        let g = snap.growing
        guard g.rowCount > 0 else { return }
        let id = g.id
        var manifest = snap.manifest
        manifest.sealed.append(.init(id: id, rows: g.rowCount))
        manifest.growingSegment = manifest.nextSegmentId
        manifest.nextSegmentId += 1
        let manifestBytes = try Array(JSONEncoder().encode(manifest))
        // What ingest freed (request buffers, batch records) goes back before the seal allocates.
        Allocator.releaseFreePages()
        let content = SegmentContent(growing: g)
        var clearing: UInt32? = id
        let staged = try stageVectorChunks(id: id, content, clearing: &clearing)
        try environment.write { txn in
            try writeSegment(id: id, content, staged: staged, clearLeftovers: clearing != nil, txn: txn)
            try txn.deletePrefix(growingDB, prefix: SegmentKeys.be32(id))
            try Blob.write(txn, meta, key: Shard.manifestKey, kind: .manifest, payload: manifestBytes, compress: false)
        }
        let sealed = try Shard.mapSealed(id: id, rows: g.rowCount, env: environment, blobs: blobs, codec: codec, dims: dims, verify: false)
        snap.sealed.append(sealed)
        snap.growing = GrowingSegment(id: manifest.growingSegment)
        snap.nextBatchSeq = 0
        snap.manifest = manifest
    }

    /// Stores the vectors of each field bigger than ``Configuration/vectorChunkBytes`` as chunks
    /// (``Blob/writeChunk``), each in its own committed transaction, ahead of the transaction that
    /// records segment `id` (``writeSegment(id:_:encoded:staged:clearLeftovers:txn:)`` then skips those fields).
    /// Until that transaction commits the chunks belong to no segment: a seal or compaction that
    /// fails or is interrupted leaves them under an id the manifest does not list as sealed, and the
    /// next use of that id (or the next open, ``removeUnrecordedBlobs``) deletes them.
    ///
    /// - Parameter clearing: the new segment's id while its leftovers are still to be deleted (the
    ///   first chunk's transaction does it and sets it to nil).
    /// - Returns: the fields stored this way.
    func stageVectorChunks(id: UInt32, _ c: SegmentContent, clearing: inout UInt32?) throws -> Set<Int> {
        var staged = Set<Int>()
        let pageSize = environment.pageSize
        for (f, d) in dims.enumerated() {
            let element = elements[f]
            let perRow = element.bytesPerVector(dim: d)
            guard c.rows * perRow > configuration.vectorChunkBytes,
                  let chunkRows = Shard.chunkRows(bytesPerRow: perRow, pageSize: pageSize, target: configuration.vectorChunkBytes),
                  chunkRows < c.rows else { continue }
            try stageChunks(key: SegmentKeys.vectors(id, field: f), kind: .vectors, byteCount: c.rows * perRow,
                            chunkBytes: chunkRows * perRow, clearing: &clearing) { offset, buf in
                element.store(c.vectors[f].rows(offset / perRow, buf.count / perRow), into: buf)
            }
            staged.insert(f)
        }
        return staged
    }

    /// Stores a built index past ``Configuration/vectorChunkBytes`` as chunks under `key`, as
    /// ``stageVectorChunks(id:_:clearing:)`` does vectors (LMDB would hold all of it in dirty pages
    /// beside the built index itself: IVF_SQ8 and HNSW_SQ on dev, 20–26 MiB); false if it is small
    /// enough for one blob.
    func stageIndexChunks(key: [UInt8], _ index: any SegmentIndex, clearing: inout UInt32?) throws -> Bool {
        // Rows of one byte: whole pages, about vectorChunkBytes.
        guard let chunkBytes = Shard.chunkRows(bytesPerRow: 1, pageSize: environment.pageSize, target: configuration.vectorChunkBytes),
              index.byteCount > chunkBytes else { return false }
        try index.withStoredParts { parts in
            try stageChunks(key: key, kind: .index, byteCount: index.byteCount, chunkBytes: chunkBytes, clearing: &clearing) { offset, buf in
                parts.copyBytes(from: offset, into: buf)
            }
        }
        return true
    }

    /// ``Environment/writeChunked(_:key:kind:byteCount:chunkBytes:first:fill:)`` into `blobs`, the first
    /// transaction also deleting the leftovers under segment `clearing` when it is set (then nil).
    func stageChunks(key: [UInt8], kind: Blob.Kind, byteCount: Int, chunkBytes: Int, clearing: inout UInt32?,
                     fill: Environment.ChunkFill) throws {
        let clear = clearing
        try environment.writeChunked(blobs, key: key, kind: kind, byteCount: byteCount, chunkBytes: chunkBytes, first: { txn in
            // Leftovers of an interrupted seal or compaction under this id go first.
            if let clear { try txn.deletePrefix(blobs, prefix: SegmentKeys.be32(clear)) }
        }, fill: fill)
        clearing = nil
    }

    /// Rows per chunk of vectors of `bytesPerRow` bytes: a multiple of the rows that make whole pages
    /// (so chunks map back to back), about `target` bytes; nil when even one such unit is far past
    /// the target (an odd row width on large pages), and the field is stored in one blob instead.
    static func chunkRows(bytesPerRow: Int, pageSize: Int, target: Int) -> Int? {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        guard bytesPerRow > 0, pageSize > 0 else { return nil }
        let unit = pageSize / gcd(bytesPerRow, pageSize)
        let unitBytes = unit * bytesPerRow
        guard unitBytes <= max(target, pageSize) * 4 else { return nil }
        return unit * max(1, target / unitBytes)
    }

    /// Writes the blobs of sealed segment `id` (see ``SealedSegment`` for the stored form) inside `txn`:
    /// the vectors (but those of the `staged` fields, already stored in chunks by
    /// ``stageVectorChunks(id:_:clearing:)``) and norms filled in place, the rest as encoded by
    /// ``encodeSmallBlobs(_:)`` (done here unless `encoded` brings them ready).
    ///
    /// - Throws: ``VireoError/Code/storageFull`` when a column would not fit its 32-bit offsets (a
    ///   VarChar primary-key column past 4 GiB), or a storage error.
    func writeSegment(id: UInt32, _ c: SegmentContent, encoded: [EncodedBlob]? = nil, staged: Set<Int> = [], clearLeftovers: Bool,
                      txn: WriteTransaction) throws {
        // Leftovers under this id of a seal or compaction that staged chunks and never committed
        // (unless the first chunk staged now cleared them).
        if clearLeftovers { _ = try txn.deletePrefix(blobs, prefix: SegmentKeys.be32(id)) }
        for (f, d) in dims.enumerated() {
            let element = elements[f]
            let perRow = element.bytesPerVector(dim: d)
            if !staged.contains(f) {
                try Blob.writeInPlace(txn, blobs, key: SegmentKeys.vectors(id, field: f), kind: .vectors, payloadCount: c.rows * perRow) { buf in
                    element.store(c.vectors[f], into: buf)
                }
            }
            try Blob.writeInPlace(txn, blobs, key: SegmentKeys.inverseNorms(id, field: f), kind: .inverseNorms, payloadCount: c.rows * 4) { buf in
                MatrixView.concatenate(c.inverseNorms[f], into: buf)
            }
        }
        for blob in try encoded ?? encodeSmallBlobs(c) {
            try txn.put(blobs, key: SegmentKeys.be32(id) + blob.keySuffix, value: blob.stored)
        }
    }

    /// The segment's keys, scalar chunks, columns and partitions in their stored form (checksummed,
    /// compressed where it pays), keyed without the segment id: the CPU-heavy part of storing a
    /// segment, which a compaction does on its own low-priority thread.
    func encodeSmallBlobs(_ c: SegmentContent) throws -> [EncodedBlob] {
        var out: [EncodedBlob] = []
        func add(_ key: [UInt8], _ kind: Blob.Kind, _ payload: [UInt8], compress: Bool) {
            out.append(EncodedBlob(keySuffix: Array(key.dropFirst(4)), stored: Blob.encoded(kind: kind, payload: payload, compress: compress)))
        }
        var pkw = ByteWriter()
        if codec.schema.primaryKey.dataType == .int64 {
            for pk in c.pks { if case let .int(i) = pk { pkw.i64(i) } }
        } else {
            var body: [UInt8] = []
            pkw.u32(0)
            for pk in c.pks {
                if case let .string(s) = pk { body.append(contentsOf: s.utf8) }
                guard let offset = UInt32(exactly: body.count) else {
                    throw VireoError(.storageFull, kind: .internal,
                                     "a segment of shard \(index): its primary keys pass 4 GiB; lower Configuration.sealBytes")
                }
                pkw.u32(offset)
            }
            pkw.bytes.append(contentsOf: body)
        }
        add(SegmentKeys.pks(0), .primaryKeys, pkw.bytes, compress: false)
        var chunk = 0
        var start = 0
        while start < c.rows {
            let end = min(start + SealedSegment.scalarChunkRows, c.rows)
            var w = ByteWriter()
            w.u32(UInt32(end - start))
            for s in c.scalars[start..<end] { w.raw(s) }
            add(SegmentKeys.scalars(0, chunk: chunk), .scalars, w.bytes, compress: true)
            chunk += 1
            start = end
        }
        for (ordinal, field) in codec.schema.fields.enumerated() where !field.isPrimaryKey && !field.dataType.isVector {
            let column = ColumnCache.decode(field: field, rows: c.rows, codec: codec, encodedRows: c.scalars)
            guard let payload = ColumnCodec.encode(column, rows: c.rows) else { continue }
            add(SegmentKeys.column(0, field: ordinal), .column, payload, compress: true)
        }
        for (ordinal, field) in codec.schema.fields.enumerated() where field.dataType.isSparseVector {
            let metric: SparseMetric = codec.schema.isFunctionOutput(field.name) ? .bm25 : .ip
            let index = try SparseSegmentData.buildIndex(rows: sparseRows(c.scalars, field: field.name), metric: metric)
            add(SegmentKeys.sparseIndex(0, field: ordinal), .sparseIndex, index.serialize(), compress: false)
        }
        if c.partitions.contains(where: { $0 != 0 }) {
            var w = ByteWriter()
            w.bytes.reserveCapacity(c.rows * 2)
            for p in c.partitions { w.u8(UInt8(p & 0xFF)); w.u8(UInt8(p >> 8)) }
            add(SegmentKeys.partitions(0), .partitions, w.bytes, compress: true)
        }
        if let times = InsertTimeColumn(c.insertTimes).encoded {
            add(SegmentKeys.insertTimes(0), .insertTimes, times, compress: true)
        }
        for (f, nulls) in c.nullVectors.enumerated() {
            guard let nulls, !nulls.isEmpty else { continue }
            add(SegmentKeys.nullVectors(0, field: f), .nullVectors, NullVectors.encode(nulls, rows: c.rows), compress: true)
        }
        return out
    }
}

/// The growing-segment batch record: `u32 firstRow, u32 count`, then per row the primary key
/// (Int64, or u32 length + UTF-8), each vector field's vector in its element encoding (float32,
/// float16/bfloat16 bit patterns, int8, packed bits: ``VectorElement``), and the encoded scalars (u32 length +
/// bytes); then optional tagged trailers: `1` and a u32 partition id per row, `2` and the batch's
/// insert time (i64 milliseconds since 1970), `3` and, per vector field, a u8 flag (1: the field has
/// null rows in this batch) followed by one byte per row (1: the row has no vector for that field; its
/// vector bytes are zeros that no search reads).
enum BatchRecord {
    static func encode(firstRow: Int, rows: [PreparedRow], elements: [VectorElement]) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(firstRow))
        w.u32(UInt32(rows.count))
        for r in rows {
            switch r.pk {
            case let .int(i): w.i64(i)
            case let .string(s): w.string(s)
            }
            for (f, v) in r.vectors.enumerated() { elements[f].encode(v, into: &w) }
            w.raw(r.scalars)
        }
        // Partition ids trail the rows (absent when all are 0, so older records read the same).
        if rows.contains(where: { $0.partition != 0 }) {
            w.u8(1)
            for r in rows { w.u32(UInt32(r.partition)) }
        }
        // Then the batch's insert time (one per batch: its rows commit together), tagged 2; records
        // written before insert times were kept end earlier and their rows never expire.
        if let t = rows.first?.insertedAt, t != InsertTimeColumn.unknown {
            w.u8(2)
            w.i64(t)
        }
        // Then which rows have no vector, tagged 3 (absent when every row has all its vectors, so
        // records written before nullable vector fields read the same).
        if rows.contains(where: { $0.nullVectors.contains(true) }) {
            w.u8(3)
            for f in elements.indices {
                let any = rows.contains { !$0.nullVectors.isEmpty && $0.nullVectors[f] }
                w.u8(any ? 1 : 0)
                if any { for r in rows { w.u8(!r.nullVectors.isEmpty && r.nullVectors[f] ? 1 : 0) } }
            }
        }
        return w.bytes
    }

    static func decode(_ payload: [UInt8], pkIsInt: Bool, dims: [Int], elements: [VectorElement]) -> (Int, [PreparedRow]) {
        payload.withUnsafeBytes { buf in
            var r = ByteReader(buf)
            let first = Int(r.u32())
            let n = Int(r.u32())
            var rows: [PreparedRow] = []
            rows.reserveCapacity(n)
            for _ in 0..<n {
                let pk: PrimaryKey = pkIsInt ? .int(r.i64()) : .string(r.string())
                var vectors: [[Float]] = []
                for (f, d) in dims.enumerated() { vectors.append(elements[f].read(&r, dim: d)) }
                rows.append(PreparedRow(pk: pk, vectors: vectors, scalars: r.raw()))
            }
            while !r.isAtEnd {
                switch r.u8() {
                case 1: for i in rows.indices { rows[i].partition = UInt16(truncatingIfNeeded: r.u32()) }
                case 2:
                    let t = r.i64()
                    for i in rows.indices { rows[i].insertedAt = t }
                case 3:
                    for f in dims.indices where r.u8() != 0 {
                        for i in rows.indices where r.u8() != 0 {
                            if rows[i].nullVectors.isEmpty { rows[i].nullVectors = [Bool](repeating: false, count: dims.count) }
                            rows[i].nullVectors[f] = true
                        }
                    }
                default: return (first, rows)  // a trailer of a newer version: ignored
                }
            }
            return (first, rows)
        }
    }
}
