import CLMDB
import Foundation
import Synchronization

/// One LMDB environment (a directory with `data.mdb` and `lock.mdb`) and its named databases.
///
/// ## Rules (from `lmdb.h`), and what breaks if they are not followed
/// - **Open a path once per process.** LMDB's locks are per process; a second `mdb_env_open` of the
///   same path in one process corrupts the lock state. ``open(path:mapSize:databases:)`` keeps a
///   process-wide registry and throws ``StorageError/alreadyOpen`` instead.
/// - **`MDB_NOTLS`.** Swift tasks hop between threads and share them, so reader slots are tied to
///   transactions, not threads. Without it a second read transaction on one thread fails with
///   `MDB_BAD_RSLOT`.
/// - **Named databases are opened once**, here, before any other transaction exists.
/// - **Transactions are scoped to synchronous closures.** A closure cannot `await`, so a transaction
///   begins and ends on one OS thread and never spans a suspension point.
/// - **The map is never resized while open.** Sealed segments are read in place from the memory map;
///   a resize could move the map under them. The map size is reserved up front (it is virtual address
///   space, not disk), and a full map is reported with how to raise it.
///
/// ## Thread safety
/// An environment is shared freely; LMDB serialises write transactions with its own mutex and read
/// transactions never block.
package final class Environment: @unchecked Sendable {
    // SAFETY: `handle` is set once in init and closed once in deinit; LMDB's environment handle is
    // thread-safe for transactions opened with MDB_NOTLS. `dbis` is immutable after init.
    let handle: OpaquePointer
    /// Directory of the environment.
    package let path: String
    /// Reserved map size in bytes.
    package let mapSize: Int
    private let dbis: [String: MDB_dbi]
    private let removeOnClose = Mutex(false)

    private static let openPaths = Mutex<Set<String>>([])

    /// Opens (creating if needed) the environment at `path` with the named databases `databases`.
    ///
    /// - Parameters:
    ///   - path: a directory; created if missing.
    ///   - mapSize: bytes of address space to reserve for the map (the file grows only as data is
    ///     written).
    ///   - databases: names of the databases to open or create.
    ///   - readOnly: open with `MDB_RDONLY`: nothing is created or written (the directory and its
    ///     databases must exist), and LMDB refuses write transactions.
    /// - Throws: ``StorageError``.
    package init(path: String, mapSize: Int, maxReaders: Int = 512, databases: [String], readOnly: Bool = false) throws(StorageError) {
        let canonical = URL(fileURLWithPath: path).standardizedFileURL.path
        if readOnly {
            guard FileManager.default.fileExists(atPath: canonical + "/data.mdb") else {
                throw .io(path: canonical, message: "no LMDB environment here to open read-only")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: canonical, withIntermediateDirectories: true)
            } catch {
                throw .io(path: canonical, message: "cannot create the directory: \(error.localizedDescription)")
            }
        }
        let registered = Environment.openPaths.withLock { $0.insert(canonical).inserted }
        guard registered else { throw .alreadyOpen(path: canonical) }

        var env: OpaquePointer?
        var rc = mdb_env_create(&env)
        guard rc == MDB_SUCCESS, let env else {
            Environment.openPaths.withLock { _ = $0.remove(canonical) }
            throw .lmdb(LMDBError(rawValue: rc), context: "creating the environment for \(canonical)")
        }
        func fail(_ rc: Int32, _ what: String) -> StorageError {
            mdb_env_close(env)
            Environment.openPaths.withLock { _ = $0.remove(canonical) }
            return .lmdb(LMDBError(rawValue: rc), context: "\(what) (\(canonical))")
        }
        rc = mdb_env_set_mapsize(env, mapSize)
        if rc != MDB_SUCCESS { throw fail(rc, "setting the map size to \(mapSize) bytes") }
        rc = mdb_env_set_maxdbs(env, MDB_dbi(max(databases.count, 1)))
        if rc != MDB_SUCCESS { throw fail(rc, "setting maxdbs") }
        rc = mdb_env_set_maxreaders(env, UInt32(maxReaders))
        if rc != MDB_SUCCESS { throw fail(rc, "setting maxreaders") }
        rc = mdb_env_open(env, canonical, UInt32(MDB_NOTLS) | (readOnly ? UInt32(MDB_RDONLY) : 0), 0o644)
        if rc != MDB_SUCCESS { throw fail(rc, "opening the environment") }
        // Clear reader slots left by crashed processes so they do not pin old pages.
        var dead: Int32 = 0
        _ = mdb_reader_check(env, &dead)

        var txn: OpaquePointer?
        rc = mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
        if rc != MDB_SUCCESS { throw fail(rc, "beginning the transaction that opens databases") }
        var opened: [String: MDB_dbi] = [:]
        for name in databases {
            var dbi: MDB_dbi = 0
            rc = mdb_dbi_open(txn, name, readOnly ? 0 : UInt32(MDB_CREATE), &dbi)
            if rc != MDB_SUCCESS {
                mdb_txn_abort(txn)
                throw fail(rc, "opening database '\(name)'")
            }
            opened[name] = dbi
        }
        rc = mdb_txn_commit(txn)
        if rc != MDB_SUCCESS { throw fail(rc, "committing the transaction that opens databases") }

        self.handle = env
        self.path = canonical
        self.mapSize = mapSize
        self.dbis = opened
    }

    deinit {
        mdb_env_close(handle)
        let p = path
        if removeOnClose.withLock({ $0 }) {
            try? FileManager.default.removeItem(atPath: p)
            // The parent (a collection directory) goes with its last shard: rmdir fails while any
            // other shard directory remains.
            _ = rmdir(URL(fileURLWithPath: p).deletingLastPathComponent().path)
        }
        Environment.openPaths.withLock { _ = $0.remove(p) }
    }

    /// Deletes the environment's directory once the last reference is gone (a dropped collection:
    /// searches still running on it finish on intact data first), and its parent directory if that
    /// is then empty.
    package func removeDirectoryWhenClosed() {
        removeOnClose.withLock { $0 = true }
    }

    /// The handle of a named database opened at init.
    package func database(_ name: String) -> LMDBDatabase {
        guard let dbi = dbis[name] else { preconditionFailure("database '\(name)' was not opened with this environment") }
        return LMDBDatabase(dbi: dbi, name: name)
    }

    /// Names of the databases opened at init, sorted.
    package var databaseNames: [String] { dbis.keys.sorted() }

    /// Runs `body` in a read-only transaction (a consistent snapshot).
    ///
    /// - Important: bytes read through the transaction are valid only inside `body`.
    package func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
        guard rc == MDB_SUCCESS, let txn else {
            throw StorageError.lmdb(LMDBError(rawValue: rc), context: "beginning a read transaction in \(path)")
        }
        defer { mdb_txn_abort(txn) }
        let t = ReadTransaction(handle: txn)
        return try body(t)
    }

    /// Runs `body` in a write transaction and commits it durably (fsync) if `body` returns; aborts it if
    /// `body` throws. Write transactions are serialised by LMDB.
    ///
    /// - Important: bytes read through the transaction are valid only inside `body`.
    package func write<R>(_ body: (inout WriteTransaction) throws -> R) throws -> R {
        var txn: OpaquePointer?
        let rc = mdb_txn_begin(handle, nil, 0, &txn)
        guard rc == MDB_SUCCESS, let txn else {
            throw StorageError.lmdb(LMDBError(rawValue: rc), context: "beginning a write transaction in \(path)")
        }
        var t = WriteTransaction(handle: txn)
        let result: R
        do {
            result = try body(&t)
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        let crc = mdb_txn_commit(txn)
        if crc != MDB_SUCCESS {
            throw StorageError.lmdb(LMDBError(rawValue: crc), context: "committing a write transaction in \(path)")
        }
        return result
    }

    /// Bytes of live data: pages of every named database (branch, leaf and overflow pages), not
    /// counting free pages that LMDB keeps for reuse.
    package func liveBytes() -> Int {
        var total = 0
        var txn: OpaquePointer?
        guard mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn) == MDB_SUCCESS else { return 0 }
        defer { mdb_txn_abort(txn) }
        for dbi in dbis.values {
            var st = MDB_stat()
            if mdb_stat(txn, dbi, &st) == MDB_SUCCESS {
                total += (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * Int(st.ms_psize)
            }
        }
        return total
    }

    /// LMDB's page size for this environment (the OS page size).
    package var pageSize: Int {
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return Int(stat.ms_psize)
    }

    /// Bytes of the data file in use (last used page × page size; includes free pages kept for reuse).
    package func usedBytes() -> Int {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        mdb_env_info(handle, &info)
        mdb_env_stat(handle, &stat)
        return (info.me_last_pgno + 1) * Int(stat.ms_psize)
    }
}

/// A named database inside an environment.
package struct LMDBDatabase: Sendable, Hashable {
    let dbi: MDB_dbi
    package let name: String
}

extension Environment {
    /// Writes a copy of the environment into `directory` (as `data.mdb`) with `mdb_env_copy2`, then
    /// makes the copy durable (`fsync` of the file and of the directory).
    ///
    /// The copy is one read transaction: a consistent snapshot holding every transaction committed
    /// before the call, taken while writers (in this or another process) go on committing. With
    /// `compact` (`MDB_CP_COMPACT`) free pages are left out and pages are renumbered, so the copy
    /// is as small as the live data. The copy has no `lock.mdb`; LMDB creates one when it is opened.
    /// It works on an environment opened read-only too: the copy's reader slot sits in the shared
    /// lock file, so the owner's writer does not reuse the pages being copied.
    ///
    /// - Parameter directory: an existing directory without a `data.mdb` (LMDB refuses to
    ///   overwrite one).
    /// - Throws: ``StorageError``.
    package func copy(to directory: String, compact: Bool = true) throws(StorageError) {
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        guard !FileManager.default.fileExists(atPath: target + "/data.mdb") else {
            throw .io(path: target, message: "a data.mdb is already there; a copy never overwrites an environment")
        }
        let rc = mdb_env_copy2(handle, target, compact ? UInt32(MDB_CP_COMPACT) : 0)
        guard rc == MDB_SUCCESS else {
            throw .lmdb(LMDBError(rawValue: rc), context: "copying the environment \(path) to \(target)")
        }
        try Files.syncFile(target + "/data.mdb")
        try Files.syncDirectory(target)
    }
}
