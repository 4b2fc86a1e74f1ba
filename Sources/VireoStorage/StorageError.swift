#if canImport(Glibc)
import Glibc
#endif

/// Errors of the storage layer. The engine wraps them into `VireoError` with collection context.
package enum StorageError: Error, Sendable, CustomStringConvertible {
    /// An LMDB call failed.
    case lmdb(LMDBError, context: String)
    /// The environment at this path is already open in this process.
    case alreadyOpen(path: String)
    /// Another process holds the data directory's lock (``DirectoryLock``); `pid` as it recorded it.
    case lockedByAnotherProcess(path: String, pid: Int?)
    /// A file-system operation failed.
    case io(path: String, message: String)
    /// A stored blob failed its integrity check.
    case corrupted(what: String, reason: String)
    /// The file system holding the data directory is full (ENOSPC, or a quota: EDQUOT); the write
    /// was not applied. See ``SpaceGuard``.
    case diskFull(path: String)

    package var description: String {
        switch self {
        case let .lmdb(error, context): return "\(context): \(error)"
        case let .alreadyOpen(path):
            return "the data directory \(path) is already open in this process; open it once and share the handle"
        case let .lockedByAnotherProcess(path, pid):
            return "the data directory \(path) is in use by another process\(pid.map { " (pid \($0))" } ?? ""): one process owns a data directory at a time; stop that process, or open another directory"
        case let .io(path, message): return "\(path): \(message)"
        case let .corrupted(what, reason):
            return "\(what) is corrupted (\(reason)); it will not be served. Restore the data directory from a backup"
        case let .diskFull(path):
            return "the disk holding \(path) is full; writes are refused until space is freed (delete rows, drop collections, or free or add disk space); reads, deletes and drops keep working"
        }
    }

    /// Whether this is a full disk: ENOSPC or EDQUOT from LMDB (errno values pass through), or
    /// ``diskFull(path:)``.
    package var isNoSpace: Bool {
        switch self {
        case .diskFull: return true
        case let .lmdb(e, _): return e.rawValue == ENOSPC || e.rawValue == EDQUOT
        default: return false
        }
    }

    /// The LMDB code, if this is an LMDB failure.
    package var lmdbCode: LMDBError? {
        if case let .lmdb(e, _) = self { return e }
        return nil
    }
}
