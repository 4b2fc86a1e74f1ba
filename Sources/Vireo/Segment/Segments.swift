import VireoIndex
import VireoKernels
import VireoStorage

/// Where a row lives inside a shard: segment id and row offset. Offsets never change when a
/// growing segment is sealed, so the primary-key index and tombstones stay valid.
struct RowLocation: Hashable, Sendable {
    var segment: UInt32
    var row: UInt32

    var bytes: [UInt8] {
        withUnsafeBytes(of: (segment.littleEndian, row.littleEndian)) { Array($0) }
    }

    init(segment: UInt32, row: UInt32) {
        self.segment = segment
        self.row = row
    }

    init(_ b: UnsafeRawBufferPointer) {
        var r = ByteReader(b)
        segment = r.u32()
        row = r.u32()
    }
}

/// Which partition each row of a segment or block belongs to, and the set of partitions present (so a
/// search or query restricted to other partitions skips the whole segment).
struct PartitionColumn: Sendable {
    /// Partition id per row; nil when every row is in partition 0 (the common case costs nothing).
    let ids: [UInt16]?
    let present: Set<UInt16>

    init(_ ids: [UInt16]) {
        if ids.allSatisfy({ $0 == 0 }) {
            self.ids = nil
            present = ids.isEmpty ? [] : [0]
        } else {
            self.ids = ids
            present = Set(ids)
        }
    }

    init(rows: Int) { self.init([UInt16](repeating: 0, count: rows)) }

    func partition(of row: Int) -> UInt16 { ids?[row] ?? 0 }

    /// Rows (of `rows`) whose partition is in `allowed`; nil when every row is (no mask needed).
    func mask(rows: Int, allowed: Set<UInt16>) -> Bitset? {
        if present.isSubset(of: allowed) { return nil }
        var bits = Bitset(capacity: rows)
        guard let ids, !present.isDisjoint(with: allowed) else { return bits }
        bits.fill { allowed.contains(ids[$0]) }
        return bits
    }

    /// Rows (of `rows`) per partition id present; a segment of `_default` rows costs nothing.
    ///
    /// - Complexity: O(rows) when the segment holds rows of several partitions, O(1) otherwise.
    func rowsPerPartition(rows: Int) -> [UInt16: Int] {
        guard rows > 0 else { return [:] }
        guard let ids, present.count > 1 else { return [present.first ?? 0: rows] }
        var out: [UInt16: Int] = [:]
        for id in ids.prefix(rows) { out[id, default: 0] += 1 }
        return out
    }

    /// Every row's partition (`count` rows when the column is implicit).
    func all(count: Int) -> [UInt16] {
        ids ?? [UInt16](repeating: 0, count: count)
    }
}

/// An immutable block of rows of a growing segment.
///
/// A growing segment is a list of these; appending creates a new block (and merges small tail
/// blocks, binary-counter style, so a stream of tiny inserts still yields GEMM-sized blocks with
/// O(log n) copies per row). Because blocks never change, a reader holding a snapshot needs no lock.
final class GrowingBlock: Sendable {
    /// Offset of the block's first row in its segment.
    let firstRow: Int
    let count: Int
    /// One `count × dim` matrix per vector field (schema order), as inserted.
    let vectors: [MatrixView]
    /// `1 / |row|` per row of each vector field (`count × 1`), for COSINE scans.
    let inverseNorms: [MatrixView]
    let pks: [PrimaryKey]
    let scalars: [[UInt8]]
    let partitions: PartitionColumn
    /// When each row was written (for the collection's TTL).
    let insertTimes: InsertTimeColumn
    /// Per vector field, the rows that have no vector (nil: every row has one).
    let nullVectors: [Bitset?]
    /// Decoded scalar columns, built on first use by a filter.
    let columns = ColumnCache()

    /// Rows per block when a growing segment is rebuilt from its batch records at open.
    static let maxRows = 8192
    /// Appends merge tail blocks only up to this many rows: enough for GEMM-sized brute-force blocks
    /// from a stream of small inserts, while batches of ~1,000 rows (a typical ingest) are never
    /// copied again after their first append.
    static let mergeRows = 1024

    init(firstRow: Int, pks: [PrimaryKey], vectors: [MatrixView], inverseNorms: [MatrixView]? = nil, scalars: [[UInt8]], partitions: [UInt16],
         insertTimes: [Int64], nullVectors: [Bitset?]? = nil) {
        self.nullVectors = nullVectors ?? vectors.map { _ in nil }
        self.insertTimes = InsertTimeColumn(insertTimes)
        self.inverseNorms = inverseNorms ?? vectors.map { $0.inverseNorms() }
        self.firstRow = firstRow
        self.count = pks.count
        self.pks = pks
        self.scalars = scalars
        self.partitions = PartitionColumn(partitions)
        self.vectors = vectors
    }

    convenience init(firstRow: Int, rows: [PreparedRow], dims: [Int]) {
        let vectors = dims.enumerated().map { f, d in FloatArena(rows: rows.lazy.map { $0.vectors[f] }, dim: d).matrix(dim: d) }
        self.init(firstRow: firstRow, pks: rows.map(\.pk), vectors: vectors, scalars: rows.map(\.scalars),
                  partitions: rows.map(\.partition), insertTimes: rows.map(\.insertedAt),
                  nullVectors: NullVectors.columns(rows.map(\.nullVectors), fields: dims.count))
    }

    /// A block holding `a`'s rows followed by `b`'s (which must follow `a` directly).
    static func merged(_ a: GrowingBlock, _ b: GrowingBlock) -> GrowingBlock {
        precondition(a.firstRow + a.count == b.firstRow)
        let vectors = a.vectors.indices.map { f in
            FloatArena(concatenating: [a.vectors[f], b.vectors[f]]).matrix(dim: a.vectors[f].dim)
        }
        let norms = a.inverseNorms.indices.map { f in FloatArena(concatenating: [a.inverseNorms[f], b.inverseNorms[f]]).matrix(dim: 1) }
        return GrowingBlock(firstRow: a.firstRow, pks: a.pks + b.pks, vectors: vectors, inverseNorms: norms, scalars: a.scalars + b.scalars,
                            partitions: a.partitions.all(count: a.count) + b.partitions.all(count: b.count),
                            insertTimes: a.insertTimes.all(count: a.count) + b.insertTimes.all(count: b.count),
                            nullVectors: a.vectors.indices.map { f in NullVectors.concatenate([(a.nullVectors[f], a.count), (b.nullVectors[f], b.count)]) })
    }
}

/// Per-row validity of nullable vector fields: a row whose vector is null keeps a zero placeholder in
/// the vector matrix (so row offsets stay dense) and is a member of its field's null set, which every
/// search of that field excludes. Nil stands for "no null row" (the common case costs nothing).
enum NullVectors {
    /// One column per vector field from per-row flags (an empty flag list: every vector present).
    static func columns(_ flags: [[Bool]], fields: Int) -> [Bitset?] {
        (0..<fields).map { f in
            guard flags.contains(where: { !$0.isEmpty && $0[f] }) else { return nil }
            var bits = Bitset(capacity: flags.count)
            for (i, row) in flags.enumerated() where !row.isEmpty && row[f] { bits.insert(i) }
            return bits
        }
    }

    /// The null rows of consecutive runs of rows (each `(nulls, count)`), as one set; nil when none.
    static func concatenate(_ parts: [(Bitset?, Int)]) -> Bitset? {
        guard parts.contains(where: { $0.0 != nil }) else { return nil }
        var bits = Bitset(capacity: parts.reduce(0) { $0 + $1.1 })
        var base = 0
        for (nulls, count) in parts {
            if let nulls { for i in 0..<count where nulls.contains(i) { bits.insert(base + i) } }
            base += count
        }
        return bits
    }

    /// The null rows of `rows` picked (in order) from a column; nil when none.
    static func gather(_ nulls: Bitset?, rows: [Int]) -> Bitset? {
        guard let nulls else { return nil }
        var bits = Bitset(capacity: rows.count)
        for (i, r) in rows.enumerated() where nulls.contains(r) { bits.insert(i) }
        return bits.isEmpty ? nil : bits
    }

    /// Stored form: the row count (u32) then the bitmap, one bit per row, least significant first.
    static func encode(_ nulls: Bitset, rows: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(rows))
        var bytes = [UInt8](repeating: 0, count: (rows + 7) / 8)
        for i in 0..<rows where nulls.contains(i) { bytes[i >> 3] |= 1 << UInt8(i & 7) }
        w.bytes.append(contentsOf: bytes)
        return w.bytes
    }

    static func decode(_ payload: [UInt8], rows: Int, what: String) throws -> Bitset {
        guard payload.count == 4 + (rows + 7) / 8 else { throw StorageError.corrupted(what: what, reason: "\(payload.count) bytes for \(rows) rows") }
        let n = Int(payload[0]) | Int(payload[1]) << 8 | Int(payload[2]) << 16 | Int(payload[3]) << 24
        guard n == rows else { throw StorageError.corrupted(what: what, reason: "holds \(n) rows, the segment \(rows)") }
        var bits = Bitset(capacity: rows)
        for i in 0..<rows where payload[4 + i >> 3] & (1 << UInt8(i & 7)) != 0 { bits.insert(i) }
        return bits
    }
}

/// The newest rows of a shard: durable in LMDB (one record per write batch), held in memory as
/// immutable blocks, searched by brute force. Sealed once it reaches `Configuration.sealRows`.
///
/// Blocks hold every vector field as float32 rows, compact fields (FLOAT16, BFLOAT16, INT8, BINARY)
/// included, widened exactly: a growing segment is small, and sealing encodes the rows compactly.
struct GrowingSegment: Sendable {
    let id: UInt32
    private(set) var blocks: [GrowingBlock] = []
    private(set) var rowCount = 0
    /// Bytes of the rows before compression (vectors, norms, keys, scalars), for sealing by bytes.
    private(set) var approximateBytes = 0

    init(id: UInt32) { self.id = id }

    mutating func append(_ rows: [PreparedRow], dims: [Int]) {
        guard !rows.isEmpty else { return }
        let vectorBytes = dims.reduce(0) { $0 + ($1 + 1) * 4 }
        for r in rows { approximateBytes += vectorBytes + r.scalars.count + r.pk.storageKeyCount }
        blocks.append(GrowingBlock(firstRow: rowCount, rows: rows, dims: dims))
        rowCount += rows.count
        // Merge the tail while it is at least half the size of its predecessor (amortised O(log n)
        // copies per row), up to GEMM-friendly block sizes.
        while blocks.count >= 2 {
            let a = blocks[blocks.count - 2]
            let b = blocks[blocks.count - 1]
            guard b.count * 2 >= a.count, a.count + b.count <= GrowingBlock.mergeRows else { break }
            blocks.removeLast(2)
            blocks.append(GrowingBlock.merged(a, b))
        }
    }

    /// The block holding `row`.
    func block(containing row: Int) -> GrowingBlock? {
        var lo = 0
        var hi = blocks.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            let b = blocks[mid]
            if row < b.firstRow { hi = mid - 1 } else if row >= b.firstRow + b.count { lo = mid + 1 } else { return b }
        }
        return nil
    }
}

/// An immutable, sealed segment, used in place from the shard's memory map.
///
/// ## Stored form (LMDB database `blobs`, each value a checksummed ``Blob``)
/// - `vectors/<field>`: the `rows` vectors of each vector field, row-major, as inserted: Float32, or the
///   field's compact encoding (``VectorElement``) for FLOAT16, BFLOAT16, INT8 and BINARY fields, which
///   stays compact in memory (``vectors``). Past ``Configuration/vectorChunkBytes`` they are stored
///   as `vectors/<field>/<chunk>` instead, each chunk a whole number of pages placed on page
///   boundaries (``Blob/writeChunk``), and mapped back to back into one range.
/// - `norms/<field>`: `1 / |row|` of each row of each vector field (Float32), for COSINE scans;
///   segments sealed before it existed compute it when they are mapped.
/// - `pks`: Int64 keys as `rows` little-endian Int64; VarChar keys as `rows + 1` UInt32 offsets then
///   the UTF-8 bytes.
/// - `scalars/<chunk>`: the encoded scalar part of rows `256·chunk ..< 256·(chunk+1)`, zstd-compressed.
/// - `columns/<field>`: each typed scalar field (numbers, Bool, VarChar) as a column (``ColumnCodec``),
///   zstd-compressed where that pays; filters read these instead of decoding rows. Segments sealed
///   before columns existed have none and decode their columns from the row chunks.
/// - `partitions`: the partition id of each row as little-endian UInt16, zstd-compressed; absent
///   when every row is in partition 0.
/// - `sparse/<field>`: per SparseFloatVector field, its inverted index (VireoText's `VTIX` format,
///   BM25 for a function's output, IP otherwise), built at seal; segments sealed before it existed
///   build it from their rows the first time they are searched.
/// - `insertTimes`: when each row was written (milliseconds since 1970) as little-endian Int64,
///   zstd-compressed; absent in segments sealed before insert times were kept (those rows never
///   expire under a TTL).
final class SealedSegment: Sendable {
    let id: UInt32
    let rowCount: Int
    /// The vectors of each vector field as stored: float32 rows, or compact rows (FLOAT16, BFLOAT16,
    /// INT8, BINARY) in their stored encoding, both mapped in place. The segment never holds a
    /// float32 copy of compact rows; an index on such a field holds its own (``VectorRows/floatMatrix()``).
    let vectors: [VectorRows]
    /// `1 / |row|` per row of each vector field (`rows × 1`), for COSINE scans.
    let inverseNorms: [MatrixView]
    let pks: MappedBlob
    let pkIsInt: Bool
    let environment: Environment
    let blobs: LMDBDatabase
    /// Ready indexes by vector field ordinal (absent: searched exactly).
    let indexes: [Int: any SegmentIndex]
    /// Where each ready index is stored (its key and mapped blob), so that a replaced or retired index
    /// blob is deleted only once nothing maps it.
    let indexBlobs: [Int: StoredIndex]
    /// Decoded scalar columns, built on first use by a filter (shared by the segment's versions).
    let columns: ColumnCache
    let partitions: PartitionColumn
    /// When each row was written (for the collection's TTL).
    let insertTimes: InsertTimeColumn
    /// Per vector field, the rows that have no vector (nil: every row has one).
    let nullVectors: [Bitset?]

    static let scalarChunkRows = 256

    init(id: UInt32, rowCount: Int, vectors: [VectorRows], inverseNorms: [MatrixView], pks: MappedBlob, pkIsInt: Bool, environment: Environment,
         blobs: LMDBDatabase, partitions: PartitionColumn, insertTimes: InsertTimeColumn, indexes: [Int: any SegmentIndex] = [:],
         indexBlobs: [Int: StoredIndex] = [:], columns: ColumnCache = ColumnCache(), nullVectors: [Bitset?]? = nil) {
        self.nullVectors = nullVectors ?? vectors.map { _ in nil }
        self.insertTimes = insertTimes
        self.indexBlobs = indexBlobs
        self.inverseNorms = inverseNorms
        self.columns = columns
        self.partitions = partitions
        self.id = id
        self.rowCount = rowCount
        self.vectors = vectors
        self.pks = pks
        self.pkIsInt = pkIsInt
        self.environment = environment
        self.blobs = blobs
        self.indexes = indexes
    }

    /// The same segment with `index` (stored as `stored`) serving field `field`.
    func withIndex(_ index: any SegmentIndex, field: Int, stored: StoredIndex) -> SealedSegment {
        var all = indexes
        all[field] = index
        var blobsByField = indexBlobs
        blobsByField[field] = stored
        return SealedSegment(id: id, rowCount: rowCount, vectors: vectors, inverseNorms: inverseNorms, pks: pks, pkIsInt: pkIsInt, environment: environment,
                             blobs: blobs, partitions: partitions, insertTimes: insertTimes, indexes: all, indexBlobs: blobsByField, columns: columns,
                             nullVectors: nullVectors)
    }

    /// The same segment without an index on `field`.
    func withoutIndex(field: Int) -> SealedSegment {
        guard indexes[field] != nil else { return self }
        var all = indexes
        all[field] = nil
        var blobsByField = indexBlobs
        blobsByField[field] = nil
        return SealedSegment(id: id, rowCount: rowCount, vectors: vectors, inverseNorms: inverseNorms, pks: pks, pkIsInt: pkIsInt, environment: environment,
                             blobs: blobs, partitions: partitions, insertTimes: insertTimes, indexes: all, indexBlobs: blobsByField, columns: columns,
                             nullVectors: nullVectors)
    }

    /// Every object that keeps bytes of this segment's stored blobs in use (mapped vectors, norms,
    /// keys, indexes). When none of them is alive any more, the blobs may be deleted and their pages
    /// reused.
    var storageHolders: [AnyObject] {
        var out: [AnyObject] = [pks]
        out += vectors.compactMap(\.owner)
        out += inverseNorms.compactMap(\.owner)
        out += indexBlobs.values.map(\.blob)
        return out
    }

    func primaryKey(row: Int) -> PrimaryKey {
        if pkIsInt { return .int(pks.int64(at: row)) }
        let start = Int(pks.uint32(at: row))
        let end = Int(pks.uint32(at: row + 1))
        let base = (rowCount + 1) * 4
        return .string(String(decoding: pks.copyBytes((base + start)..<(base + end)), as: UTF8.self))
    }

    /// The stored column of schema field `field` (position `ordinal`), or nil if this segment has none.
    func storedColumn(ordinal: Int, name: String) throws -> ScalarColumn? {
        let what = "segment \(id) column '\(name)'"
        let payload = try environment.read { txn -> [UInt8]? in
            guard let stored = try txn.get(blobs, key: SegmentKeys.column(id, field: ordinal)) else { return nil }
            return try Blob.decode(stored, kind: .column, what: what)
        }
        return try payload.map { try ColumnCodec.decode($0, rows: rowCount, what: what) }
    }

    /// The encoded scalar bytes of every row of chunk `chunk` (256 rows).
    func scalarChunk(_ chunk: Int) throws -> [[UInt8]] {
        let what = "segment \(id) scalar chunk \(chunk)"
        let payload = try environment.read { txn -> [UInt8] in
            guard let stored = try txn.get(blobs, key: SegmentKeys.scalars(id, chunk: chunk)) else {
                throw StorageError.corrupted(what: what, reason: "missing")
            }
            return try Blob.decode(stored, kind: .scalars, what: what)
        }
        return payload.withUnsafeBytes { buf in
            var r = ByteReader(buf)
            return (0..<Int(r.u32())).map { _ in r.raw() }
        }
    }

    /// The encoded scalar bytes of `row` (one checksummed, compressed chunk is read and decoded).
    func scalars(row: Int) throws -> [UInt8] {
        let chunk = try scalarChunk(row / SealedSegment.scalarChunkRows)
        let i = row % SealedSegment.scalarChunkRows
        guard i < chunk.count else {
            throw StorageError.corrupted(what: "segment \(id) scalar chunk \(row / SealedSegment.scalarChunkRows)", reason: "row \(row) is missing")
        }
        return chunk[i]
    }
}

/// An index blob in use: its key and the mapped bytes the index reads.
struct StoredIndex: Sendable {
    let key: [UInt8]
    let blob: MappedBlob
}

/// Keys of the shard's LMDB databases (big-endian so byte order is numeric order).
enum SegmentKeys {
    static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
    static func be64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    static func vectors(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "v")] + be32(UInt32(field)) }
    /// Chunk `chunk` of a field's vectors stored in chunks (``Shard/stageVectorChunks(id:_:)``).
    static func vectorChunk(_ segment: UInt32, field: Int, chunk: Int) -> [UInt8] { vectors(segment, field: field) + be32(UInt32(chunk)) }
    static func inverseNorms(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "n")] + be32(UInt32(field)) }
    static func pks(_ segment: UInt32) -> [UInt8] { be32(segment) + [UInt8(ascii: "p")] }
    static func scalars(_ segment: UInt32, chunk: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "c")] + be32(UInt32(chunk)) }
    /// A typed scalar column (``ColumnCodec``), by the field's position in the schema.
    static func column(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "k")] + be32(UInt32(field)) }
    /// Partition id per row (absent: every row is in partition 0).
    static func partitions(_ segment: UInt32) -> [UInt8] { be32(segment) + [UInt8(ascii: "t")] }
    /// Insert time per row (absent: rows sealed before insert times were kept; they never expire).
    static func insertTimes(_ segment: UInt32) -> [UInt8] { be32(segment) + [UInt8(ascii: "e")] }
    /// Rows of a nullable vector field that have no vector (absent: every row has one).
    static func nullVectors(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "z")] + be32(UInt32(field)) }
    /// The sparse inverted index of a SparseFloatVector field, by the field's position in the schema.
    static func sparseIndex(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "s")] + be32(UInt32(field)) }
    /// Growing-segment batch records: segment, then batch sequence number.
    static func batch(_ segment: UInt32, seq: UInt64) -> [UInt8] { be32(segment) + be64(seq) }
    /// Index blobs: segment, field, generation.
    static func indexPrefix(_ segment: UInt32, field: Int) -> [UInt8] { be32(segment) + [UInt8(ascii: "i")] + be32(UInt32(field)) }
    static func index(_ segment: UInt32, field: Int, generation: UInt32) -> [UInt8] { indexPrefix(segment, field: field) + be32(generation) }
    static func tombstone(_ loc: RowLocation) -> [UInt8] { be32(loc.segment) + be32(loc.row) }
}
