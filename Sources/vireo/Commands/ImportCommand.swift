import ArgumentParser
import Foundation
import Vireo

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import vectors from .fvecs or rows from JSON Lines.",
        subcommands: [FVecs.self, JSONLines.self]
    )

    struct FVecs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fvecs", abstract: "Import an .fvecs file; row i gets primary key --id-start + i (or an auto id).")
        @OptionGroup var storage: StorageOptions
        @Argument var collection: String
        @Argument var file: String
        @Option(help: "Rows per insert (one durable commit each).") var batch: Int = 1000
        @Option(help: "First primary key (Int64 keys without autoID).") var idStart: Int64 = 0
        @Option(help: "Import at most this many vectors.") var limit: Int = .max

        func run() async throws {
            do {
                let db = try storage.open()
                let c = try db.collection(collection)
                let vectorField = c.schema.vectorFields[0].name
                let pk = c.schema.primaryKey
                let vectors = try VectorFiles.readFVecs(file, limit: limit)
                var progress = ProgressBar(total: vectors.count, label: "import")
                var done = 0
                while done < vectors.count {
                    let end = min(done + batch, vectors.count)
                    let rows: [Row] = (done..<end).map { i in
                        var r: Row = [vectorField: .floatVector(vectors[i])]
                        if !pk.autoID { r[pk.name] = pk.dataType == .int64 ? .int(idStart + Int64(i)) : .string(String(idStart + Int64(i))) }
                        return r
                    }
                    try await c.insert(rows)
                    done = end
                    progress.update(done)
                }
                progress.finish(done)
                print("imported \(done) vectors into '\(collection)' (\(c.count()) rows)")
            } catch { fail(error) }
        }
    }

    struct JSONLines: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "jsonl", abstract: "Import a JSON Lines file, one row object per line.")
        @OptionGroup var storage: StorageOptions
        @Argument var collection: String
        @Argument var file: String
        @Option(help: "Rows per insert (one durable commit each).") var batch: Int = 1000

        func run() async throws {
            do {
                let db = try storage.open()
                let c = try db.collection(collection)
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw VireoError(.invalidArgument, kind: .invalidInput, "cannot read \(file)")
                }
                let lines = data.split(separator: UInt8(ascii: "\n"))
                var progress = ProgressBar(total: lines.count, label: "import")
                var rows: [Row] = []
                var done = 0
                for (n, line) in lines.enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
                    let value: JSONValue
                    do {
                        value = try JSONDecoder().decode(JSONValue.self, from: Data(line))
                    } catch {
                        throw VireoError(.invalidArgument, kind: .invalidInput, "\(file):\(n + 1): not valid JSON")
                    }
                    rows.append(try c.schema.row(fromJSON: value, index: n + 1))
                    if rows.count == batch {
                        try await c.insert(rows)
                        done += rows.count
                        rows.removeAll(keepingCapacity: true)
                        progress.update(done)
                    }
                }
                if !rows.isEmpty {
                    try await c.insert(rows)
                    done += rows.count
                }
                progress.finish(done)
                print("imported \(done) rows into '\(collection)' (\(c.count()) rows)")
            } catch { fail(error) }
        }
    }
}
