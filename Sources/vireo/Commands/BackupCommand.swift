import ArgumentParser
import Foundation
import Vireo

/// `vireo backup`: an online backup of a data directory, beside the server that owns it.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up a data directory while a server keeps serving it (read-only, no lock).",
        discussion: """
        Copies the catalog, then every shard of every collection, each in one LMDB read transaction \
        (mdb_env_copy2, compacted): every write acknowledged before the backup started is in the copy, and \
        each shard is a consistent snapshot. OUT must be new or empty; it gets BACKUP.json (files, sizes, \
        CRC-32C) and can be served as-is (vireo serve --data-dir OUT) or restored with vireo restore.
        """
    )
    @OptionGroup var storage: StorageOptions
    @Option(name: .customLong("out"), help: "The backup directory (new or empty).") var out: String
    @Flag(name: .customLong("no-compact"), help: "Copy free pages too (MDB_CP_COMPACT off).") var noCompact = false

    func run() async throws {
        do {
            let started = Date()
            let manifest = try Database.backup(dataDirectory: storage.dataDir, to: out,
                                               configuration: storage.configuration(readOnly: true), compact: !noCompact)
            for note in manifest.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let bytes = manifest.files.reduce(0) { $0 + $1.size }
            print(String(format: "backed up %d collection(s), %d file(s), %.1f MiB into %@ in %.2f s",
                         manifest.collections.count, manifest.files.count, Double(bytes) / 1_048_576, out,
                         Date().timeIntervalSince(started)))
        } catch { fail(error) }
    }
}
