/// The payload of an immutable stored blob, used in place from LMDB's memory map.
///
/// Sealed segments open this way: no copy, no load phase. The bytes stay valid after the read
/// transaction that found them ends because
/// 1. the blob is written once and never overwritten (sealed-segment keys are insert-only), and it
///    sits on its own overflow pages, which LMDB never frees or reuses while the key exists. A value
///    small enough to sit *inside a leaf page* (under about half a page) is different: any later
///    write to a key of the same page copies the page (copy-on-write) and frees the old one for
///    reuse, so such blobs are copied into owned memory instead (``Environment/mapBlob``; a
///    50-row segment's primary keys are one). Mapping them in place served another blob's bytes as
///    primary keys once the page was reused;
/// 2. the map is never resized while the environment is open (see ``Environment``), so the address
///    is stable; and
/// 3. the blob holds its ``environment`` strongly, so the map outlives it.
/// Deleting a mapped blob's key is only allowed once no `MappedBlob` of it exists.
package final class MappedBlob: @unchecked Sendable {
    // SAFETY: `bytes` points into the memory map at pages that are immutable for this object's
    // lifetime (see the type's documentation); `environment` keeps the map alive.
    package let bytes: UnsafeRawBufferPointer
    package let environment: Environment
    /// Whether `bytes` is an owned copy (freed with this object) rather than mapped pages.
    private let owned: Bool

    init(bytes: UnsafeRawBufferPointer, environment: Environment) {
        self.bytes = bytes
        self.environment = environment
        owned = false
    }

    /// A blob holding a copy of `source` (16-byte aligned, like an overflow-page payload).
    init(copying source: UnsafeRawBufferPointer, environment: Environment) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        // SAFETY: raw holds max(count, 1) ≥ count bytes; source is valid for the read transaction
        // that found it, which is still open here.
        if source.count > 0 { raw.copyMemory(from: source.baseAddress!, byteCount: source.count) }
        bytes = UnsafeRawBufferPointer(start: raw, count: source.count)
        self.environment = environment
        owned = true
    }

    deinit {
        if owned { UnsafeMutableRawPointer(mutating: bytes.baseAddress)?.deallocate() }
    }

    package var count: Int { bytes.count }

    @inlinable
    package func int64(at i: Int) -> Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
    }

    @inlinable
    package func uint32(at i: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
    }

    /// A copy of bytes `range`.
    package func copyBytes(_ range: Range<Int>) -> [UInt8] {
        Array(bytes[range])
    }
}

extension Environment {
    /// Opens the immutable blob under `key` in place; nil if the key does not exist.
    ///
    /// - Parameter verifyChecksum: recompute the CRC over the whole payload (reads every page).
    /// - Throws: ``StorageError/corrupted(what:reason:)`` if the header or checksum is wrong.
    package func mapBlob(_ db: LMDBDatabase, key: [UInt8], kind: Blob.Kind, verifyChecksum: Bool, what: String) throws -> MappedBlob? {
        try read { txn in
            guard let stored = try txn.get(db, key: key) else { return nil }
            let payload = try Blob.payload(stored, kind: kind, verifyChecksum: verifyChecksum, what: what)
            // Values under a page may live inside a leaf page, which LMDB copies and reuses on later
            // writes: copy them (see the type's documentation). Larger ones are on overflow pages.
            if stored.count < pageSize { return MappedBlob(copying: payload, environment: self) }
            return MappedBlob(bytes: payload, environment: self)
        }
    }
}
