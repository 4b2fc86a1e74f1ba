#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The exclusive lock one process holds on a data directory while it uses it: `flock(LOCK_EX)` on
/// `<dir>/LOCK`, which also records the holder's pid for the error a second opener gets.
///
/// LMDB lets several processes share an environment, but Vireo keeps state beside LMDB (published
/// snapshots, the growing segment's blocks, auto-id counters) that only one writer process may own:
/// a second process writing the same directory would lose acknowledged rows or bring deleted ones
/// back. The kernel releases the lock when the process dies (kill -9 included), so a crash never
/// leaves a stale lock behind; the pid in the file is only a hint for the message.
package final class DirectoryLock: Sendable {
    package let path: String
    private let fd: Int32

    /// Takes the lock, creating the directory and the lock file when needed.
    ///
    /// - Throws: ``StorageError/lockedByAnotherProcess(path:pid:)`` when another open file
    ///   description (another process, or another open of this process) holds it.
    package init(directory: String) throws(StorageError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, message: "cannot create the directory: \(error.localizedDescription)")
        }
        let path = directory + "/LOCK"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, message: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            guard busy else { throw .io(path: path, message: "cannot lock: \(String(cString: strerror(errno)))") }
            let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            let holder = Int(text)
            if holder == Int(getpid()) { throw .alreadyOpen(path: directory) }
            throw .lockedByAnotherProcess(path: directory, pid: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.path = path
        self.fd = fd
    }

    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
