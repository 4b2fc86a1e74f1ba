#if canImport(Glibc)
import Glibc
#endif
import CLMDB

/// The payload of an immutable stored blob, used in place from its own read-only mapping of the
/// environment's data file.
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
/// 2. the bytes are in a mapping of `data.mdb` that this object owns (`mmap` of the blob's pages,
///    `PROT_READ`, `MAP_SHARED`, unmapped in `deinit`), not in LMDB's own map: LMDB may move its
///    map when it grows (``Environment``), ours stays. Both map the same page cache, so there is no
///    copy and no second cache; and
/// 3. the blob holds its ``environment`` strongly, so the pages' key outlives it.
/// Deleting a mapped blob's key is only allowed once no `MappedBlob` of it exists.
///
/// Each blob of a page or more is one mapping (a sealed segment has a few per vector field), so a
/// database with tens of thousands of sealed segments per process needs `vm.max_map_count` (65,530
/// by default on Linux) raised; past it `mmap` fails and blobs are copied instead (correct, slower
/// to open, more memory).
package final class MappedBlob: @unchecked Sendable {
    // SAFETY: `bytes` points into a read-only mapping this object owns (or an owned copy) of pages
    // that are immutable for this object's lifetime (see the type's documentation); it is unmapped
    // (or freed) only in deinit.
    package let bytes: UnsafeRawBufferPointer
    package let environment: Environment
    private enum Storage {
        /// A copy, freed with this object.
        case owned
        /// Our own mapping: its start and length, unmapped with this object.
        case mapped(UnsafeMutableRawPointer, Int)
    }
    private let storage: Storage

    /// A blob holding a copy of `source` (64-byte aligned, at least the 16 of an overflow-page payload).
    init(copying source: UnsafeRawBufferPointer, environment: Environment) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        // SAFETY: raw holds max(count, 1) ≥ count bytes; source is valid for the read transaction
        // that found it, which is still open here.
        if source.count > 0 { raw.copyMemory(from: source.baseAddress!, byteCount: source.count) }
        bytes = UnsafeRawBufferPointer(start: raw, count: source.count)
        self.environment = environment
        storage = .owned
    }

    /// A blob of `count` bytes at `offset` in the data file, mapped read-only; nil if `mmap` fails.
    init?(fd: Int32, offset: Int, count: Int, environment: Environment) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset - offset % page
        let length = offset - start + count
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(start)), base != MAP_FAILED else { return nil }
        // SAFETY: the mapping covers [start, start + length) of the file, so [offset, offset + count)
        // is inside it; it lives until deinit.
        bytes = UnsafeRawBufferPointer(start: base + (offset - start), count: count)
        self.environment = environment
        storage = .mapped(base, length)
    }

    deinit {
        switch storage {
        case .owned: UnsafeMutableRawPointer(mutating: bytes.baseAddress)?.deallocate()
        case let .mapped(base, length): munmap(base, length)
        }
    }

    package var count: Int { bytes.count }

    /// Whether the bytes are used in place from the data file (false: an owned copy).
    package var isMapped: Bool {
        if case .mapped = storage { return true }
        return false
    }

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
            // writes: copy them (see the type's documentation). Larger ones are on overflow pages,
            // which get their own mapping; if that cannot be set up, a copy is still correct.
            if stored.count >= pageSize, let offset = fileOffset(of: stored),
               let fd = dataFileDescriptor,
               let mapped = MappedBlob(fd: fd, offset: offset + (payload.baseAddress! - stored.baseAddress!), count: payload.count, environment: self),
               mapped.matches(payload) {
                return mapped
            }
            return MappedBlob(copying: payload, environment: self)
        }
    }

    /// The descriptor LMDB reads and writes `data.mdb` with.
    var dataFileDescriptor: Int32? {
        var fd: mdb_filehandle_t = -1
        return mdb_env_get_fd(handle, &fd) == MDB_SUCCESS && fd >= 0 ? fd : nil
    }

    /// The offset in `data.mdb` of a value LMDB returned (valid in the open transaction), or nil if
    /// it is not the start of an overflow-page payload.
    ///
    /// LMDB does not expose its map's address (`mdb_env_info`'s `me_mapaddr` is only set for
    /// `MDB_FIXEDMAP`), so the offset comes from LMDB's page format, stable across 0.9.x: a value on
    /// overflow pages starts 16 bytes (`PAGEHDRSZ`) into its first page, whose header begins with
    /// its page number. Every inference is checked: the page start must be page-aligned, the page
    /// number inside the used part of the file, and the map base it implies must hold LMDB's meta
    /// page (magic `0xBEEFC0DE`); the caller also compares the mapped bytes with LMDB's.
    func fileOffset(of value: UnsafeRawBufferPointer) -> Int? {
        let header = 16
        let psize = pageSize
        guard let p = value.baseAddress, Int(bitPattern: p) % psize == header else { return nil }
        let pageStart = p - header
        // SAFETY: an overflow value's first page header precedes it inside LMDB's map, which the
        // open read transaction keeps mapped.
        let pgno = Int(pageStart.loadUnaligned(as: UInt64.self))
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        guard pgno >= 2, pgno <= info.me_last_pgno, pgno * psize + header + value.count <= (info.me_last_pgno + 1) * psize else { return nil }
        let base = pageStart - pgno * psize
        // SAFETY: if the inference is right, `base` is the start of LMDB's map, whose first page
        // (the first meta page) is mapped; the page-number bounds above keep it inside the map.
        let magic = (base + header).loadUnaligned(as: UInt32.self)
        guard magic == 0xBEEF_C0DE else { return nil }
        return pgno * psize + header
    }
}

extension MappedBlob {
    /// Whether the first and last bytes of this mapping equal LMDB's view of the same value.
    func matches(_ lmdb: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == lmdb.count else { return false }
        let n = min(bytes.count, 4096)
        return memcmp(bytes.baseAddress!, lmdb.baseAddress!, n) == 0
            && memcmp(bytes.baseAddress! + (bytes.count - n), lmdb.baseAddress! + (lmdb.count - n), n) == 0
    }
}
