import ArgumentParser
import Foundation
import Vireo

/// `vireo check`: integrity of a data directory (every blob's checksum) or of a backup (its files).
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every stored checksum of a data directory (beside a running server), or a backup's files.",
        discussion: """
        With --data-dir: opens the directory read-only without its lock and verifies every blob (catalog records, \
        shard manifests, sealed segments, growing batches) and the sizes of raw values; prints what is OK or \
        corrupt per collection and shard. With --backup: checks each file BACKUP.json lists (size, CRC-32C). \
        Exits 1 when anything is damaged.
        """
    )
    @OptionGroup var storage: StorageOptions
    @Option(name: .customLong("backup"), help: "Check this backup directory's files against its BACKUP.json instead.") var backup: String?

    func run() async throws {
        let ok: Bool
        do {
            ok = try backup.map(checkBackup) ?? checkDataDirectory()
        } catch { fail(error) }
        if !ok { throw ExitCode.failure }
    }

    private func checkBackup(_ path: String) throws -> Bool {
        let result = try Database.verifyBackup(at: path)
        let m = result.manifest
        print("backup \(path): written by Vireo \(m.vireoVersion) at \(ISO8601DateFormatter().string(from: m.startedAt)), \(m.collections.count) collection(s)")
        for problem in result.problems { print("  CORRUPT \(problem)") }
        print(result.isOK ? "OK: \(result.verifiedFiles) file(s) match BACKUP.json"
                          : "CORRUPT: \(result.problems.count) of \(m.files.count) file(s) do not match BACKUP.json")
        return result.isOK
    }

    private func checkDataDirectory() throws -> Bool {
        let report = try Database.check(dataDirectory: storage.dataDir, configuration: storage.configuration(readOnly: true))
        for part in report.parts {
            let name = part.collection.map { c in "collection '\(c)'" + (part.shard.map { " shard \($0)" } ?? "") + " (\(part.path))" } ?? part.path
            let size = String(format: "%.1f MiB", Double(part.blobBytes) / 1_048_576)
            print("\(name): \(part.isOK ? "OK" : "CORRUPT"), \(part.entries) entries, \(part.blobs) blobs (\(size)) checked")
            for problem in part.problems { print("  CORRUPT \(problem)") }
        }
        print(report.isOK ? "OK" : "CORRUPT: \(report.problemCount) problem(s)")
        return report.isOK
    }
}
