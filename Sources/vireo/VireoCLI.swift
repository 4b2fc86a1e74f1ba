import ArgumentParser
import Foundation
import Vireo

@main
struct VireoCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vireo",
        abstract: "Vireo: a Milvus-style vector database (embedded LMDB storage, exact and indexed search).",
        subcommands: [Demo.self, Serve.self, CollectionCommand.self, IndexCommand.self, Import.self, Search.self, Query.self, Info.self,
                      Backup.self, Restore.self, Check.self]
    )
}

/// Options shared by every command that opens a data directory.
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The database directory.")
    var dataDir: String = "./vireo-data"

    @Option(name: .customLong("map-size-gib"), help: "Ceiling of each shard's map, in GiB; it grows on demand up to it (raise it if a shard reports a full map).")
    var mapSizeGiB: Int = 64

    @Option(name: .customLong("initial-map-mib"), help: "Map size a shard opens with, in MiB.")
    var initialMapMiB: Int = 64

    @Option(name: .customLong("seal-rows"), help: "Rows after which a growing segment is sealed.")
    var sealRows: Int = 65_536

    /// - Parameter readOnly: for commands that only read: nothing on disk changes, no directory lock
    ///   is taken (a running server may own the directory), writes are refused.
    func open(readOnly: Bool = false) throws -> Database {
        try Database.open(at: dataDir, configuration: configuration(readOnly: readOnly))
    }

    /// The configuration these options describe.
    func configuration(readOnly: Bool = false) -> Configuration {
        var config = Configuration()
        config.readOnly = readOnly
        config.mapSize = mapSizeGiB << 30
        config.initialMapSize = initialMapMiB << 20
        config.sealRows = sealRows
        return config
    }
}

/// Prints an error the way a user needs it and exits non-zero.
func fail(_ error: any Error) -> Never {
    let message = (error as? VireoError).map { "error [\($0.code)]: \($0.message)" } ?? "error: \(error)"
    FileHandle.standardError.write(Data((message + "\n").utf8))
    Foundation.exit(1)
}

/// A one-line progress bar on standard error.
struct ProgressBar {
    let total: Int
    let label: String
    let started = Date()
    var lastDraw = Date.distantPast

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    mutating func update(_ done: Int, force: Bool = false) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let width = 30
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int(fraction * Double(width))
        let rate = Double(done) / max(now.timeIntervalSince(started), 1e-6)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\r%@ [%@] %3.0f%% %d/%d (%.0f rows/s)", label, bar, fraction * 100, done, total, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    mutating func finish(_ done: Int) {
        update(done, force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

func jsonLine(_ value: JSONValue) -> String { value.jsonText }

func hitJSON(_ hit: SearchHit) -> JSONValue {
    var o: [String: JSONValue] = ["id": hit.id.fieldValue.jsonValue, "score": .double(Double(hit.score))]
    for (k, v) in hit.fields { o[k] = v.jsonValue }
    return .object(o)
}
