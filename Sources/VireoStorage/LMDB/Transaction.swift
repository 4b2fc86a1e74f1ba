import CLMDB

/// Read operations shared by read-only and write transactions.
///
/// - Important: every `UnsafeRawBufferPointer` handed out points into LMDB's memory map and is valid
///   only until the transaction ends or (in a write transaction) the next write. Decode or copy it
///   inside the transaction closure; never store it.
package protocol TransactionReading {
    var handle: OpaquePointer { get }
}

extension TransactionReading {
    /// The value stored under `key`, or nil.
    package func get(_ db: LMDBDatabase, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "reading from '\(db.name)'") }
        // SAFETY: LMDB returns a pointer into the map valid for this transaction; callers are told not
        // to let it escape the transaction closure.
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The value stored under `key`, or nil.
    package func get(_ db: LMDBDatabase, key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { kb in try get(db, key: kb) }
    }

    /// Visits entries in key order starting at the first key `>= start` (or the first key), until
    /// `body` returns false.
    package func forEach(
        _ db: LMDBDatabase, from start: [UInt8]? = nil,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        var cursor: OpaquePointer?
        var rc = mdb_cursor_open(handle, db.dbi, &cursor)
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "opening a cursor on '\(db.name)'") }
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        var startCopy = start ?? []
        if start != nil {
            rc = startCopy.withUnsafeMutableBytes { sb in
                k = MDB_val(mv_size: sb.count, mv_data: sb.baseAddress)
                return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            }
        } else {
            rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        }
        while rc == MDB_SUCCESS {
            // SAFETY: key and value point into the map for the duration of this transaction.
            let keep = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !keep { return }
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "iterating '\(db.name)'") }
    }

    /// Visits the entries whose key starts with `prefix`, in key order.
    package func forEach(
        _ db: LMDBDatabase, prefix: [UInt8],
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try forEach(db, from: prefix) { key, value in
            guard key.count >= prefix.count, key.prefix(prefix.count).elementsEqual(prefix) else { return false }
            try body(key, value)
            return true
        }
    }

    /// The largest key in `db`, copied, or nil if it is empty.
    package func lastKey(_ db: LMDBDatabase) throws -> [UInt8]? {
        var cursor: OpaquePointer?
        var rc = mdb_cursor_open(handle, db.dbi, &cursor)
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "opening a cursor on '\(db.name)'") }
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST)
        if rc == MDB_NOTFOUND { return nil }
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "reading the last key of '\(db.name)'") }
        return Array(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size))
    }

    /// Number of entries in `db`.
    package func entryCount(_ db: LMDBDatabase) throws -> Int {
        var stat = MDB_stat()
        let rc = mdb_stat(handle, db.dbi, &stat)
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "stat of '\(db.name)'") }
        return stat.ms_entries
    }
}

/// A read-only LMDB transaction: a consistent snapshot. Available only inside
/// ``Environment/read(_:)``; not `Sendable`.
package struct ReadTransaction: TransactionReading {
    package let handle: OpaquePointer
}

/// A write transaction. Available only inside ``Environment/write(_:)``; not `Sendable`. Writes are
/// visible to this transaction at once and to others after the commit.
package struct WriteTransaction: TransactionReading {
    package let handle: OpaquePointer

    /// Stores `value` under `key`.
    ///
    /// - Parameter noOverwrite: fail with ``LMDBError/keyExists`` instead of replacing a value.
    package func put(_ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, noOverwrite: Bool = false) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(handle, db.dbi, &k, &v, noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0)
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "writing to '\(db.name)'") }
    }

    /// Stores `value` under `key`.
    package func put(_ db: LMDBDatabase, key: [UInt8], value: [UInt8], noOverwrite: Bool = false) throws {
        try key.withUnsafeBytes { kb in
            try value.withUnsafeBytes { vb in try put(db, key: kb, value: vb, noOverwrite: noOverwrite) }
        }
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place (`MDB_RESERVE`): large
    /// blobs are written straight into the map without an intermediate copy.
    package func putReserved(
        _ db: LMDBDatabase, key: [UInt8], count: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        var v = MDB_val(mv_size: count, mv_data: nil)
        let rc = key.withUnsafeBytes { kb -> Int32 in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            return mdb_put(handle, db.dbi, &k, &v, UInt32(MDB_RESERVE))
        }
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "reserving \(count) bytes in '\(db.name)'") }
        // SAFETY: LMDB reserved `count` writable bytes at mv_data, valid until the next write in
        // this transaction; `fill` runs before any other write.
        try fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes `key`; returns whether it existed.
    @discardableResult
    package func delete(_ db: LMDBDatabase, key: [UInt8]) throws -> Bool {
        let rc = key.withUnsafeBytes { kb -> Int32 in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            return mdb_del(handle, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "deleting from '\(db.name)'") }
        return true
    }

    /// Deletes every entry whose key starts with `prefix`; returns how many.
    @discardableResult
    package func deletePrefix(_ db: LMDBDatabase, prefix: [UInt8]) throws -> Int {
        var keys: [[UInt8]] = []
        try forEach(db, prefix: prefix) { key, _ in keys.append(Array(key)) }
        for key in keys { try delete(db, key: key) }
        return keys.count
    }

    /// Removes every entry of `db`.
    package func clear(_ db: LMDBDatabase) throws {
        let rc = mdb_drop(handle, db.dbi, 0)
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "clearing '\(db.name)'") }
    }

    /// Runs `body` in a nested transaction: its writes join this transaction if `body` returns and
    /// are discarded if it throws, leaving this transaction as it was. Group commit uses it to apply
    /// many independent requests in one durable commit while a failing request loses only its own
    /// writes.
    package func nested<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        var child: OpaquePointer?
        let env = mdb_txn_env(handle)
        let rc = mdb_txn_begin(env, handle, 0, &child)
        guard rc == MDB_SUCCESS, let child else {
            throw StorageError.lmdb(LMDBError(rawValue: rc), context: "beginning a nested transaction")
        }
        var t = WriteTransaction(handle: child)
        let result: R
        do {
            result = try body(&t)
        } catch {
            mdb_txn_abort(child)
            throw error
        }
        let crc = mdb_txn_commit(child)
        if crc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: crc), context: "committing a nested transaction") }
        return result
    }
}
