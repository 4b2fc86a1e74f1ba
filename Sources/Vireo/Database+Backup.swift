import Foundation
import VireoStorage

/// What `BACKUP.json` records about a backup: when and by what it was written, which collections it
/// holds, and each file with its size and CRC-32C, so a copy that travelled (object storage, another
/// disk) can be verified before it is restored.
public struct BackupManifest: Codable, Sendable, Equatable {
    /// One file of the backup, by its path relative to the backup directory.
    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int
        /// CRC-32C of the file's bytes, 8 lowercase hex digits.
        public var crc32c: String
    }

    /// A collection the backup holds.
    public struct CollectionEntry: Codable, Sendable, Equatable {
        public var name: String
        public var id: UInt64
        public var shards: Int
    }

    /// The manifest's file name inside a backup directory.
    public static let fileName = "BACKUP.json"
    /// The format this build writes; a reader refuses newer ones.
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    /// The Vireo release that wrote the backup.
    public var vireoVersion: String
    /// When the backup started: every write acknowledged before this instant is in it.
    public var startedAt: Date
    public var finishedAt: Date
    /// The checksum algorithm of ``File/crc32c`` ("crc32c").
    public var checksum: String
    public var collections: [CollectionEntry]
    public var files: [File]
    /// What happened on the way that a reader should know (a collection dropped mid-backup and left out).
    public var notes: [String]

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// The result of verifying a backup directory against its `BACKUP.json`.
public struct BackupVerification: Sendable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The file's path relative to the backup directory.
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public var manifest: BackupManifest
    public var problems: [Problem]
    /// Files whose size and checksum matched.
    public var verifiedFiles: Int
    public var isOK: Bool { problems.isEmpty }
}

/// The Vireo release, as backups record it.
public enum VireoRelease {
    public static let version = "0.3.0"
}

/// Where whole-directory jobs (backup, check) find the environments: an open database's own, or a
/// directory opened read-only beside the process that owns it.
protocol EnvironmentSource {
    var catalog: Environment { get }
    /// The environments of a collection's shards, or nil when they are not there (the collection was
    /// dropped, or is still being created).
    func shards(id: UInt64, count: Int) throws -> [Environment]?
    /// The digest long primary keys are stored under (to verify them).
    var primaryKeyDigest: PrimaryKeyDigest { get }
}

/// An open database's environments (LMDB allows one open per path per process, so an in-process
/// backup or check must use them).
struct OpenDatabaseSource: EnvironmentSource {
    let database: Database
    var catalog: Environment { database.catalog }
    var primaryKeyDigest: PrimaryKeyDigest { database.configuration.primaryKeyDigest }

    func shards(id: UInt64, count: Int) -> [Environment]? {
        guard let c = database.openCollection(id: id), c.shards.count == count else { return nil }
        return c.shards.map(\.environment)
    }
}

/// A data directory's environments opened `MDB_RDONLY` without the directory lock: readers in the
/// owner's lock file, so they see what it committed and keep the pages they read from reuse.
struct DirectorySource: EnvironmentSource {
    let path: String
    let mapSize: Int
    let catalog: Environment
    let primaryKeyDigest: PrimaryKeyDigest

    init(path: String, configuration: Configuration) throws {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
        mapSize = configuration.mapSize
        primaryKeyDigest = configuration.primaryKeyDigest
        do {
            catalog = try Environment(path: "\(self.path)/catalog", mapSize: configuration.catalogMapSize,
                                      databases: ["collections", "meta"], readOnly: true)
        } catch {
            throw VireoError.storage(error, "opening the catalog of \(self.path) read-only")
        }
    }

    func shards(id: UInt64, count: Int) throws -> [Environment]? {
        var out: [Environment] = []
        for i in 0..<count {
            let dir = "\(path)/collections/\(id)/shard-\(i)"
            guard FileManager.default.fileExists(atPath: dir + "/data.mdb") else { return nil }
            do {
                out.append(try Environment(path: dir, mapSize: mapSize, databases: Shard.databaseNames, readOnly: true))
            } catch let e where e.lmdbCode == .notFound {
                return nil  // created a moment ago: its databases are not committed yet
            } catch {
                throw VireoError.storage(error, "opening \(dir) read-only")
            }
        }
        return out
    }
}

extension Database {
    /// The catalog records of `env`, in key order; a record that does not decode throws.
    static func catalogRecords(_ env: Environment) throws -> [CollectionRecord] {
        let collections = env.database("collections")
        return try env.read { txn in
            var out: [CollectionRecord] = []
            try txn.forEach(collections) { key, value in
                let name = String(decoding: key, as: UTF8.self)
                let payload = try Blob.decode(value, kind: .catalog, what: "catalog entry of '\(name)'")
                out.append(try JSONDecoder().decode(CollectionRecord.self, from: Data(payload)))
                return true
            }
            return out
        }
    }

    // MARK: Backup

    /// Writes an online backup of this open database into `directory` (new or empty), while it keeps
    /// serving reads and writes.
    ///
    /// Each environment is copied with `mdb_env_copy2` in one read transaction (compacted unless
    /// `compact` is false): the catalog first, then every shard of every collection in the catalog's
    /// copy. What the copy guarantees:
    /// - **Every write acknowledged before the call is in it** (acknowledged means committed, and each
    ///   copy's snapshot is taken after the call began).
    /// - **Each shard is a consistent snapshot** (one LMDB read transaction). Shards are copied one
    ///   after another, so a write that spans shards and is acknowledged *during* the backup may be in
    ///   some shards' copies and not in others; a multi-shard write is not atomic in Vireo anyway.
    /// - **The catalog and the shards agree**: a collection created during the backup is in it only
    ///   when its shards could be copied; one dropped during it is either left out of the catalog copy
    ///   or copied whole (the shards' files stay open from the start, so a drop cannot remove them
    ///   mid-copy).
    ///
    /// The directory can be served as-is (`Database.open(at:)`, `vireo serve --data-dir`) or
    /// restored with ``restore(backup:to:)``; `BACKUP.json` lists every file with its CRC-32C.
    /// A copy's read transaction keeps the pages it reads from reuse until it ends, so a database
    /// under heavy writes grows by what is written during the copy of its largest shard.
    ///
    /// - Throws: ``VireoError`` (``VireoError/Code/invalidArgument`` when `directory` is not empty).
    @discardableResult
    public func backup(to directory: String, compact: Bool = true) throws -> BackupManifest {
        try Database.backup(source: OpenDatabaseSource(database: self), to: directory, compact: compact,
                            catalogMapSize: configuration.catalogMapSize)
    }

    /// Writes an online backup of the data directory `dataDirectory` into `directory`, beside the
    /// process that owns it (a running `vireo serve`): the environments are opened read-only and no
    /// lock is taken. Same guarantees as ``backup(to:compact:)``. In a process that has the database
    /// open, use that method instead (LMDB allows one open of a path per process).
    @discardableResult
    public static func backup(dataDirectory: String, to directory: String, configuration: Configuration = Configuration(),
                              compact: Bool = true) throws -> BackupManifest {
        let source = try DirectorySource(path: dataDirectory, configuration: configuration)
        return try backup(source: source, to: directory, compact: compact, catalogMapSize: configuration.catalogMapSize)
    }

    static func backup(source: some EnvironmentSource, to directory: String, compact: Bool, catalogMapSize: Int) throws -> BackupManifest {
        let startedAt = Date()
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        try prepareEmptyDirectory(target, what: "backup target")
        do {
            return try writeBackup(source: source, into: target, startedAt: startedAt, compact: compact, catalogMapSize: catalogMapSize)
        } catch {
            // A failed backup leaves an empty directory, never something that looks like a backup.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? [] {
                try? FileManager.default.removeItem(atPath: "\(target)/\(entry)")
            }
            throw error
        }
    }

    private static func writeBackup(
        source: some EnvironmentSource, into target: String, startedAt: Date, compact: Bool, catalogMapSize: Int
    ) throws -> BackupManifest {
        var notes: [String] = []
        // 1. Open every shard of every collection the catalog holds now, before the catalog is copied:
        //    holding the environments keeps their files readable even if a drop removes them later.
        var held: [UInt64: [Environment]] = [:]
        let live: [CollectionRecord]
        do {
            live = try catalogRecords(source.catalog)
        } catch {
            throw VireoError.storage(error, "reading the catalog to back it up")
        }
        for r in live {
            if let envs = try source.shards(id: r.id, count: r.schema.shardsNum) { held[r.id] = envs }
        }
        // 2. The catalog.
        let catalogDir = "\(target)/catalog"
        do {
            try FileManager.default.createDirectory(atPath: catalogDir, withIntermediateDirectories: true)
            try source.catalog.copy(to: catalogDir, compact: compact)
        } catch {
            throw VireoError.storage(error, "copying the catalog to \(catalogDir)")
        }
        // 3. Every collection of the catalog's copy; one whose shards are gone is taken out of the copy.
        let copied = try reconcileCatalogCopy(catalogDir, mapSize: catalogMapSize) { record in
            if held[record.id] == nil, let envs = try source.shards(id: record.id, count: record.schema.shardsNum) {
                held[record.id] = envs
            }
            if held[record.id] == nil {
                notes.append("collection '\(record.schema.name)' (id \(record.id)) was dropped or was still being created while the backup ran; it is left out")
                return false
            }
            return true
        }
        var files: [BackupManifest.File] = []
        var entries: [BackupManifest.CollectionEntry] = []
        func record(_ relative: String) throws {
            let digest = try Files.digest("\(target)/\(relative)")
            files.append(BackupManifest.File(path: relative, size: digest.size, crc32c: hex(digest.crc32c)))
        }
        do {
            try record("catalog/data.mdb")
            for r in copied {
                let envs = held[r.id]!
                for (i, env) in envs.enumerated() {
                    let relative = "collections/\(r.id)/shard-\(i)"
                    try FileManager.default.createDirectory(atPath: "\(target)/\(relative)", withIntermediateDirectories: true)
                    try env.copy(to: "\(target)/\(relative)", compact: compact)
                    try record("\(relative)/data.mdb")
                }
                try Files.syncDirectory("\(target)/collections/\(r.id)")
                entries.append(BackupManifest.CollectionEntry(name: r.schema.name, id: r.id, shards: envs.count))
            }
            if !copied.isEmpty { try Files.syncDirectory("\(target)/collections") }
        } catch let e as VireoError {
            throw e
        } catch {
            throw VireoError.storage(error, "writing the backup into \(target)")
        }
        held.removeAll()
        let manifest = BackupManifest(formatVersion: BackupManifest.currentFormatVersion, vireoVersion: VireoRelease.version,
                                      startedAt: startedAt, finishedAt: Date(), checksum: "crc32c",
                                      collections: entries, files: files, notes: notes)
        do {
            // Written last, so a directory with a BACKUP.json holds a finished backup.
            try Files.writeNew("\(target)/\(BackupManifest.fileName)", bytes: Array(BackupManifest.encoder().encode(manifest)))
            try Files.syncDirectory(target)
            try Files.syncDirectory(URL(fileURLWithPath: target).deletingLastPathComponent().path)
        } catch {
            throw VireoError.storage(error, "writing \(BackupManifest.fileName) into \(target)")
        }
        return manifest
    }

    /// Opens the catalog copy at `directory`, asks `keep` about every record, deletes the records it
    /// refuses, and returns the kept ones. The copy is closed and its `lock.mdb` removed on return.
    private static func reconcileCatalogCopy(
        _ directory: String, mapSize: Int, keep: (CollectionRecord) throws -> Bool
    ) throws -> [CollectionRecord] {
        let kept: [CollectionRecord]
        do {
            let env = try Environment(path: directory, mapSize: mapSize, databases: ["collections", "meta"])
            let records = try catalogRecords(env)
            var dropped: [CollectionRecord] = []
            var keptRecords: [CollectionRecord] = []
            for r in records {
                if try keep(r) { keptRecords.append(r) } else { dropped.append(r) }
            }
            if !dropped.isEmpty {
                let collections = env.database("collections")
                try env.write { txn in
                    for r in dropped { try txn.delete(collections, key: r.key.catalogKey) }
                }
            }
            kept = keptRecords
        } catch let e as VireoError {
            throw e
        } catch {
            throw VireoError.storage(error, "reading the catalog copy in \(directory)")
        }
        // The environment above is closed (its last reference is gone); its lock file is not data.
        try? FileManager.default.removeItem(atPath: directory + "/lock.mdb")
        return kept
    }

    /// Creates `path` or checks that it is an empty directory.
    static func prepareEmptyDirectory(_ path: String, what: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw VireoError.invalid(.invalidArgument, "the \(what) \(path) is a file; give a new or empty directory")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty else {
                throw VireoError.invalid(.invalidArgument,
                                         "the \(what) \(path) is not empty (\(entries.count) entries, e.g. '\(entries.sorted()[0])'); give a new or empty directory: nothing is ever overwritten")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw VireoError.storage(StorageError.io(path: path, message: "cannot create the directory: \(error.localizedDescription)"), "preparing the \(what)")
            }
        }
    }

    // MARK: Verify and restore

    /// Reads a backup's `BACKUP.json`.
    static func readBackupManifest(_ backup: String) throws -> BackupManifest {
        let path = "\(backup)/\(BackupManifest.fileName)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VireoError.invalid(.invalidArgument, "\(path) is missing: \(backup) is not a Vireo backup, or its backup did not finish")
        }
        let manifest: BackupManifest
        do {
            manifest = try BackupManifest.decoder().decode(BackupManifest.self, from: data)
        } catch {
            throw VireoError(.corrupted, kind: .invalidInput, "\(path) does not decode (\(error)); the backup is damaged")
        }
        guard manifest.formatVersion <= BackupManifest.currentFormatVersion else {
            throw VireoError.invalid(.invalidArgument, "\(path) has format version \(manifest.formatVersion); this Vireo (\(VireoRelease.version)) reads up to \(BackupManifest.currentFormatVersion): use a newer release")
        }
        guard manifest.checksum == "crc32c" else {
            throw VireoError(.corrupted, kind: .invalidInput, "\(path) names checksum '\(manifest.checksum)'; this build knows crc32c")
        }
        for f in manifest.files {
            let parts = f.path.split(separator: "/", omittingEmptySubsequences: false)
            guard !f.path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                throw VireoError(.corrupted, kind: .invalidInput, "\(path) lists the file '\(f.path)', which is not a plain relative path; the backup is damaged or was altered")
            }
        }
        return manifest
    }

    /// Checks every file a backup's `BACKUP.json` lists: present, of its size and CRC-32C.
    ///
    /// - Throws: ``VireoError`` when `BACKUP.json` is missing or unreadable; damaged files are
    ///   reported in the result.
    public static func verifyBackup(at backup: String) throws -> BackupVerification {
        let manifest = try readBackupManifest(backup)
        var problems: [BackupVerification.Problem] = []
        var ok = 0
        for f in manifest.files {
            do {
                let d = try Files.digest("\(backup)/\(f.path)")
                if d.size != f.size {
                    problems.append(.init(path: f.path, reason: "\(d.size) bytes, BACKUP.json says \(f.size)"))
                } else if hex(d.crc32c) != f.crc32c {
                    problems.append(.init(path: f.path, reason: "CRC-32C \(hex(d.crc32c)), BACKUP.json says \(f.crc32c)"))
                } else {
                    ok += 1
                }
            } catch {
                problems.append(.init(path: f.path, reason: "\(error)"))
            }
        }
        return BackupVerification(manifest: manifest, problems: problems, verifiedFiles: ok)
    }

    /// Restores the backup at `backup` into `target` (new or empty): every file is copied, checked
    /// against the CRC-32C and size that `BACKUP.json` records as it is copied, and made durable
    /// (`fsync` of each file and directory). On a mismatch nothing is left in `target` and the call
    /// throws ``VireoError/Code/corrupted``. The restored directory opens like any data directory.
    @discardableResult
    public static func restore(backup: String, to target: String) throws -> BackupManifest {
        let source = URL(fileURLWithPath: backup).standardizedFileURL.path
        let destination = URL(fileURLWithPath: target).standardizedFileURL.path
        let manifest = try readBackupManifest(source)
        try prepareEmptyDirectory(destination, what: "restore target")
        func removeRestored() {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: destination)) ?? [] {
                try? FileManager.default.removeItem(atPath: "\(destination)/\(entry)")
            }
        }
        var directories: Set<String> = [destination]
        do {
            for f in manifest.files {
                let to = "\(destination)/\(f.path)"
                let parent = URL(fileURLWithPath: to).deletingLastPathComponent().path
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                var dir = parent
                while dir.count > destination.count {
                    directories.insert(dir)
                    dir = URL(fileURLWithPath: dir).deletingLastPathComponent().path
                }
                let d = try Files.copyFile(from: "\(source)/\(f.path)", to: to)
                guard d.size == f.size, hex(d.crc32c) == f.crc32c else {
                    throw VireoError(.corrupted, kind: .invalidInput,
                                     "\(source)/\(f.path) has \(d.size) bytes and CRC-32C \(hex(d.crc32c)), BACKUP.json says \(f.size) bytes and \(f.crc32c): the backup is damaged; restore another one (nothing was left in \(destination))")
                }
            }
            // Deepest first, so each directory's entries are durable before its parent's.
            for dir in directories.sorted(by: { $0.count > $1.count }) { try Files.syncDirectory(dir) }
            try Files.syncDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
        } catch let e as VireoError {
            removeRestored()
            throw e
        } catch {
            removeRestored()
            throw VireoError.storage(error, "restoring \(source) into \(destination)")
        }
        return manifest
    }
}

/// 8 lowercase hex digits.
func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}
