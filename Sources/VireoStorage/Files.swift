#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVireoKernels
import Foundation

/// Whole-file work for backups and restores: checksums, durable copies and directory syncs.
///
/// Checksums are CRC-32C (the kernel Vireo's blobs use), over the file's bytes in order. Files
/// are read and written in 1 MiB chunks through one buffer, so memory stays flat for any file size.
package enum Files {
    /// Size and CRC-32C of a file.
    package struct Digest: Sendable, Hashable {
        package var size: Int
        package var crc32c: UInt32
        package init(size: Int, crc32c: UInt32) {
            self.size = size
            self.crc32c = crc32c
        }
    }

    static let chunk = 1 << 20

    private static func errorText() -> String { String(cString: strerror(errno)) }

    /// Reads `path` to its end, handing each chunk to `body`; returns the file's digest.
    private static func stream(_ path: String, _ body: (UnsafeRawBufferPointer) throws(StorageError) -> Void) throws(StorageError) -> Digest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, message: "cannot open: \(errorText())") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: chunk)
        var digest = Digest(size: 0, crc32c: 0)
        while true {
            // SAFETY: `read` writes at most `count` bytes into the array's own storage, which lives
            // for the closure; the filled prefix is handed on only for the duration of `body`.
            let n = buffer.withUnsafeMutableBytes { b in read(fd, b.baseAddress, b.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, message: "read failed: \(errorText())")
            }
            if n == 0 { return digest }
            let result: Result<Void, StorageError> = buffer.withUnsafeBytes { b in
                let filled = UnsafeRawBufferPointer(rebasing: b[0..<n])
                digest.crc32c = vk_crc32c(digest.crc32c, filled.baseAddress!, n)
                digest.size += n
                do throws(StorageError) { try body(filled) } catch { return .failure(error) }
                return .success(())
            }
            try result.get()
        }
    }

    /// Size and CRC-32C of the file at `path`.
    package static func digest(_ path: String) throws(StorageError) -> Digest {
        try stream(path) { _ in }
    }

    /// Copies `source` to `destination` (which must not exist), `fsync`s it and returns the digest
    /// of the bytes copied (computed on the way, so a caller can compare it to an expected one).
    /// The parent directory is not synced; see ``syncDirectory(_:)``.
    package static func copyFile(from source: String, to destination: String) throws(StorageError) -> Digest {
        let out = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw .io(path: destination, message: "cannot create: \(errorText())") }
        defer { close(out) }
        let digest = try stream(source) { bytes throws(StorageError) in
            var offset = 0
            while offset < bytes.count {
                // SAFETY: the range written lies inside `bytes`, which is valid for this closure.
                let w = write(out, bytes.baseAddress! + offset, bytes.count - offset)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw .io(path: destination, message: "write failed: \(errorText())")
                }
                offset += w
            }
        }
        guard fsync(out) == 0 else { throw .io(path: destination, message: "fsync failed: \(errorText())") }
        return digest
    }

    /// Writes `bytes` to a new file at `path` (which must not exist) and `fsync`s it.
    package static func writeNew(_ path: String, bytes: [UInt8]) throws(StorageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, message: "cannot create: \(errorText())") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            // SAFETY: the range written lies inside the array's storage, valid for the closure.
            let w = bytes.withUnsafeBytes { b in write(fd, b.baseAddress! + offset, b.count - offset) }
            if w < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, message: "write failed: \(errorText())")
            }
            offset += w
        }
        guard fsync(fd) == 0 else { throw .io(path: path, message: "fsync failed: \(errorText())") }
    }

    /// `fsync`s the file at `path` (its data and size reach the disk).
    package static func syncFile(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, message: "cannot open: \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(path: path, message: "fsync failed: \(errorText())") }
    }

    /// `fsync`s a directory, so the entries created in it (files, subdirectories) survive a crash.
    package static func syncDirectory(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, message: "cannot open the directory: \(errorText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(path: path, message: "fsync of the directory failed: \(errorText())") }
    }
}
