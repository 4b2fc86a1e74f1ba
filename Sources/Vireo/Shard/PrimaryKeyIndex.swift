import VireoStorage

/// The function that reduces a long primary key to a fixed-width digest (32 bytes).
///
/// SHA-256 in every real database. Tests inject a deliberately weak one (see
/// `Configuration.primaryKeyDigest`) to force collisions, which SHA-256 never gives them.
///
/// - Important: the digest is part of the stored format of long keys: a directory written with one
///   digest cannot find its long keys with another. It is therefore not public configuration.
struct PrimaryKeyDigest: Sendable {
    let name: String
    let hash: @Sendable ([UInt8]) -> [UInt8]

    static let width = 32
    static let sha256 = PrimaryKeyDigest(name: "sha256") { SHA256.hash($0) }

    func callAsFunction(_ bytes: [UInt8]) -> [UInt8] {
        let d = hash(bytes)
        precondition(d.count == Self.width, "primary-key digest '\(name)' returned \(d.count) bytes, expected \(Self.width)")
        return d
    }
}

/// A shard's map from primary key to the row that holds it: LMDB database `pks`.
///
/// ## Stored layout
///
/// | key's `storageKey`            | LMDB key                                              | LMDB value                     |
/// |-------------------------------|-------------------------------------------------------|--------------------------------|
/// | Int64 (8 bytes)               | the `storageKey` (unchanged since format 1)           | `RowLocation` (8 bytes)        |
/// | VarChar, ≤ 511 bytes          | the `storageKey`, i.e. the UTF-8 bytes (unchanged)    | `RowLocation` (8 bytes)        |
/// | VarChar, 512...65,535 bytes   | first 400 bytes ‖ 0xFF ‖ digest (32) ‖ slot (UInt16 BE) | `RowLocation` ‖ the full key |
///
/// A long key's LMDB key is 435 bytes. Byte 0xFF never occurs in UTF-8, so a long key's LMDB key
/// can never equal a short key's, and every long key has its 0xFF at offset 400: two long keys meet
/// in LMDB only when their 400-byte prefixes and digests are equal.
///
/// ## Collisions
///
/// Long keys with the same prefix and digest form a chain of slots 0, 1, 2, … with no gaps. A lookup
/// walks the chain until a missing slot and compares the full key stored in each value, so two
/// different keys are never merged, whatever the digest. A removal moves the chain's last entry
/// into the freed slot, so the chain stays gapless. With SHA-256 a chain longer than one is never
/// expected; the chain exists so that correctness does not rest on that.
///
/// ## Order
///
/// The LMDB order of long keys is not key order. Nothing relies on it: queries and `after:`
/// pagination sort full keys in memory, and `maxIntKey` only reads Int64 keys, which are never long.
///
/// ## Compatibility
///
/// Keys of at most 511 bytes (all a previous version could store) are stored exactly as before, so
/// an existing data directory opens unchanged.
struct PrimaryKeyIndex: Sendable {
    let db: LMDBDatabase
    let digest: PrimaryKeyDigest

    /// LMDB's largest key (`mdb_env_get_maxkeysize` with the default build).
    static let maxDirectKeyBytes = 511
    static let prefixBytes = 400
    static let marker: UInt8 = 0xFF
    static let longKeyBytes = prefixBytes + 1 + PrimaryKeyDigest.width + 2
    /// Bytes of a location at the start of every value.
    static let locationBytes = 8

    /// A key's LMDB form: `.direct` for the keys a previous version could store, `.chain` otherwise.
    enum Stored {
        case direct([UInt8])
        /// The full key bytes and the LMDB key of slot 0 without its slot suffix.
        case chain(full: [UInt8], base: [UInt8])
    }

    func stored(_ key: PrimaryKey) -> Stored {
        let bytes = key.storageKey
        guard bytes.count > Self.maxDirectKeyBytes else { return .direct(bytes) }
        var base = Array(bytes.prefix(Self.prefixBytes))
        base.append(Self.marker)
        base.append(contentsOf: digest(bytes))
        return .chain(full: bytes, base: base)
    }

    static func slotKey(_ base: [UInt8], _ slot: Int) -> [UInt8] {
        base + [UInt8(truncatingIfNeeded: slot >> 8), UInt8(truncatingIfNeeded: slot)]
    }

    /// Whether a stored entry's value holds `full` after its location.
    private static func holds(_ value: UnsafeRawBufferPointer, _ full: [UInt8]) -> Bool {
        value.count == locationBytes + full.count && value[locationBytes...].elementsEqual(full)
    }

    /// Where `key` lives in the chain: the slot holding it (nil: none) and the chain's length.
    private func find(_ full: [UInt8], base: [UInt8], in txn: some TransactionReading) throws -> (slot: Int?, location: RowLocation?, length: Int) {
        var found: (Int, RowLocation)?
        var slot = 0
        while slot <= Int(UInt16.max) {
            guard let value = try txn.get(db, key: Self.slotKey(base, slot)) else { break }
            guard value.count > Self.locationBytes else {
                throw StorageError.corrupted(what: "primary-key index", reason: "a long-key entry of \(value.count) bytes has no key after its location")
            }
            if found == nil, Self.holds(value, full) {
                found = (slot, RowLocation(UnsafeRawBufferPointer(rebasing: value[0..<Self.locationBytes])))
            }
            slot += 1
        }
        return (found?.0, found?.1, slot)
    }

    // MARK: Reads

    /// The row holding `key`, or nil.
    ///
    /// - Complexity: one LMDB lookup for a short key; one per slot of its chain for a long key.
    func location(of key: PrimaryKey, in txn: some TransactionReading) throws -> RowLocation? {
        switch stored(key) {
        case let .direct(k):
            return try txn.get(db, key: k).map(RowLocation.init)
        case let .chain(full, base):
            return try find(full, base: base, in: txn).location
        }
    }

    // MARK: Writes

    /// Records `key` at `location` unless the key is already present.
    ///
    /// - Returns: false (and writes nothing) when the key already has a location.
    func insert(_ key: PrimaryKey, at location: RowLocation, in txn: WriteTransaction) throws -> Bool {
        switch stored(key) {
        case let .direct(k):
            do {
                try txn.put(db, key: k, value: location.bytes, noOverwrite: true)
                return true
            } catch let e as StorageError where e.lmdbCode == .keyExists {
                return false
            }
        case let .chain(full, base):
            let (slot, _, length) = try find(full, base: base, in: txn)
            if slot != nil { return false }
            try append(full, base: base, at: location, length: length, in: txn)
            return true
        }
    }

    /// Records `key` at `location`, replacing any location it had.
    ///
    /// - Returns: the location it had, or nil.
    @discardableResult
    func set(_ key: PrimaryKey, at location: RowLocation, in txn: WriteTransaction) throws -> RowLocation? {
        switch stored(key) {
        case let .direct(k):
            let old = try txn.get(db, key: k).map(RowLocation.init)
            try txn.put(db, key: k, value: location.bytes)
            return old
        case let .chain(full, base):
            let (slot, old, length) = try find(full, base: base, in: txn)
            if let slot {
                try txn.put(db, key: Self.slotKey(base, slot), value: location.bytes + full)
            } else {
                try append(full, base: base, at: location, length: length, in: txn)
            }
            return old
        }
    }

    private func append(_ full: [UInt8], base: [UInt8], at location: RowLocation, length: Int, in txn: WriteTransaction) throws {
        guard length <= Int(UInt16.max) else {
            throw StorageError.corrupted(what: "primary-key index", reason: "\(length) long keys share one digest; the digest is broken")
        }
        try txn.put(db, key: Self.slotKey(base, length), value: location.bytes + full)
    }

    /// Removes `key`, if it is at `expected` (nil: wherever it is).
    ///
    /// - Returns: the location removed, or nil when the key was absent (or elsewhere than `expected`).
    @discardableResult
    func remove(_ key: PrimaryKey, ifAt expected: RowLocation? = nil, in txn: WriteTransaction) throws -> RowLocation? {
        switch stored(key) {
        case let .direct(k):
            guard let old = try txn.get(db, key: k).map(RowLocation.init), expected.map({ $0 == old }) ?? true else { return nil }
            try txn.delete(db, key: k)
            return old
        case let .chain(full, base):
            let (slot, old, length) = try find(full, base: base, in: txn)
            guard let slot, let old, expected.map({ $0 == old }) ?? true else { return nil }
            let last = Self.slotKey(base, length - 1)
            if slot != length - 1 {
                // Keep the chain gapless: the last entry takes the freed slot.
                guard let moved = try txn.get(db, key: last).map({ Array($0) }) else {
                    throw StorageError.corrupted(what: "primary-key index", reason: "a long-key chain lost its last slot")
                }
                try txn.put(db, key: Self.slotKey(base, slot), value: moved)
            }
            try txn.delete(db, key: last)
            return old
        }
    }

    // MARK: Integrity

    /// Checks one stored entry (for `Database.check`): a short entry holds an 8-byte location; a long
    /// entry's value holds a location and a long key whose prefix and digest match the LMDB key.
    static func checkEntry(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, digest: PrimaryKeyDigest?) throws {
        let isLong = key.count == longKeyBytes && key[prefixBytes] == marker
        guard isLong else {
            guard value.count == locationBytes else {
                throw StorageError.corrupted(what: "primary-key location", reason: "\(value.count) bytes, expected 8 (segment, row)")
            }
            return
        }
        let full = Array(value.dropFirst(locationBytes))
        guard full.count > maxDirectKeyBytes else {
            throw StorageError.corrupted(what: "primary-key location",
                                         reason: "a long-key entry holds a key of \(full.count) bytes; keys of at most \(maxDirectKeyBytes) bytes are stored directly")
        }
        guard key[0..<prefixBytes].elementsEqual(full.prefix(prefixBytes)) else {
            throw StorageError.corrupted(what: "primary-key location", reason: "a long-key entry's key does not start with the stored key's prefix")
        }
        if let digest, !key[(prefixBytes + 1)..<(prefixBytes + 1 + PrimaryKeyDigest.width)].elementsEqual(digest(full)) {
            throw StorageError.corrupted(what: "primary-key location", reason: "a long-key entry's digest does not match the stored key")
        }
    }
}
