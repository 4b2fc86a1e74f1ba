import CLMDB
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One LMDB environment (a directory with `data.mdb` and `lock.mdb`) and its named databases.
///
/// ## Rules (from `lmdb.h`), and what breaks if they are not followed
/// - **Open a path once per process.** LMDB's locks are per process; a second `mdb_env_open` of the
///   same path in one process corrupts the lock state. ``init(path:mapSize:initialMapSize:maxReaders:databases:readOnly:space:)``
///   keeps a process-wide registry and throws ``StorageError/alreadyOpen`` instead.
/// - **`MDB_NOTLS`.** Swift tasks hop between threads and share them, so reader slots are tied to
///   transactions, not threads. Without it a second read transaction on one thread fails with
///   `MDB_BAD_RSLOT`.
/// - **Named databases are opened once**, here, before any other transaction exists.
/// - **Transactions are scoped to synchronous closures.** A closure cannot `await`, so a transaction
///   begins and ends on one OS thread and never spans a suspension point.
/// - **The map grows on demand, with no transaction of this process open.** It starts at
///   `initialMapSize` and doubles (up to the `mapSize` ceiling) when a write meets `MDB_MAP_FULL`:
///   `mdb_env_set_mapsize` may move the map, so every transaction holds ``gate`` shared and the
///   growth holds it exclusively. Nothing may keep a pointer into LMDB's map past its transaction:
///   sealed blobs used in place have their own mapping of the file (``MappedBlob``).
/// - **Write bodies must be retry-safe.** ``write(essential:_:)`` runs its body again after growing the
///   map (and, for essential writes, after a disk-full), so a body must derive everything it stores
///   from its inputs and the transaction, not from state a previous attempt changed.
///
/// ## Thread safety
/// An environment is shared freely; LMDB serialises write transactions with its own mutex and read
/// transactions never block (except for the moment a map growth takes ``gate``).
package final class Environment: @unchecked Sendable {
    // SAFETY: `handle` is set once in init and closed once in deinit; LMDB's environment handle is
    // thread-safe for transactions opened with MDB_NOTLS. `dbis` is immutable after init. `gate` is
    // allocated and initialised in init, destroyed and freed in deinit, and only used through
    // pthread_rwlock calls, which are thread-safe.
    let handle: OpaquePointer
    /// Directory of the environment.
    package let path: String
    /// Ceiling of the map in bytes: it grows up to this size and no further.
    package let mapSize: Int
    /// The disk-space guard shared by the database's environments (nil: no disk-full handling).
    package let space: SpaceGuard?
    private let readOnly: Bool
    private let dbis: [String: MDB_dbi]
    private let removeOnClose = Mutex(false)
    /// Shared by every transaction of this process, exclusive while the map is resized. glibc's
    /// default rwlock prefers readers, so a thread may take it shared again while it holds it (a
    /// read nested in a write closure) even when a growth waits.
    private let gate: UnsafeMutablePointer<pthread_rwlock_t>

    private static let openPaths = Mutex<Set<String>>([])

    /// Opens (creating if needed) the environment at `path` with the named databases `databases`.
    ///
    /// - Parameters:
    ///   - path: a directory; created if missing.
    ///   - mapSize: the ceiling of the map: bytes of address space it may grow to (the file grows only
    ///     as data is written).
    ///   - initialMapSize: the map's size at open (nil: `mapSize`); grown by doubling on demand. An
    ///     existing file larger than it opens with room to spare.
    ///   - databases: names of the databases to open or create.
    ///   - readOnly: open with `MDB_RDONLY`: nothing is created or written (the directory and its
    ///     databases must exist), and LMDB refuses write transactions. The map follows the writer's
    ///     size (`MDB_MAP_RESIZED` is handled).
    ///   - space: the guard that handles a full disk (ENOSPC) for writes.
    /// - Throws: ``StorageError``.
    package init(path: String, mapSize: Int, initialMapSize: Int? = nil, maxReaders: Int = 512, databases: [String],
                 readOnly: Bool = false, space: SpaceGuard? = nil) throws(StorageError) {
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
        // A read-only open takes the size the writer recorded in the file (LMDB's default when none
        // is set); a writer starts small and leaves room above an existing file.
        if !readOnly {
            let start = Environment.startingMapSize(file: canonical + "/data.mdb", initial: initialMapSize ?? mapSize, ceiling: mapSize)
            rc = mdb_env_set_mapsize(env, start)
            if rc != MDB_SUCCESS { throw fail(rc, "setting the map size to \(start) bytes") }
        }
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
        if rc == MDB_MAP_RESIZED {
            // The writer grew the map between our open and this transaction: adopt its size.
            rc = mdb_env_set_mapsize(env, 0)
            if rc == MDB_SUCCESS { rc = mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn) }
        }
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
        self.space = space
        self.readOnly = readOnly
        self.dbis = opened
        gate = .allocate(capacity: 1)
        // SAFETY: `gate` was just allocated for one pthread_rwlock_t; default attributes (prefer readers).
        gate.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(gate, nil)
    }

    /// The map size to open with: `initial`, doubled while an existing data file would leave less
    /// than a quarter of it free, within `ceiling` (but never below the file itself).
    static func startingMapSize(file: String, initial: Int, ceiling: Int) -> Int {
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        var size = max(1 << 16, min(initial, ceiling))
        while size < ceiling && size - size / 4 < fileSize { size = min(size * 2, ceiling) }
        return max(size, fileSize)
    }

    deinit {
        mdb_env_close(handle)
        // SAFETY: no transaction can hold the gate any more (they run inside methods of self).
        pthread_rwlock_destroy(gate)
        gate.deallocate()
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

    /// Runs `body` holding the gate shared (no map growth meanwhile).
    private func shared<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        return try body()
    }

    /// Runs `body` holding the gate exclusively: no transaction of this process is open.
    private func exclusive<R>(_ body: () throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        return try body()
    }

    /// The current size of the map in bytes (it grows up to ``mapSize``).
    package var currentMapSize: Int {
        shared {
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            return info.me_mapsize
        }
    }

    /// Whether the map can still grow.
    package var canGrow: Bool { !readOnly && currentMapSize < mapSize }

    /// Another process (the writer) grew the map beyond this one's: adopt the size it recorded.
    private func adoptResizedMap() throws {
        let rc = exclusive { mdb_env_set_mapsize(handle, 0) }
        if rc != MDB_SUCCESS {
            throw StorageError.lmdb(LMDBError(rawValue: rc), context: "following the map growth of another process in \(path)")
        }
    }

    /// Doubles the map (within ``mapSize``) unless another thread already grew it past `seen`.
    ///
    /// - Throws: ``StorageError/lmdb(_:context:)`` with ``LMDBError/mapFull`` at the ceiling.
    private func grow(from seen: Int) throws {
        let rc: Int32 = try exclusive {
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            if info.me_mapsize > seen { return MDB_SUCCESS }
            guard info.me_mapsize < mapSize else {
                throw StorageError.lmdb(.mapFull, context: "writing to \(path): the map reached its ceiling of \(mapSize >> 20) MiB")
            }
            return mdb_env_set_mapsize(handle, min(info.me_mapsize * 2, mapSize))
        }
        if rc != MDB_SUCCESS { throw StorageError.lmdb(LMDBError(rawValue: rc), context: "growing the map of \(path)") }
    }

    /// Runs `body` in a read-only transaction (a consistent snapshot).
    ///
    /// - Important: bytes read through the transaction are valid only inside `body`.
    package func read<R>(_ body: (ReadTransaction) throws -> R) throws -> R {
        while true {
            var result: R?
            let rc: Int32 = try shared {
                var txn: OpaquePointer?
                let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
                guard rc == MDB_SUCCESS, let txn else { return rc }
                defer { mdb_txn_abort(txn) }
                result = try body(ReadTransaction(handle: txn))
                return MDB_SUCCESS
            }
            if rc == MDB_SUCCESS, let result { return result }
            guard rc == MDB_MAP_RESIZED else {
                throw StorageError.lmdb(LMDBError(rawValue: rc), context: "beginning a read transaction in \(path)")
            }
            try adoptResizedMap()
        }
    }

    /// How one attempt at a write transaction ended.
    private enum Attempt<R> {
        case committed(R)
        /// The map is full; it had this size.
        case mapFull(Int)
        /// Another process grew the map beyond this one's (a read-only view beside a writer sees
        /// it; handled the same for writes).
        case mapResized
        /// The disk is full (ENOSPC/EDQUOT).
        case noSpace(StorageError)
    }

    /// Runs `body` in a write transaction and commits it durably (fsync) if `body` returns; aborts it if
    /// `body` throws. Write transactions are serialised by LMDB.
    ///
    /// - A full map (`MDB_MAP_FULL` from a write in `body` or from the commit) aborts, grows the map
    ///   and runs `body` again, until it fits or the map is at its ceiling (then the `MDB_MAP_FULL`
    ///   error is thrown, naming the ceiling).
    /// - On a full disk the environment's ``SpaceGuard`` enters its disk-full state (freeing its
    ///   reserve). A write that is not `essential` is then refused up front with
    ///   ``StorageError/diskFull(path:)`` until space is back; an `essential` one (deletes, drops:
    ///   what frees space) still runs, and runs once more after hitting ENOSPC, on the freed reserve.
    ///
    /// - Important: `body` may run more than once (see ``Environment``): it must be retry-safe.
    ///   Bytes read through the transaction are valid only inside `body`.
    package func write<R>(essential: Bool = false, _ body: (inout WriteTransaction) throws -> R) throws -> R {
        if !essential, let space { try space.checkWritable() }
        var retriedOnReserve = false
        while true {
            switch try attempt(body) {
            case let .committed(r):
                return r
            case let .mapFull(seen):
                try grow(from: seen)
            case .mapResized:
                try adoptResizedMap()
            case let .noSpace(error):
                guard let space else { throw error }
                let entered = space.enterDiskFull()
                if essential && entered && !retriedOnReserve {
                    retriedOnReserve = true
                    continue
                }
                throw StorageError.diskFull(path: path)
            }
        }
    }

    private func attempt<R>(_ body: (inout WriteTransaction) throws -> R) throws -> Attempt<R> {
        try shared {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(handle, nil, 0, &txn)
            if rc == MDB_MAP_RESIZED { return .mapResized }
            guard rc == MDB_SUCCESS, let txn else {
                throw StorageError.lmdb(LMDBError(rawValue: rc), context: "beginning a write transaction in \(path)")
            }
            var t = WriteTransaction(handle: txn)
            let result: R
            do {
                result = try body(&t)
            } catch {
                mdb_txn_abort(txn)
                if let s = error as? StorageError {
                    if s.lmdbCode == .mapFull && !readOnly { return .mapFull(currentMapSizeUnlocked()) }
                    if s.isNoSpace { return .noSpace(s) }
                }
                throw error
            }
            let crc = mdb_txn_commit(txn)
            if crc == MDB_SUCCESS { return .committed(result) }
            let error = StorageError.lmdb(LMDBError(rawValue: crc), context: "committing a write transaction in \(path)")
            if crc == MDB_MAP_FULL { return .mapFull(currentMapSizeUnlocked()) }
            if error.isNoSpace { return .noSpace(error) }
            throw error
        }
    }

    /// ``currentMapSize`` for a caller that already holds the gate.
    private func currentMapSizeUnlocked() -> Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// Bytes of live data: pages of every named database (branch, leaf and overflow pages), not
    /// counting free pages that LMDB keeps for reuse.
    package func liveBytes() -> Int {
        shared { liveBytesUnlocked() }
    }

    private func liveBytesUnlocked() -> Int {
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
        shared { usedBytesUnlocked() }
    }

    private func usedBytesUnlocked() -> Int {
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
