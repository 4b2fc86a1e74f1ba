#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Keeps a data directory usable when its disk fills up.
///
/// A full disk (ENOSPC) is not a full map: LMDB's map is address space and grows on demand
/// (``Environment``), while the disk is what the pages are written to. When a commit fails with
/// ENOSPC the guard enters a **disk-full state**:
/// - it deletes its **reserve file** (`<dir>/RESERVE`, `reserveBytes` preallocated with
///   `posix_fallocate` at open), so deletes and drops, which need a few fresh pages for LMDB's
///   copy-on-write before they free anything, still have room;
/// - writes that add data (inserts, upserts, seals, index builds, new collections) are refused up
///   front with ``StorageError/diskFull(path:)`` (``checkWritable()``); reads never notice;
/// - it leaves the state by itself, without a restart, once the file system has `reserveBytes +
///   marginBytes` available again (checked at most once per `checkInterval`, on write attempts and
///   when asked for the state): it re-creates the reserve and accepts writes again.
///
/// A database that cannot create its reserve at open (the disk is already full) starts in the
/// disk-full state.
package final class SpaceGuard: Sendable {
    package let directory: String
    package let reserveBytes: Int
    /// Free space needed on top of the reserve before writes resume.
    package let marginBytes: Int
    private let checkInterval: Duration
    private let reservePath: String
    private let state: Mutex<State>

    private struct State {
        var diskFull = false
        var lastCheck: ContinuousClock.Instant?
        /// How many times the disk-full state was entered (metrics).
        var episodes = 0
    }

    /// Creates the reserve in `directory` (which must exist).
    package init(directory: String, reserveBytes: Int, marginBytes: Int? = nil, checkInterval: Duration = .seconds(1)) {
        self.directory = directory
        self.reserveBytes = max(0, reserveBytes)
        self.marginBytes = marginBytes ?? max(self.reserveBytes, 1 << 20)
        self.checkInterval = checkInterval
        reservePath = directory + "/RESERVE"
        var s = State()
        if !SpaceGuard.createReserve(at: reservePath, bytes: self.reserveBytes) {
            s.diskFull = true
            s.episodes = 1
        }
        state = Mutex(s)
    }

    /// Whether the guard is in its disk-full state, after a (rate-limited) check whether space is back.
    package var isDiskFull: Bool { refresh() }

    /// How many times the disk-full state was entered since open.
    package var diskFullEpisodes: Int { state.withLock { $0.episodes } }

    /// Throws ``StorageError/diskFull(path:)`` while the disk is full (after a rate-limited check).
    package func checkWritable() throws(StorageError) {
        if refresh() { throw .diskFull(path: directory) }
    }

    /// Enters the disk-full state and frees the reserve. Returns whether this call entered it (false
    /// when the state was already on, so the reserve is already gone).
    @discardableResult
    package func enterDiskFull() -> Bool {
        let entered = state.withLock { s -> Bool in
            guard !s.diskFull else { return false }
            s.diskFull = true
            s.episodes += 1
            s.lastCheck = .now
            return true
        }
        if entered { unlink(reservePath) }
        return entered
    }

    /// Leaves the disk-full state if enough space is back (at most once per `checkInterval`).
    /// Returns whether the disk is (still) full.
    @discardableResult
    package func refresh() -> Bool {
        let due = state.withLock { s -> Bool in
            guard s.diskFull else { return false }
            if let last = s.lastCheck, ContinuousClock.now - last < checkInterval { return false }
            s.lastCheck = .now
            return true
        }
        if due, let free = availableBytes(), free >= reserveBytes + marginBytes,
           SpaceGuard.createReserve(at: reservePath, bytes: reserveBytes) {
            state.withLock { $0.diskFull = false }
        }
        return state.withLock { $0.diskFull }
    }

    /// Bytes available to this process on the data directory's file system (`statvfs`).
    package func availableBytes() -> Int? {
        var st = statvfs()
        guard statvfs(directory, &st) == 0 else { return nil }
        return Int(st.f_bavail) * Int(st.f_frsize)
    }

    /// Creates (or completes) the reserve file with `bytes` allocated blocks. Returns false when the
    /// space is not there; a half-made reserve is removed.
    private static func createReserve(at path: String, bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // posix_fallocate returns the error number itself; glibc emulates it by writing where the
        // file system has no fallocate.
        if posix_fallocate(fd, 0, off_t(bytes)) != 0 {
            unlink(path)
            return false
        }
        return true
    }
}
