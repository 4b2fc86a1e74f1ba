import CVireoKernels
import CZstd

/// Stored blobs: every large value Vireo keeps in LMDB (sealed vectors, primary keys, scalar
/// columns, growing-segment batches) carries a header with a format version and a CRC-32C, because
/// LMDB has no page checksums. A blob that fails its check is reported, never served.
///
/// Layout (little-endian), 64-byte header so the payload of an overflow-page value stays 16-byte
/// aligned (LMDB puts large values at page start + 16):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `VIRB` |
/// | 4 | 2 | format version (``formatVersion``) |
/// | 6 | 2 | kind (what the payload is; checked against the reader's expectation) |
/// | 8 | 4 | flags (bit 0: payload is zstd-compressed) |
/// | 12 | 4 | CRC-32C of the stored payload |
/// | 16 | 8 | stored payload length |
/// | 24 | 8 | uncompressed payload length |
/// | 32 | 32 | reserved, zero |
package enum Blob {
    package static let headerSize = 64
    /// The largest uncompressed payload a blob may declare (LMDB values are far smaller).
    static let maxRawLength = 1 << 40
    package static let formatVersion: UInt16 = 1
    static let magic: UInt32 = 0x4252_4956  // "VIRB" little-endian

    /// What a blob holds.
    package struct Kind: RawRepresentable, Hashable, Sendable {
        package let rawValue: UInt16
        package init(rawValue: UInt16) { self.rawValue = rawValue }
        package static let vectors = Kind(rawValue: 1)
        package static let primaryKeys = Kind(rawValue: 2)
        package static let scalars = Kind(rawValue: 3)
        package static let growingBatch = Kind(rawValue: 4)
        package static let manifest = Kind(rawValue: 5)
        package static let catalog = Kind(rawValue: 6)
        package static let index = Kind(rawValue: 7)
        package static let partitions = Kind(rawValue: 8)
        package static let column = Kind(rawValue: 9)
        package static let inverseNorms = Kind(rawValue: 10)
        package static let insertTimes = Kind(rawValue: 11)
        /// The rows of a nullable vector field that have no vector.
        package static let nullVectors = Kind(rawValue: 12)
        /// A sealed segment's sparse inverted index of one SparseFloatVector field (VireoText's `VTIX`).
        package static let sparseIndex = Kind(rawValue: 13)
    }

    /// Writes a blob of `payloadCount` bytes under `key`, filled in place by `fill` (no copy), then
    /// checksums it.
    package static func writeInPlace(
        _ txn: WriteTransaction, _ db: LMDBDatabase, key: [UInt8], kind: Kind, payloadCount: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        try txn.putReserved(db, key: key, count: headerSize + payloadCount) { buf in
            let payload = UnsafeMutableRawBufferPointer(rebasing: buf[headerSize...])
            try fill(payload)
            writeHeader(into: buf, kind: kind, compressed: false, payload: UnsafeRawBufferPointer(payload), rawLength: payloadCount)
        }
    }

    /// Bytes before a chunk's data in its payload: little-endian `u32`s, the data's offset and the
    /// number of chunks of the blob (``writeChunk``).
    package static let chunkPrefix = 8

    /// Where a chunk's data starts in its payload so that it starts a page of the data file: LMDB puts
    /// a value that spans overflow pages 16 bytes into its first page, and the blob header takes
    /// ``headerSize`` more; the rest of that page is padding.
    package static func chunkDataOffset(pageSize: Int) -> Int {
        var offset = pageSize - 16 - headerSize
        while offset < chunkPrefix { offset += pageSize }
        return offset
    }

    /// Writes one chunk of a blob stored in chunks (``Environment/mapChunkedBlob``): `dataCount`
    /// bytes filled in place by `fill`, placed so that they start a page of the data file. Chunks
    /// whose data are whole pages map back to back into one contiguous range.
    ///
    /// Layout of the payload (checksummed like any blob): `u32` offset of the data, `u32` number of
    /// chunks of the blob (so that a blob cut short, its last chunks never written, is told from a
    /// whole one), zero padding up to that offset, the data.
    package static func writeChunk(
        _ txn: WriteTransaction, _ db: LMDBDatabase, key: [UInt8], kind: Kind, pageSize: Int, chunkCount: Int, dataCount: Int,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        let offset = chunkDataOffset(pageSize: pageSize)
        try writeInPlace(txn, db, key: key, kind: kind, payloadCount: offset + dataCount) { buf in
            UnsafeMutableRawBufferPointer(rebasing: buf[..<offset]).initializeMemory(as: UInt8.self, repeating: 0)
            buf.storeBytes(of: UInt32(offset).littleEndian, toByteOffset: 0, as: UInt32.self)
            buf.storeBytes(of: UInt32(chunkCount).littleEndian, toByteOffset: 4, as: UInt32.self)
            try fill(UnsafeMutableRawBufferPointer(rebasing: buf[offset...]))
        }
    }

    /// The number of chunks a chunk's payload says its blob has (``writeChunk``; the payload at
    /// least ``chunkPrefix`` bytes, as ``chunkData(_:what:)`` checks).
    package static func chunkCount(_ payload: UnsafeRawBufferPointer) -> Int {
        Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }

    /// The data of a chunk's payload (``writeChunk``).
    ///
    /// - Throws: ``StorageError/corrupted(what:reason:)`` if the stored offset is out of range.
    package static func chunkData(_ payload: UnsafeRawBufferPointer, what: String) throws -> UnsafeRawBufferPointer {
        guard payload.count >= chunkPrefix else {
            throw StorageError.corrupted(what: what, reason: "a chunk of \(payload.count) bytes is shorter than its \(chunkPrefix)-byte prefix")
        }
        let offset = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        guard offset >= chunkPrefix, offset <= payload.count else {
            throw StorageError.corrupted(what: what, reason: "chunk data offset \(offset) is outside its \(payload.count)-byte payload")
        }
        return UnsafeRawBufferPointer(rebasing: payload[offset...])
    }

    /// Checks that `pieces`, in order, are the payload a stored blob's header declares the CRC-32C of
    /// (the payload read from another mapping of the same pages, or in parts).
    ///
    /// - Throws: ``StorageError/corrupted(what:reason:)`` on a mismatch.
    package static func verifyChecksum(of pieces: [UnsafeRawBufferPointer], declaredBy stored: UnsafeRawBufferPointer, what: String) throws {
        var crc: UInt32 = 0
        for piece in pieces where piece.count > 0 { crc = vk_crc32c(crc, piece.baseAddress!, piece.count) }
        let declared = declaredChecksum(stored)
        guard crc == declared else {
            throw StorageError.corrupted(what: what, reason: "checksum mismatch (stored \(declared), computed \(crc))")
        }
    }

    /// The CRC-32C a stored blob's header declares for its payload (the header already validated by
    /// ``payload(_:kind:verifyChecksum:what:)``).
    package static func declaredChecksum(_ stored: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// Writes `payload` under `key`, zstd-compressed when `compress` is set and it pays.
    package static func write(
        _ txn: WriteTransaction, _ db: LMDBDatabase, key: [UInt8], kind: Kind, payload: [UInt8], compress: Bool
    ) throws {
        try txn.put(db, key: key, value: encoded(kind: kind, payload: payload, compress: compress))
    }

    /// The stored form of `payload` (header, checksum, body zstd-compressed when `compress` is set and
    /// it pays), ready for a plain put: a compaction encodes its blobs this way on its own low-priority
    /// thread, so the writer's transaction only copies them.
    package static func encoded(kind: Kind, payload: [UInt8], compress: Bool) -> [UInt8] {
        let stored: [UInt8]
        var compressed = false
        if compress, payload.count >= 256, let z = Compression.compress(payload), z.count < payload.count - payload.count / 16 {
            stored = z
            compressed = true
        } else {
            stored = payload
        }
        var out = [UInt8](repeating: 0, count: headerSize + stored.count)
        out.withUnsafeMutableBytes { buf in
            let body = UnsafeMutableRawBufferPointer(rebasing: buf[headerSize...])
            stored.withUnsafeBytes { src in body.copyMemory(from: src) }
            writeHeader(into: buf, kind: kind, compressed: compressed, payload: UnsafeRawBufferPointer(body), rawLength: payload.count)
        }
        return out
    }

    private static func writeHeader(
        into buf: UnsafeMutableRawBufferPointer, kind: Kind, compressed: Bool,
        payload: UnsafeRawBufferPointer, rawLength: Int
    ) {
        let crc = payload.count > 0 ? vk_crc32c(0, payload.baseAddress!, payload.count) : 0
        for i in 0..<headerSize { buf[i] = 0 }
        buf.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        buf.storeBytes(of: formatVersion.littleEndian, toByteOffset: 4, as: UInt16.self)
        buf.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        buf.storeBytes(of: UInt32(compressed ? 1 : 0).littleEndian, toByteOffset: 8, as: UInt32.self)
        buf.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self)
        buf.storeBytes(of: UInt64(payload.count).littleEndian, toByteOffset: 16, as: UInt64.self)
        buf.storeBytes(of: UInt64(rawLength).littleEndian, toByteOffset: 24, as: UInt64.self)
    }

    /// Validates a stored blob and returns its (uncompressed) payload in place.
    ///
    /// - Parameters:
    ///   - verifyChecksum: recompute the CRC over the payload (reads every byte).
    ///   - what: a description for error messages ("segment 3 vectors of field 'emb'").
    /// - Throws: ``StorageError/corrupted(what:reason:)``; compressed blobs must use ``decode(_:kind:what:)``.
    package static func payload(
        _ stored: UnsafeRawBufferPointer, kind: Kind, verifyChecksum: Bool, what: String
    ) throws -> UnsafeRawBufferPointer {
        let h = try header(stored, kind: kind, what: what)
        guard !h.compressed else { throw StorageError.corrupted(what: what, reason: "expected an uncompressed blob") }
        let body = UnsafeRawBufferPointer(rebasing: stored[headerSize..<(headerSize + h.storedLength)])
        if verifyChecksum { try check(body, crc: h.crc, what: what) }
        return body
    }

    /// Validates a stored blob (always checking the CRC) and returns its payload, decompressed.
    package static func decode(_ stored: UnsafeRawBufferPointer, kind: Kind, what: String) throws -> [UInt8] {
        let h = try header(stored, kind: kind, what: what)
        let body = UnsafeRawBufferPointer(rebasing: stored[headerSize..<(headerSize + h.storedLength)])
        try check(body, crc: h.crc, what: what)
        if !h.compressed { return Array(body) }
        guard let raw = Compression.decompress(body, rawLength: h.rawLength) else {
            throw StorageError.corrupted(what: what, reason: "zstd payload does not decompress to \(h.rawLength) bytes")
        }
        return raw
    }

    private struct Header {
        var compressed: Bool
        var crc: UInt32
        var storedLength: Int
        var rawLength: Int
    }

    /// Checks a stored blob without using it: the header (magic, version, lengths, flags; the kind
    /// when `kind` is given) and the CRC-32C of the payload. Integrity checks (`vireo check`) use it.
    ///
    /// - Returns: the blob's kind and its stored payload length.
    /// - Throws: ``StorageError/corrupted(what:reason:)`` naming what is wrong.
    package static func verify(_ stored: UnsafeRawBufferPointer, kind: Kind?, what: String) throws -> (kind: Kind, storedLength: Int) {
        let h = try header(stored, kind: kind, what: what)
        try check(UnsafeRawBufferPointer(rebasing: stored[headerSize..<(headerSize + h.storedLength)]), crc: h.crc, what: what)
        return (Kind(rawValue: UInt16(littleEndian: stored.loadUnaligned(fromByteOffset: 6, as: UInt16.self))), h.storedLength)
    }

    private static func header(_ stored: UnsafeRawBufferPointer, kind: Kind?, what: String) throws -> Header {
        guard stored.count >= headerSize else {
            throw StorageError.corrupted(what: what, reason: "\(stored.count) bytes is shorter than the blob header")
        }
        let m = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard m == magic else { throw StorageError.corrupted(what: what, reason: "bad magic number") }
        let version = UInt16(littleEndian: stored.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        guard version == formatVersion else {
            throw StorageError.corrupted(what: what, reason: "blob format version \(version), this build reads version \(formatVersion); use a matching Vireo release")
        }
        let k = UInt16(littleEndian: stored.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        if let kind, k != kind.rawValue { throw StorageError.corrupted(what: what, reason: "blob kind \(k), expected \(kind.rawValue)") }
        let flags = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let crc = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        // Header fields are not under the CRC (it covers the payload): every one is checked before
        // it is used, and a length that does not fit an Int is corruption, not a trap.
        let declaredStored = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let declaredRaw = UInt64(littleEndian: stored.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        guard let storedLength = Int(exactly: declaredStored), storedLength == stored.count - headerSize else {
            throw StorageError.corrupted(what: what, reason: "payload length \(declaredStored) does not match the stored \(stored.count - headerSize) bytes")
        }
        guard let rawLength = Int(exactly: declaredRaw), rawLength <= maxRawLength else {
            throw StorageError.corrupted(what: what, reason: "uncompressed length \(declaredRaw) is out of range")
        }
        // The CRC does not cover the flags: cross-check them. An uncompressed payload is stored at its
        // raw length; a compressed one only when it is shorter (``write``).
        let compressed = flags & 1 != 0
        guard flags & ~1 == 0, compressed ? rawLength > storedLength : rawLength == storedLength else {
            throw StorageError.corrupted(what: what, reason: "header flags \(flags) do not match the lengths (\(storedLength) stored, \(rawLength) raw)")
        }
        return Header(compressed: compressed, crc: crc, storedLength: storedLength, rawLength: rawLength)
    }

    private static func check(_ body: UnsafeRawBufferPointer, crc: UInt32, what: String) throws {
        let actual = body.count > 0 ? vk_crc32c(0, body.baseAddress!, body.count) : 0
        guard actual == crc else {
            throw StorageError.corrupted(what: what, reason: "checksum mismatch (stored \(crc), computed \(actual))")
        }
    }
}

/// zstd compression for what compresses (scalar columns, JSON, text, batches), never raw vectors.
package enum Compression {
    package static let level: Int32 = 3

    package static func compress(_ input: [UInt8]) -> [UInt8]? {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_compress(dst.baseAddress, bound, src.baseAddress, src.count, level)
            }
        }
        guard ZSTD_isError(n) == 0 else { return nil }
        out.removeSubrange(n...)
        return out
    }

    package static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) -> [UInt8]? {
        // The frame declares its content size (under the blob's CRC): allocate only what it and the
        // header agree on.
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        guard declared == UInt64(rawLength) else { return nil }
        var out = [UInt8](repeating: 0, count: rawLength)
        let n = out.withUnsafeMutableBytes { dst in
            ZSTD_decompress(dst.baseAddress, rawLength, input.baseAddress, input.count)
        }
        guard ZSTD_isError(n) == 0, n == rawLength else { return nil }
        return out
    }
}
