import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage

extension Shard {
    /// batch records and records it in the manifest, all in one transaction; then maps it in place.
    func seal(_ snap: inout ShardSnapshot) throws {
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
