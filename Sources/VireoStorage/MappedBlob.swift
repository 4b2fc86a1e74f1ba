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
/// A blob stored in chunks (``Blob/writeChunk``: a sealed segment's vectors past
/// `Configuration.vectorChunkBytes`, so that no transaction holds all of them in dirty pages) is one
/// reserved range with each chunk's data mapped over its part, back to back: one contiguous range
/// for the kernels, one mapping per chunk for the kernel's map count.
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
    convenience init(copying source: UnsafeRawBufferPointer, environment: Environment) {
        self.init(copying: [source], environment: environment)
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

    /// One blob of `pieces` of the data file (`offset`, `count`) mapped read-only back to back, so
    /// that they read as one contiguous range; nil if a piece cannot be placed that way (an offset
    /// off a page boundary, a piece other than the last that is not whole pages) or `mmap` fails.
    init?(fd: Int32, pieces: [(offset: Int, count: Int)], environment: Environment) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let total = pieces.reduce(0) { $0 + $1.count }
        let length = (total + page - 1) / page * page
        guard length > 0, pieces.allSatisfy({ $0.offset % page == 0 && $0.count > 0 }),
              pieces.dropLast().allSatisfy({ $0.count % page == 0 }) else { return nil }
        // One reservation, then each piece mapped over its part of it (`MAP_FIXED`): the pieces sit
        // back to back whatever else the process maps meanwhile.
        guard let base = mmap(nil, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), base != MAP_FAILED else { return nil }
        var at = 0
        for piece in pieces {
            let pieceLength = (piece.count + page - 1) / page * page
            // SAFETY: every piece before the last is whole pages, so `at` is page-aligned and
            // at + pieceLength ≤ length: the fixed mapping replaces only our own reservation.
            guard mmap(base + at, pieceLength, PROT_READ, MAP_SHARED | MAP_FIXED, fd, off_t(piece.offset)) != MAP_FAILED else {
                munmap(base, length)
                return nil
            }
            at += piece.count
        }
        bytes = UnsafeRawBufferPointer(start: base, count: total)
        self.environment = environment
        storage = .mapped(base, length)
    }

    /// A blob holding a copy of `pieces`, concatenated (64-byte aligned).
    init(copying pieces: [UnsafeRawBufferPointer], environment: Environment) {
        let total = pieces.reduce(0) { $0 + $1.count }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 64)
        var at = 0
        for piece in pieces where piece.count > 0 {
            // SAFETY: raw holds total bytes, the sum of the pieces' counts; each piece is valid for
            // the read transaction that found it, still open here.
            (raw + at).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
            at += piece.count
        }
        bytes = UnsafeRawBufferPointer(start: raw, count: total)
        self.environment = environment
        storage = .owned
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

    /// Gives back the resident pages holding any of `range` (inside ``bytes``): `MADV_DONTNEED` on a
    /// read-only shared file mapping drops only this process' page-table entries — the file's pages
    /// stay in the page cache and the next read faults them back in unchanged. A copy keeps its pages.
    package func releaseResidentPages(_ range: UnsafeRawBufferPointer) {
        guard case let .mapped(start, length) = storage, let lo = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = max((lo - UnsafeRawPointer(start)) / page * page, 0)
        let to = min((lo + range.count - UnsafeRawPointer(start) + page - 1) / page * page, length)
        guard from < to else { return }
        // SAFETY: [from, to) is page-aligned and inside our own read-only mapping of the data file
        // (clamped to it); dropping its pages loses nothing (they are re-read from the file).
        _ = madvise(start + from, to - from, MADV_DONTNEED)
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
            let payload = try Blob.payload(stored, kind: kind, verifyChecksum: false, what: what)
            // Values under a page may live inside a leaf page, which LMDB copies and reuses on later
            // writes: copy them (see the type's documentation). Larger ones are on overflow pages,
            // which get their own mapping; if that cannot be set up, a copy is still correct.
            let blob: MappedBlob
            if stored.count >= pageSize, let offset = fileOffset(of: stored),
               let fd = dataFileDescriptor,
               let mapped = MappedBlob(fd: fd, offset: offset + (payload.baseAddress! - stored.baseAddress!), count: payload.count, environment: self),
               mapped.matches(payload, at: 0) {
                releaseComparedPages(lmdb: payload, mapped: mapped, at: 0)
                blob = mapped
            } else {
                blob = MappedBlob(copying: payload, environment: self)
            }
            // The checksum reads the pages through the blob's own mapping: read through LMDB's map
            // as well, every page would be resident twice in the process' accounting (its RSS).
            if verifyChecksum { try Blob.verifyChecksum(of: [blob.bytes], declaredBy: stored, what: what) }
            return blob
        }
    }

    /// Opens a blob stored in chunks (``Blob/writeChunk``, keys `prefix` + big-endian `u32` chunk
    /// number from 0) as one contiguous range: each chunk's data mapped in place right after the
    /// previous one's, or, where that cannot be set up, a copy of them all. Nil if no chunk exists;
    /// the unchunked blob under `prefix` itself is not read.
    ///
    /// - Parameter verifyChecksum: recompute each chunk's CRC (reads every page, through the blob's
    ///   own mapping).
    /// - Throws: ``StorageError/corrupted(what:reason:)`` for a missing chunk, a bad header or checksum.
    package func mapChunkedBlob(_ db: LMDBDatabase, prefix: [UInt8], kind: Blob.Kind, verifyChecksum: Bool, what: String) throws -> MappedBlob? {
        try read { txn in
            var chunks: [StoredChunk] = []
            try txn.forEach(db, prefix: prefix) { key, value in
                guard key.count == prefix.count + 4 else { return }
                let number = UInt32(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: UInt32.self))
                let chunkWhat = "\(what), chunk \(number)"
                guard number == chunks.count else {
                    throw StorageError.corrupted(what: chunkWhat, reason: "chunk \(chunks.count) is missing")
                }
                let payload = try Blob.payload(value, kind: kind, verifyChecksum: false, what: chunkWhat)
                chunks.append(StoredChunk(stored: value, payload: payload, data: try Blob.chunkData(payload, what: chunkWhat)))
            }
            guard !chunks.isEmpty else { return nil }
            // Every chunk names the blob's chunk count: a blob whose last chunks were never written
            // (a write cut short) is not taken for a shorter one.
            for (i, chunk) in chunks.enumerated() where Blob.chunkCount(chunk.payload) != chunks.count {
                throw StorageError.corrupted(what: "\(what), chunk \(i)",
                                             reason: "the blob has \(Blob.chunkCount(chunk.payload)) chunks by this one's count, \(chunks.count) are stored")
            }
            let blob = mapInPlace(chunks) ?? MappedBlob(copying: chunks.map(\.data), environment: self)
            if verifyChecksum {
                var at = 0
                for (i, chunk) in chunks.enumerated() {
                    // The prefix and padding through LMDB's view (one page), the data through the blob.
                    let head = UnsafeRawBufferPointer(rebasing: chunk.payload[..<(chunk.payload.count - chunk.data.count)])
                    let data = UnsafeRawBufferPointer(rebasing: blob.bytes[at..<(at + chunk.data.count)])
                    try Blob.verifyChecksum(of: [head, data], declaredBy: chunk.stored, what: "\(what), chunk \(i)")
                    at += chunk.data.count
                }
            }
            return blob
        }
    }

    /// The blob under `key` stored whole (``mapBlob(_:key:kind:verifyChecksum:what:)``) or in chunks
    /// under it (``mapChunkedBlob(_:prefix:kind:verifyChecksum:what:)``, written by
    /// ``writeChunked(_:key:kind:byteCount:chunkBytes:first:fill:)``); nil if neither exists.
    package func mapStoredBlob(_ db: LMDBDatabase, key: [UInt8], kind: Blob.Kind, verifyChecksum: Bool, what: String) throws -> MappedBlob? {
        try mapBlob(db, key: key, kind: kind, verifyChecksum: verifyChecksum, what: what)
            ?? mapChunkedBlob(db, prefix: key, kind: kind, verifyChecksum: verifyChecksum, what: what)
    }

    /// Fills bytes `offset ..< offset + buffer.count` of a blob written in chunks.
    package typealias ChunkFill = (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) -> Void

    /// Writes `byteCount` bytes under `key` as chunks of `chunkBytes` (whole pages, so that the chunks
    /// map back to back: ``mapChunkedBlob(_:prefix:kind:verifyChecksum:what:)``), each in its own
    /// committed transaction, so that LMDB never holds more than one chunk in dirty pages; `first`
    /// runs in the first transaction before its chunk is written.
    package func writeChunked(
        _ db: LMDBDatabase, key: [UInt8], kind: Blob.Kind, byteCount: Int, chunkBytes: Int,
        first: (WriteTransaction) throws -> Void, fill: ChunkFill
    ) throws {
        precondition(chunkBytes > 0 && chunkBytes % pageSize == 0, "chunks must be whole pages")
        let chunkCount = (byteCount + chunkBytes - 1) / chunkBytes
        for chunk in 0..<chunkCount {
            let offset = chunk * chunkBytes
            let n = min(chunkBytes, byteCount - offset)
            try write { txn in
                if chunk == 0 { try first(txn) }
                try Blob.writeChunk(txn, db, key: key + withUnsafeBytes(of: UInt32(chunk).bigEndian) { Array($0) }, kind: kind,
                                    pageSize: pageSize, chunkCount: chunkCount, dataCount: n) { buf in fill(offset, buf) }
            }
        }
    }

    /// A chunk as LMDB returned it (valid in the open read transaction).
    private struct StoredChunk {
        var stored: UnsafeRawBufferPointer
        var payload: UnsafeRawBufferPointer
        var data: UnsafeRawBufferPointer
    }

    /// The chunks' data mapped back to back from the data file, or nil if they are not laid out for
    /// it (see ``MappedBlob/init(fd:pieces:environment:)``) or the mapping differs from LMDB's view.
    private func mapInPlace(_ chunks: [StoredChunk]) -> MappedBlob? {
        guard let fd = dataFileDescriptor else { return nil }
        var pieces: [(offset: Int, count: Int)] = []
        for chunk in chunks {
            guard chunk.stored.count >= pageSize, let valueOffset = fileOffset(of: chunk.stored) else { return nil }
            pieces.append((valueOffset + (chunk.data.baseAddress! - chunk.stored.baseAddress!), chunk.data.count))
        }
        guard let mapped = MappedBlob(fd: fd, pieces: pieces, environment: self) else { return nil }
        var at = 0
        for chunk in chunks {
            guard mapped.matches(chunk.data, at: at) else { return nil }
            releaseComparedPages(lmdb: chunk.data, mapped: mapped, at: at)
            at += chunk.data.count
        }
        return mapped
    }

    /// Gives back the pages ``MappedBlob/matches(_:at:)`` read in both views of a value (LMDB's map
    /// and the blob's own mapping). Each read maps the pages around it too (the kernel's fault-around,
    /// 64 KiB), so without this a seal of 19 chunks left about 9 MiB of pages nothing reads again
    /// in the process' resident set (measured on dev). Both are read-only shared mappings of the data
    /// file (LMDB's map is read-only without `MDB_WRITEMAP`), so the pages stay in the page cache and
    /// a later read faults them back in unchanged.
    private func releaseComparedPages(lmdb value: UnsafeRawBufferPointer, mapped: MappedBlob, at: Int) {
        mapped.releaseResidentPages(UnsafeRawBufferPointer(rebasing: mapped.bytes[at ..< at + value.count]))
        guard let lo = value.baseAddress, value.count > 0 else { return }
        // Whole pages of the value only: they hold nothing but it (an overflow value), and LMDB's map
        // covers them.
        let page = pageSize
        let first = (Int(bitPattern: lo) + page - 1) / page * page
        let end = (Int(bitPattern: lo) + value.count) / page * page
        guard first < end, let start = UnsafeMutableRawPointer(bitPattern: first) else { return }
        // SAFETY: [first, end) is page-aligned and inside the value LMDB returned in this read
        // transaction, so inside its read-only shared map of the data file.
        _ = madvise(start, end - first, MADV_DONTNEED)
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
    /// Whether the first and last bytes of this mapping's range `at ..< at + lmdb.count` equal LMDB's
    /// view of the same value (a chunk of a chunked blob, or all of a single one).
    func matches(_ lmdb: UnsafeRawBufferPointer, at: Int) -> Bool {
        guard lmdb.count > 0, at >= 0, at + lmdb.count <= bytes.count else { return false }
        let n = min(lmdb.count, 4096)
        let mine = bytes.baseAddress! + at
        return memcmp(mine, lmdb.baseAddress!, n) == 0
            && memcmp(mine + (lmdb.count - n), lmdb.baseAddress! + (lmdb.count - n), n) == 0
    }
}
