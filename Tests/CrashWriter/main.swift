// A child process for the kill -9 durability test (Tests/VireoTests/CrashRecoveryTests.swift).
//
// Usage: vireo-crash-writer <data-dir> <first-batch> <batches> <batch-size> <writers> <seal-rows> [<vector-chunk-bytes>]
//
// Opens (or creates) collection "crash" and runs <writers> concurrent tasks that insert batches
// first-batch ..< first-batch+batches (rows of batch b have ids b*batch-size ..< (b+1)*batch-size and
// vectors derived from the id). After each insert returns — i.e. after its LMDB commit — it prints
// "ACK <batch>" and flushes stdout. The parent kills it with SIGKILL at a random moment and checks
// that every acknowledged batch survived whole and that no batch is half written.
import Foundation
import Vireo

let args = CommandLine.arguments
guard args.count == 7 || args.count == 8, let first = Int(args[2]), let batches = Int(args[3]), let batchSize = Int(args[4]),
      let writers = Int(args[5]), let sealRows = Int(args[6]), args.count == 7 || Int(args[7]) != nil else {
    FileHandle.standardError.write(Data("usage: vireo-crash-writer <dir> <first-batch> <batches> <batch-size> <writers> <seal-rows> [<vector-chunk-bytes>]\n".utf8))
    exit(2)
}

/// The vector of row `id` (the parent recomputes it to check contents).
func vector(_ id: Int64) -> [Float] { (0..<8).map { Float(id % 9973) + Float($0) / 8 } }

var config = Configuration()
config.sealRows = sealRows
// Small chunks: every seal stores its vectors as chunks committed ahead of the segment's transaction.
if args.count == 8 { config.vectorChunkBytes = Int(args[7])! }
let db = try Database.open(at: args[1], configuration: config)
let collection = db.hasCollection("crash")
    ? try db.collection("crash")
    : try db.createCollection(CollectionSchema(name: "crash", fields: [
        .int64PrimaryKey("id"), .floatVector("vec", dimension: 8, metric: .l2),
        FieldSchema(name: "batch", dataType: .int64),
    ]))

try await withThrowingTaskGroup(of: Void.self) { group in
    for w in 0..<writers {
        group.addTask {
            var b = first + w
            while b < first + batches {
                let rows: [Row] = (0..<batchSize).map { i in
                    let id = Int64(b * batchSize + i)
                    return ["id": .int(id), "vec": .floatVector(vector(id)), "batch": .int(Int64(b))]
                }
                try await collection.insert(rows)
                print("ACK \(b)")
                fflush(nil)
                b += writers
            }
        }
    }
    try await group.waitForAll()
}
print("DONE")
