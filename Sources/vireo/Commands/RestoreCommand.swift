import ArgumentParser
import Foundation
import Vireo

/// `vireo restore`: a backup back into a data directory, checked against BACKUP.json on the way.
struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a backup into a new or empty data directory, verifying every file's CRC-32C.",
        discussion: "Every file is checked against BACKUP.json while it is copied and made durable (fsync); on a mismatch nothing is left in the target."
    )
    @Option(name: .customLong("from"), help: "The backup directory (with BACKUP.json).") var from: String
    @Option(name: .customLong("data-dir"), help: "The data directory to restore into (new or empty).") var dataDir: String

    func run() async throws {
        do {
            let manifest = try Database.restore(backup: from, to: dataDir)
            let bytes = manifest.files.reduce(0) { $0 + $1.size }
            print(String(format: "restored %d collection(s), %d file(s), %.1f MiB from %@ (taken %@) into %@",
                         manifest.collections.count, manifest.files.count, Double(bytes) / 1_048_576, from,
                         ISO8601DateFormatter().string(from: manifest.startedAt), dataDir))
        } catch { fail(error) }
    }
}
