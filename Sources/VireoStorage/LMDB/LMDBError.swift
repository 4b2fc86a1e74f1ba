import CLMDB

/// An error returned by LMDB, keeping the C return code.
///
/// Named values mirror LMDB's constants (`MDB_MAP_FULL` is ``mapFull``), so callers can match on
/// them; ``description`` gives LMDB's own text plus what to do about it.
public struct LMDBError: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C return code (an `errno` value or one of LMDB's negative `MDB_*` codes).
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `MDB_KEYEXIST`: the key/data pair already exists (with `MDB_NOOVERWRITE`).
    public static let keyExists = LMDBError(rawValue: MDB_KEYEXIST)
    /// `MDB_NOTFOUND`: no matching key/data pair.
    public static let notFound = LMDBError(rawValue: MDB_NOTFOUND)
    /// `MDB_CORRUPTED`: a page has the wrong type; the file is damaged.
    public static let corrupted = LMDBError(rawValue: MDB_CORRUPTED)
    /// `MDB_VERSION_MISMATCH`: the file was written by an incompatible LMDB version.
    public static let versionMismatch = LMDBError(rawValue: MDB_VERSION_MISMATCH)
    /// `MDB_INVALID`: the file is not an LMDB file.
    public static let invalid = LMDBError(rawValue: MDB_INVALID)
    /// `MDB_MAP_FULL`: the environment's map size is reached.
    public static let mapFull = LMDBError(rawValue: MDB_MAP_FULL)
    /// `MDB_DBS_FULL`: more named databases than `maxdbs`.
    public static let databasesFull = LMDBError(rawValue: MDB_DBS_FULL)
    /// `MDB_READERS_FULL`: all reader slots are taken.
    public static let readersFull = LMDBError(rawValue: MDB_READERS_FULL)
    /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
    public static let transactionFull = LMDBError(rawValue: MDB_TXN_FULL)
    /// `MDB_MAP_RESIZED`: another process grew the map beyond this one's size.
    public static let mapResized = LMDBError(rawValue: MDB_MAP_RESIZED)
    /// `MDB_BAD_RSLOT`: a reader slot was reused on one thread (open environments with `MDB_NOTLS`).
    public static let badReaderSlot = LMDBError(rawValue: MDB_BAD_RSLOT)
    /// `MDB_BAD_VALSIZE`: a key is empty or longer than the maximum key size (511 bytes).
    public static let badValueSize = LMDBError(rawValue: MDB_BAD_VALSIZE)

    /// LMDB's own message for the code.
    public var lmdbMessage: String { String(cString: mdb_strerror(rawValue)) }

    /// What a user can do about it.
    public var remedy: String {
        switch self {
        case .mapFull:
            return "the storage map of this environment reached its ceiling; reopen the database with a larger map size ceiling (Configuration.mapSize, `vireo --map-size-gib`)"
        case .readersFull:
            return "too many concurrent readers; raise Configuration.maxReaders"
        case .corrupted, .invalid:
            return "the data file is damaged or not a Vireo/LMDB file; restore the directory from a backup"
        case .versionMismatch:
            return "the data file was written by an incompatible LMDB version"
        case .badValueSize:
            return "a key is empty or longer than 511 bytes"
        case .transactionFull:
            return "the write is too large for one transaction; split it into smaller batches"
        default:
            return "see the LMDB documentation for this code"
        }
    }

    public var description: String { "LMDB error \(rawValue) (\(lmdbMessage)): \(remedy)" }

    /// Returns normally for `MDB_SUCCESS`, throws the code otherwise.
    @inline(__always)
    static func check(_ rc: Int32) throws(LMDBError) {
        if rc != MDB_SUCCESS { throw LMDBError(rawValue: rc) }
    }
}
