import Foundation
import VireoStorage

/// What an integrity check found, per environment (the catalog, then each collection's shards).
public struct IntegrityReport: Sendable {
    /// One damaged entry.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The LMDB database inside the environment (`collections`, `meta`, `blobs`, `growing`, ...).
        public var database: String
        /// The entry's key, described ("segment 2 vectors of field 0 [00000002 76 00000000]").
        public var key: String
        public var reason: String
        public var description: String { "\(database) \(key): \(reason)" }
    }

    /// The check of one LMDB environment.
    public struct Part: Sendable {
        /// The environment's path relative to the data directory (`catalog`, `collections/3/shard-0`).
        public var path: String
        /// The collection and shard, for a shard.
        public var collection: String?
        public var shard: Int?
        /// Entries checked, and among them checksummed blobs and their bytes.
        public var entries = 0
        public var blobs = 0
        public var blobBytes = 0
        public var problems: [Problem] = []
        public var isOK: Bool { problems.isEmpty }
    }

    public var parts: [Part]
    public var isOK: Bool { parts.allSatisfy(\.isOK) }
    public var problemCount: Int { parts.reduce(0) { $0 + $1.problems.count } }
}

extension Database {
    /// Verifies every stored value of this open database: each blob's header and CRC-32C (the catalog's
    /// records, each shard's manifest, sealed-segment blobs and growing batches), the sizes of raw
    /// values (tombstones, primary-key locations), and that every sealed segment the manifest names
    /// has its primary keys and vectors. Runs beside reads and writes: each environment is checked in
    /// one read transaction (which keeps the pages it reads from reuse until it ends).
    ///
    /// - Throws: ``VireoError`` only when the catalog cannot be read at all; damage is reported.
    public func check() throws -> IntegrityReport {
        try Database.check(source: OpenDatabaseSource(database: self))
    }

    /// Verifies the data directory `dataDirectory` as ``check()`` does, opened read-only without the
    /// directory lock, so it runs beside the process that owns it (a running `vireo serve`).
    public static func check(dataDirectory: String, configuration: Configuration = Configuration()) throws -> IntegrityReport {
        try check(source: DirectorySource(path: dataDirectory, configuration: configuration))
    }

    static func check(source: some EnvironmentSource) throws -> IntegrityReport {
        var catalogPart = IntegrityReport.Part(path: "catalog")
        var records: [CollectionRecord] = []
        checkEnvironment(source.catalog, into: &catalogPart) { name, key, value, part in
            switch name {
            case "collections":
                let label = String(decoding: key, as: UTF8.self)
                let payload = try Blob.decode(value, kind: .catalog, what: "catalog entry")
                part.blobs += 1
                part.blobBytes += value.count
                do {
                    records.append(try JSONDecoder().decode(CollectionRecord.self, from: Data(payload)))
                } catch {
                    throw StorageError.corrupted(what: "catalog entry '\(label)'", reason: "its record does not decode: \(error)")
                }
            case "meta":
                guard value.count == 8 else {
                    throw StorageError.corrupted(what: "catalog counter", reason: "\(value.count) bytes, expected 8")
                }
            default:
                break
            }
        } describe: { name, key in
            _ = name
            return "'\(String(decoding: key, as: UTF8.self))'"
        }
        var parts = [catalogPart]
        for r in records {
            let envs: [Environment]?
            do {
                envs = try source.shards(id: r.id, count: r.schema.shardsNum)
            } catch {
                var part = IntegrityReport.Part(path: "collections/\(r.id)", collection: r.schema.name)
                part.problems.append(.init(database: "-", key: "-", reason: "cannot open: \(error)"))
                parts.append(part)
                continue
            }
            guard let envs else {
                var part = IntegrityReport.Part(path: "collections/\(r.id)", collection: r.schema.name)
                part.problems.append(.init(database: "-", key: "-", reason: "the catalog lists this collection but its shard directories are missing"))
                parts.append(part)
                continue
            }
            let vectorFields = r.schema.fields.filter { $0.dataType.isVector }.count
            for (i, env) in envs.enumerated() {
                parts.append(checkShard(env, path: "collections/\(r.id)/shard-\(i)", collection: r.schema.name, shard: i,
                                        vectorFields: vectorFields, digest: source.primaryKeyDigest))
            }
        }
        return IntegrityReport(parts: parts)
    }

    /// Checks one shard environment: blobs by the kind their key names, raw values by size, and the
    /// manifest's sealed segments against the blobs present.
    static func checkShard(_ env: Environment, path: String, collection: String, shard: Int, vectorFields: Int,
                           digest: PrimaryKeyDigest = .sha256) -> IntegrityReport.Part {
        var part = IntegrityReport.Part(path: path, collection: collection, shard: shard)
        var manifest: ShardManifest?
        var present = Set<[UInt8]>()
        checkEnvironment(env, into: &part) { name, key, value, part in
            switch name {
            case "meta":
                part.blobs += 1
                part.blobBytes += value.count
                if !key.elementsEqual(Shard.manifestKey) {
                    _ = try Blob.verify(value, kind: nil, what: "shard meta entry")
                } else {
                    let payload = try Blob.decode(value, kind: .manifest, what: "shard manifest")
                    do {
                        manifest = try JSONDecoder().decode(ShardManifest.self, from: Data(payload))
                    } catch {
                        throw StorageError.corrupted(what: "shard manifest", reason: "does not decode: \(error)")
                    }
                }
            case "blobs":
                // Present, even when damaged: the manifest cross-check below reports only missing blobs.
                if key.count >= 5 { present.insert(Array(key.prefix(5))) }
                _ = try Blob.verify(value, kind: blobKind(key), what: "blob")
                part.blobs += 1
                part.blobBytes += value.count
            case "growing":
                guard key.count == 12 else { throw StorageError.corrupted(what: "growing batch", reason: "key of \(key.count) bytes, expected 12 (segment, sequence)") }
                _ = try Blob.verify(value, kind: .growingBatch, what: "growing batch")
                part.blobs += 1
                part.blobBytes += value.count
            case "tombstones":
                guard key.count == 8 else { throw StorageError.corrupted(what: "tombstone", reason: "key of \(key.count) bytes, expected 8 (segment, row)") }
                guard value.isEmpty else { throw StorageError.corrupted(what: "tombstone", reason: "value of \(value.count) bytes, expected none") }
            case "pks":
                try PrimaryKeyIndex.checkEntry(key: key, value: value, digest: digest)
            default:
                break
            }
        } describe: { name, key in
            describeShardKey(database: name, key)
        }
        for sealed in manifest?.sealed ?? [] {
            var required: [(UInt8, String)] = [(UInt8(ascii: "p"), "primary keys")]
            if vectorFields > 0 { required.append((UInt8(ascii: "v"), "vectors")) }
            for (letter, what) in required where !present.contains(SegmentKeys.be32(sealed.id) + [letter]) {
                part.problems.append(.init(database: "blobs", key: "segment \(sealed.id) \(what)",
                                           reason: "missing: the shard manifest lists sealed segment \(sealed.id) (\(sealed.rows) rows)"))
            }
        }
        return part
    }

    /// Runs `visit` on every entry of every database of `env` in one read transaction, recording what
    /// it throws as a problem of that entry; LMDB failures (a damaged page) end that database's scan.
    private static func checkEnvironment(
        _ env: Environment, into part: inout IntegrityReport.Part,
        visit: (_ database: String, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ part: inout IntegrityReport.Part) throws -> Void,
        describe: (_ database: String, _ key: UnsafeRawBufferPointer) -> String
    ) {
        do {
            try env.read { txn in
                for name in env.databaseNames {
                    let db = env.database(name)
                    do {
                        try txn.forEach(db) { key, value in
                            part.entries += 1
                            do {
                                try visit(name, key, value, &part)
                            } catch let StorageError.corrupted(_, reason) {
                                part.problems.append(.init(database: name, key: describe(name, key), reason: reason))
                            } catch {
                                part.problems.append(.init(database: name, key: describe(name, key), reason: "\(error)"))
                            }
                            return true
                        }
                    } catch {
                        part.problems.append(.init(database: name, key: "-", reason: "cannot scan the database: \(error)"))
                    }
                }
            }
        } catch {
            part.problems.append(.init(database: "-", key: "-", reason: "cannot read the environment: \(error)"))
        }
    }

    /// The blob kind a `blobs` key names (``SegmentKeys``), or nil for an unknown key.
    static func blobKind(_ key: UnsafeRawBufferPointer) -> Blob.Kind? {
        guard key.count >= 5 else { return nil }
        switch key[4] {
        case UInt8(ascii: "v"): return .vectors
        case UInt8(ascii: "n"): return .inverseNorms
        case UInt8(ascii: "p"): return .primaryKeys
        case UInt8(ascii: "c"): return .scalars
        case UInt8(ascii: "k"): return .column
        case UInt8(ascii: "t"): return .partitions
        case UInt8(ascii: "e"): return .insertTimes
        case UInt8(ascii: "z"): return .nullVectors
        case UInt8(ascii: "i"): return .index
        case UInt8(ascii: "s"): return .sparseIndex
        default: return nil
        }
    }

    /// A shard key in words, with its bytes in hex.
    static func describeShardKey(database: String, _ key: UnsafeRawBufferPointer) -> String {
        let bytes = key.map { b -> String in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
        func be32(_ at: Int) -> UInt32 { key[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        var words: String?
        switch database {
        case "blobs" where key.count >= 5:
            let segment = be32(0)
            let rest = key.count >= 9 ? be32(5) : nil
            switch key[4] {
            case UInt8(ascii: "v"): words = "segment \(segment) vectors of field \(rest ?? 0)"
            case UInt8(ascii: "n"): words = "segment \(segment) norms of field \(rest ?? 0)"
            case UInt8(ascii: "p"): words = "segment \(segment) primary keys"
            case UInt8(ascii: "c"): words = "segment \(segment) scalar chunk \(rest ?? 0)"
            case UInt8(ascii: "k"): words = "segment \(segment) column of field \(rest ?? 0)"
            case UInt8(ascii: "t"): words = "segment \(segment) partitions"
            case UInt8(ascii: "z"): words = "segment \(segment) null vectors of field \(rest ?? 0)"
            case UInt8(ascii: "i"): words = "segment \(segment) index of field \(rest ?? 0)\(key.count >= 13 ? " generation \(be32(9))" : "")"
            default: break
            }
        case "growing" where key.count == 12:
            words = "growing segment \(be32(0)) batch \(key[4..<12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })"
        case "pks" where key.count == PrimaryKeyIndex.longKeyBytes && key[PrimaryKeyIndex.prefixBytes] == PrimaryKeyIndex.marker:
            words = "long primary key '\(String(decoding: key[0..<40], as: UTF8.self))…' slot \(Int(key[key.count - 2]) << 8 | Int(key[key.count - 1]))"
        case "tombstones" where key.count == 8:
            words = "segment \(be32(0)) row \(be32(4))"
        case "meta":
            words = "'\(String(decoding: key, as: UTF8.self))'"
        default: break
        }
        return words.map { "\($0) [\(bytes)]" } ?? "[\(bytes)]"
    }
}
