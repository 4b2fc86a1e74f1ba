import Foundation

extension Collection {
    /// One segment of one shard, as ``segments()`` reports it (what Milvus' `GetQuerySegmentInfo` and
    /// `GetPersistentSegmentInfo` answer).
    public struct SegmentInfo: Sendable, Hashable {
        public enum State: String, Sendable {
            /// The shard's newest rows: durable, searched by brute force, not yet sealed.
            case growing
            /// Immutable, with its indexes (if any are built).
            case sealed
        }
        public var shard: Int
        /// The segment's id within its shard.
        public var segment: UInt32
        /// Unique within the collection: `shard << 32 | segment`.
        public var id: Int64 { Int64(shard) << 32 | Int64(segment) }
        public var state: State
        /// Rows stored in the segment, deleted ones included.
        public var rows: Int
        /// Rows of the segment deleted since it was written (tombstones).
        public var deletedRows: Int
        /// Vector fields whose index is built on this segment (sealed segments only).
        public var indexedFields: [String]
        /// Bytes of the segment's vectors in memory. For a sealed segment, the stored size, mapped in
        /// place: 4 bytes per dimension for FLOAT_VECTOR, 2 for FLOAT16/BFLOAT16, 1 for INT8, 1/8 for
        /// BINARY (an index's own float32 copy of compact rows is not counted). For the growing
        /// segment, its float32 rows and norms (compact fields included) plus scalars.
        public var vectorBytes: Int
        /// Rows (deleted ones included, as in ``rows``) per partition id (``partitionIDs()``): a shard's
        /// segment holds the rows of every partition written to that shard, not of one (Milvus').
        public var partitionRows: [UInt16: Int] = [:]
    }

    /// Every segment of every shard, sealed ones first in each shard, from the shards' current
    /// snapshots. A shard whose growing segment is empty reports it too (as Milvus lists an open
    /// growing segment).
    ///
    /// - Complexity: O(segments + tombstone words), plus O(rows) for segments holding several partitions.
    public func segments() -> [SegmentInfo] {
        let vectorFields = codec.vectorFields.map(\.name)
        var out: [SegmentInfo] = []
        for s in shards {
            let snap = s.snapshot
            for seg in snap.sealed {
                let indexed = seg.indexes.keys.sorted().compactMap { $0 < vectorFields.count ? vectorFields[$0] : nil }
                out.append(SegmentInfo(shard: s.index, segment: seg.id, state: .sealed, rows: seg.rowCount,
                                       deletedRows: snap.tombstones[seg.id]?.count ?? 0, indexedFields: indexed,
                                       vectorBytes: seg.vectors.reduce(0) { $0 + $1.byteCount },
                                       partitionRows: seg.partitions.rowsPerPartition(rows: seg.rowCount)))
            }
            out.append(SegmentInfo(shard: s.index, segment: snap.growing.id, state: .growing, rows: snap.growing.rowCount,
                                   deletedRows: snap.tombstones[snap.growing.id]?.count ?? 0, indexedFields: [],
                                   vectorBytes: snap.growing.approximateBytes,
                                   partitionRows: snap.growing.blocks.reduce(into: [:]) { total, block in
                                       total.merge(block.partitions.rowsPerPartition(rows: block.count), uniquingKeysWith: +)
                                   }))
        }
        return out
    }
}
