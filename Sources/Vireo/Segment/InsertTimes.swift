import Foundation
import Synchronization
import VireoKernels
import VireoStorage

/// When each row of a segment or growing block was written (milliseconds since 1970), with the
/// segment's oldest and newest time, so that a read under a TTL skips a segment none of whose rows
/// expired, and drops a segment all of whose rows did, without looking at a row.
///
/// Rows written before Vireo kept insert times have ``unknown``: they never expire.
struct InsertTimeColumn: Sendable {
    /// The insert time of rows written before insert times were kept (they never expire).
    static let unknown = Int64.max

    /// Per row; nil when every row is ``unknown`` (segments of older versions cost nothing).
    let times: [Int64]?
    let oldest: Int64
    let newest: Int64

    init(_ times: [Int64]) {
        if times.allSatisfy({ $0 == Self.unknown }) {
            self.times = nil
            oldest = Self.unknown
            newest = Self.unknown
        } else {
            self.times = times
            oldest = times.min()!
            newest = times.max()!
        }
    }

    init(rows: Int) { self.init([Int64](repeating: Self.unknown, count: rows)) }

    func time(of row: Int) -> Int64 { times?[row] ?? Self.unknown }

    /// Every row's time (`count` rows when the column is implicit).
    func all(count: Int) -> [Int64] { times ?? [Int64](repeating: Self.unknown, count: count) }

    /// Whether some row was written at or before `cutoff`.
    func anyExpired(cutoff: Int64) -> Bool { oldest <= cutoff }

    /// The rows (of `rows`) written at or before `cutoff`, or nil when there are none.
    func expired(rows: Int, cutoff: Int64) -> Bitset? {
        guard oldest <= cutoff, let times else { return nil }
        var bits = Bitset(capacity: rows)
        if newest <= cutoff {
            bits.fill { _ in true }
        } else {
            bits.fill { times[$0] <= cutoff }
        }
        return bits
    }

    /// The stored form: little-endian Int64 per row.
    var encoded: [UInt8]? {
        guard let times else { return nil }
        var w = ByteWriter()
        w.bytes.reserveCapacity(times.count * 8)
        for t in times { w.i64(t) }
        return w.bytes
    }
}

/// A collection's time to live (`collection.ttl.seconds`), shared by its shards: a row whose insert
/// time plus the TTL is not in the future is gone from every read (search, query, get, count), is
/// tombstoned by the next compaction pass and then physically removed with the segments it lived in.
///
/// As in Milvus, expiry is computed from each row's insert time and the *current* TTL, so changing
/// the TTL applies to the rows already stored (raising it brings back rows that are not yet
/// compacted; lowering it expires older rows at once). 0 (or no property) disables expiry.
final class RowExpiry: Sendable {
    private let seconds: Mutex<Int64>
    let clock: @Sendable () -> Date

    init(seconds: Int64, clock: @escaping @Sendable () -> Date) {
        self.seconds = Mutex(seconds)
        self.clock = clock
    }

    var ttlSeconds: Int64 {
        get { seconds.withLock { $0 } }
        set { seconds.withLock { $0 = newValue } }
    }

    /// Now, in milliseconds since 1970 (the insert time a row committed now gets).
    var nowMillis: Int64 { Int64((clock().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Rows inserted at or before this time (milliseconds since 1970) have expired; nil without a TTL.
    func cutoff() -> Int64? {
        let ttl = ttlSeconds
        guard ttl > 0 else { return nil }
        let (ms, o1) = ttl.multipliedReportingOverflow(by: 1000)
        let (cut, o2) = nowMillis.subtractingReportingOverflow(ms)
        return o1 || o2 ? Int64.min : cut
    }
}
