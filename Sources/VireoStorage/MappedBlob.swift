/// The payload of an immutable stored blob, used in place from LMDB's memory map.
///
/// Sealed segments open this way: no copy, no load phase. The bytes stay valid after the read
/// transaction that found them ends because
/// 1. the blob is written once and never overwritten (sealed-segment keys are insert-only), so LMDB
///    never frees or reuses its pages while the key exists;
/// 2. the map is never resized while the environment is open (see ``Environment``), so the address
///    is stable; and
/// 3. the blob holds its ``environment`` strongly, so the map outlives it.
/// Deleting a mapped blob's key is only allowed once no `MappedBlob` of it exists.
package final class MappedBlob: @unchecked Sendable {
    // SAFETY: `bytes` points into the memory map at pages that are immutable for this object's
    // lifetime (see the type's documentation); `environment` keeps the map alive.
    package let bytes: UnsafeRawBufferPointer
    package let environment: Environment

    init(bytes: UnsafeRawBufferPointer, environment: Environment) {
        self.bytes = bytes
        self.environment = environment
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
            return MappedBlob(bytes: payload, environment: self)
        }
    }
}
