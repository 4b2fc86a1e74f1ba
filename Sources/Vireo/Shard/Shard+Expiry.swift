import VireoKernels
import VireoStorage

extension ShardSnapshot {
    /// When the row at `loc` was written (``InsertTimeColumn/unknown`` if not known).
    func insertTime(of loc: RowLocation) -> Int64 {
        if loc.segment == growing.id, let block = growing.block(containing: Int(loc.row)) {
            return block.insertTimes.time(of: Int(loc.row) - block.firstRow)
        }
        return sealed.first { $0.id == loc.segment }?.insertTimes.time(of: Int(loc.row)) ?? InsertTimeColumn.unknown
    }

    /// Rows written at or before `cutoff`, by segment id (segments without any are absent). Whole
    /// segments are decided from their oldest and newest insert time.
    func expiredRows(cutoff: Int64) -> [UInt32: Bitset] {
        var out: [UInt32: Bitset] = [:]
        for seg in sealed where seg.insertTimes.anyExpired(cutoff: cutoff) {
            if let bits = seg.insertTimes.expired(rows: seg.rowCount, cutoff: cutoff) { out[seg.id] = bits }
        }
        var growingBits: Bitset?
        for block in growing.blocks where block.insertTimes.anyExpired(cutoff: cutoff) {
            guard let bits = block.insertTimes.expired(rows: block.count, cutoff: cutoff) else { continue }
            var g = growingBits ?? Bitset(capacity: growing.rowCount)
            for i in 0..<block.count where bits.contains(i) { _ = g.insert(block.firstRow + i) }
            growingBits = g
        }
        if let growingBits { out[growing.id] = growingBits }
        return out
    }

    /// This snapshot with the rows written at or before `cutoff` counted as deleted: what every read
    /// under a TTL works on, so expired rows leave search, query, get and count at once, before a
    /// compaction removes them.
    func expiring(cutoff: Int64?) -> ShardSnapshot {
        guard let cutoff else { return self }
        let expired = expiredRows(cutoff: cutoff)
        guard !expired.isEmpty else { return self }
        var s = self
        for (segment, bits) in expired {
            let old = s.tombstones[segment]
            let merged = old.map { $0.union(bits) } ?? bits
            s.deletedCount += merged.count - (old?.count ?? 0)
            s.tombstones[segment] = merged
        }
        return s
    }
}

extension Shard {
    /// The current snapshot as reads see it: every acknowledged write, without the rows the
    /// collection's TTL expired.
    var readSnapshot: ShardSnapshot { snapshot.expiring(cutoff: expiry.cutoff()) }

    /// Whether `snap` holds expired rows that are not tombstoned yet (a compaction pass then has work).
    func hasUntombstonedExpiredRows(_ snap: ShardSnapshot, cutoff: Int64) -> Bool {
        snap.expiredRows(cutoff: cutoff).contains { segment, bits in
            guard let tomb = snap.tombstones[segment] else { return !bits.isEmpty }
            return !bits.subtracting(tomb).isEmpty
        }
    }

    /// Tombstones (durably, in `txn`) every live row of `snap` written at or before `cutoff` and
    /// removes its primary key, so compaction drops it and its key may be inserted again.
    /// - Returns: rows expired.
    func expireRows(cutoff: Int64, txn: WriteTransaction, snap: inout ShardSnapshot) throws -> Int {
        var n = 0
        for (segment, bits) in snap.expiredRows(cutoff: cutoff) {
            let rows = segment == snap.growing.id ? snap.growing.rowCount : (snap.sealed.first { $0.id == segment }?.rowCount ?? 0)
            let ordinal = snap.sealed.firstIndex { $0.id == segment } ?? snap.sealed.count
            for row in 0..<rows where bits.contains(row) && snap.tombstones[segment]?.contains(row) != true {
                let loc = RowLocation(segment: segment, row: UInt32(row))
                _ = try keys.remove(snap.primaryKey(ordinal: ordinal, row: row), ifAt: loc, in: txn)
                try tombstone(loc, txn: txn, snap: &snap)
                n += 1
            }
        }
        return n
    }
}
