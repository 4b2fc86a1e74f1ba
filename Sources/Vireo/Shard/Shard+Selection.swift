import Dispatch
import Foundation
import Synchronization
import VireoIndex
import VireoKernels
import VireoStorage
import VireoText

extension Shard {
    // MARK: Reads

    /// Where each of `keys` is live, and one snapshot that holds all of those rows.
    ///
    /// The primary-key index is read after the snapshot is taken, in one read transaction, so it is
    /// at least as new as the snapshot. A key pointing at a row the snapshot does not hold as live
    /// means a commit the writer has not published yet (an upsert, or a compaction moving the row):
    /// the snapshot is taken again, so a `get` racing an `upsert` of the same key sees either the old
    /// row or the new one, never neither.
    func locateAll(_ keys: [PrimaryKey]) throws -> (ShardSnapshot, [RowLocation?]) {
        var attempt = 0
        while true {
            let snap = snapshot
            let locs = try environment.read { txn in
                try keys.map { try self.keys.location(of: $0, in: txn) }
            }
            if locs.allSatisfy({ $0.map(snap.isLive) ?? true }) {
                // Rows the TTL expired are not found (an insert may reuse their keys).
                let visible = snap.expiring(cutoff: expiry.cutoff())
                return (visible, locs.map { $0.flatMap { visible.isLive($0) ? $0 : nil } })
            }
            attempt += 1
            // The writer publishes right after its commit returns; wait for it (bounded).
            guard attempt < 100_000 else {
                throw VireoError(.storageFailure, kind: .internal, "shard \(index): the primary-key index and the published snapshot disagree")
            }
            if attempt > 16 { usleep(50) }
        }
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
    /// without reading a column. Without `includeGrowing` (Milvus' `ignore_growing`) the growing
    /// segment contributes no rows and is not read.
    func select(_ filter: Filter?, partitions allowed: Set<UInt16>?, in snap: ShardSnapshot, budget: WorkBudget? = nil,
                includeGrowing: Bool = true) throws -> [UInt32: Bitset] {
        var out: [UInt32: Bitset] = [:]
        let fields = codec.schema.fields
        for seg in snap.sealed {
            try budget?.check("the filter")
            out[seg.id] = try select(filter, partitions: allowed, rows: seg.rowCount, partitionColumn: seg.partitions,
                                     tombstones: snap.tombstones[seg.id], columns: seg.columns,
                                     stored: { name in try fields.firstIndex { $0.name == name }.flatMap { try seg.storedColumn(ordinal: $0, name: name) } },
                                     indexed: { name in self.indexes.spec(for: name)?.kind.isScalar == true },
                                     jsonIndexes: { name, steps in self.indexes.jsonPathSpecs(field: name).compactMap { $0.jsonPath }.filter { $0.steps == steps } },
                                     encodedRows: { try (0..<((seg.rowCount + SealedSegment.scalarChunkRows - 1) / SealedSegment.scalarChunkRows)).flatMap { try seg.scalarChunk($0) } },
                                     primaryKey: { seg.primaryKey(row: $0) })
        }
        var bits = Bitset(capacity: snap.growing.rowCount)
        guard includeGrowing else {
            out[snap.growing.id] = bits
            return out
        }
        let tomb = snap.tombstones[snap.growing.id]
        for block in snap.growing.blocks {
            let blockBits = try select(filter, partitions: allowed, rows: block.count, partitionColumn: block.partitions, tombstones: nil,
                                       columns: block.columns, stored: { _ in nil }, indexed: { _ in false }, jsonIndexes: { _, _ in [] },
                                       encodedRows: { block.scalars }, primaryKey: { block.pks[$0] })
            for i in 0..<block.count where blockBits.contains(i) && tomb?.contains(block.firstRow + i) != true {
                bits.insert(block.firstRow + i)
            }
        }
        out[snap.growing.id] = bits
        return out
    }

    /// ``select(_:partitions:in:)`` for one segment or block.
    func select(
        _ filter: Filter?, partitions allowed: Set<UInt16>?, rows: Int, partitionColumn: PartitionColumn, tombstones: Bitset?,
        columns: ColumnCache, stored: @escaping (String) throws -> ScalarColumn?, indexed: @escaping (String) -> Bool,
        jsonIndexes: @escaping (String, [PathComponent]) -> [JSONPathIndex],
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
            let jsonPath = { (name: String, steps: [PathComponent]) throws -> [JSONPathValues] in
                try jsonIndexes(name, steps).compactMap { spec in
                    try columns.jsonPathValues("\(name)\u{0}\(spec.pointer)\u{0}\(spec.castType.rawValue)") {
                        let encoded = try encodedRows()
                        guard encoded.count == rows else { return nil }
                        let path = FilterExpr.field(name, steps)
                        var docs: [JSONValue?] = []
                        docs.reserveCapacity(rows)
                        var values: [String: JSONValue] = [:]
                        for bytes in encoded {
                            values.removeAll(keepingCapacity: true)
                            bytes.withUnsafeBytes { codec.filterValues($0, wanted: [name], into: &values) }
                            // The evaluator's own walk, so the index holds exactly what a filter reads.
                            docs.append(FilterEvaluator(fields: values).value(path))
                        }
                        return JSONPathValues(cast: spec.castType, rows: rows) { docs[$0] }
                    }
                }
            }
            let textTerms = { (name: String, analyzer: Analyzer) throws -> [String: [UInt32]]? in
                try columns.textTerms(name) {
                    guard case let .string(values, valid) = try column(name) else { return nil }
                    let session = analyzer.makeSession()
                    var terms: [String: [UInt32]] = [:]
                    for i in 0..<rows where valid.contains(i) {
                        for t in Set(session.analyze(values[i]).map(\.text)) { terms[t, default: []].append(UInt32(i)) }
                    }
                    return terms
                }
            }
            let columnar = ColumnarFilter(rows: rows, column: column, index: { name in
                indexed(name) ? try columns.index(name) { try column(name) } : nil
            }, jsonPath: jsonPath, textTerms: textTerms)
            if let b = try columns.filterResult(filter.cacheKey, evaluate: { try columnar.evaluate(filter.root) }) {
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
        var nullVectors: [Bool] = []
        var scalars: [UInt8] = []
        if loc.segment == snap.growing.id, let block = snap.growing.block(containing: r) {
            let i = r - block.firstRow
            pk = block.pks[i]
            if fields.needsVectors {
                vectors = block.vectors.map { $0.rowArray(i) }
                nullVectors = block.nullVectors.map { $0?.contains(i) == true }
            }
            if fields.needsScalars { scalars = block.scalars[i] }
        } else if let seg = snap.sealed.first(where: { $0.id == loc.segment }) {
            pk = seg.primaryKey(row: r)
            if fields.needsVectors {
                vectors = seg.vectors.map { $0.rowArray(r) }
                nullVectors = seg.nullVectors.map { $0?.contains(r) == true }
            }
            if fields.needsScalars { scalars = try seg.scalars(row: r) }
        } else {
            throw VireoError(.corrupted, kind: .internal, "row \(loc) is not in shard \(index)")
        }
        if fields.includesPrimaryKey { row[codec.schema.primaryKey.name] = pk.fieldValue }
        for (f, field) in codec.vectorFields.enumerated() where fields.includes(field.name) {
            row[field.name] = nullVectors[f] ? .null : Self.output(vectors[f], type: field.dataType)
        }
        if fields.needsScalars {
            scalars.withUnsafeBytes { codec.decodeScalars($0, wanted: fields.scalarNames, into: &row) }
            for name in fields.hidden { row[name] = nil }
        }
        return (pk, row)
    }
}

extension Shard {
    /// A stored vector as reads return it: FLOAT as floats, INT8 as integers, FLOAT16/BFLOAT16/BINARY
    /// as their bytes (the values inserted, bit for bit).
    static func output(_ v: [Float], type: DataType) -> FieldValue {
        switch VectorElement(type) ?? .float32 {
        case .float32: return .floatVector(v)
        case .int8: return .array(v.map { .int(Int64($0)) })
        case let e: return .vectorBytes(e.bytes(v))
        }
    }
}

/// Which fields a read returns.
struct FieldSelection: Sendable {
    var all: Bool
    var names: Set<String>
    let schema: CollectionSchema
    /// Fields `all` leaves out (functions' outputs).
    var hidden: Set<String> = []

    func includes(_ name: String) -> Bool { all || names.contains(name) }
    var includesPrimaryKey: Bool { true }
    var needsVectors: Bool { schema.vectorFields.contains { includes($0.name) } }
    var needsScalars: Bool { all || !names.subtracting(schema.vectorFields.map(\.name)).subtracting([schema.primaryKey.name]).isEmpty }
    /// Scalar names to decode (nil = all).
    var scalarNames: Set<String>? { all ? nil : names }
}
