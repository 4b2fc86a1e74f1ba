import ArgumentParser
import Foundation
import Vireo
import VireoBenchKit

/// `vireo-bench compare DATASET`: the peers and Vireo on the same data in one run, engine to engine, with ratios.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Peers and Vireo on the same dataset, batch against batch on one thread, alternating, best of N rounds; QPS ratios at recall 0.90/0.95/0.99.",
        discussion: """
        Protocol: for each index, `--rounds` rounds, each running the peers (bench/peers/peers_batch.py:
        all queries in one call on one thread, `batch1t_qps`, and one query per call from Python) and
        then Vireo (`vireo-bench run --batch 1000,1`: calls of 1,000 queries on one engine thread and
        one query per call, passes alternating) back to back, each in its own process (peak RSS per
        index). Every point keeps its best round. Ratios: Vireo's batch and per-query QPS against the
        peer's batch QPS, interpolated at each target recall@10. The 1-minute load average before
        each run is reported with it.
        """
    )

    /// Vireo index runs `compare` knows: `hnsw_sq_refine` is HNSW_SQ built with refine and searched
    /// with refine_k 2 (faiss' IndexRefineFlat k_factor 2), `ivf_pq` sweeps refine 0 and 4.
    static let knownIndexes = ["hnsw", "hnsw_sq", "hnsw_sq_refine", "ivf_sq8", "ivf_pq", "ivf_flat", "flat"]

    @Argument(help: "Dataset directory (TEXMEX or ../shared/data layout).") var dataset: String
    @Option(help: "Vireo indexes to run (comma-separated: \(CompareCommand.knownIndexes.joined(separator: ", "))).") var indexes: String = "hnsw,hnsw_sq,ivf_sq8,ivf_pq,flat"
    @Option(help: "HNSW ef sweep.") var ef: String = "10,16,24,32,48,64,96,128,192,256"
    @Option(help: "IVF nprobe sweep.") var nprobe: String = "1,2,4,8,16,32,64,128"
    @Option(help: "IVF_PQ re-rank factor compared with faiss IndexRefineFlat (k_factor 4).") var refine: Int = 4
    @Option(help: "Rounds (peer then Vireo, back to back); each point keeps its best round.") var rounds: Int = 3
    @Option(help: "Passes per point within a Vireo run (fastest reported).") var runs: Int = 2
    @Option(help: "Queries per call on Vireo's batch path.") var batch: Int = 1000
    @Option(help: "Rows per sealed segment for Vireo (0: every base row in one segment, one index like each peer's; the engine's default seals every 65,536 rows).")
    var sealRows: Int = 0
    @Option(help: "Use the first N queries.") var maxQueries: Int?
    @Option(help: "Python of the peers' venv (created with the pinned packages if missing).") var peerPython: String = "/tmp/peers/bin/python"
    @Option(help: "The peers' script (default: bench/peers/peers_batch.py of this checkout).") var peersScript: String?
    @Option(help: "Use this peers CSV instead of running the peers (one round of peers).") var peersCSV: String?
    @Flag(help: "Vireo only.") var skipPeers = false
    @Option(help: "Write Vireo's and the peers' points as JSON lines here.") var json: String?
    @Option(help: "Write the SVG plot (Vireo batch and per-query curves, peer batch curves) here.") var svg: String?
    @Flag(help: "No progress bars.") var quiet = false

    func run() async throws {
        let progress = ProgressBar(enabled: !quiet)
        let kinds = indexes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for k in kinds where !Self.knownIndexes.contains(k) {
            throw ValidationError("--indexes: unknown index '\(k)'; use \(Self.knownIndexes.joined(separator: ", "))")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        let files = try DatasetFiles.locate(dataset)
        let script = peersScript ?? ["bench/peers/peers_batch.py", "../main/bench/peers/peers_batch.py"]
            .first { FileManager.default.fileExists(atPath: $0) } ?? "bench/peers/peers_batch.py"
        if peersCSV == nil && !skipPeers { try ensurePeerVenv(progress: progress) }
        var peers: [PeerRow] = try peersCSV.map { try PeersCSV.read($0) } ?? []
        var vireo: [ResultRecord] = []
        var builds: [(String, String)] = []
        var loads: [[String]] = []
        for round in 1...rounds {
            for kind in kinds {
                let index = kind == "hnsw_sq_refine" ? "HNSW_SQ" : IndexPlan.Kind(rawValue: kind)!.milvusName
                // 1. The peers of this index.
                if peersCSV == nil && !skipPeers {
                    let refineOnly: Bool? = kind == "hnsw_sq_refine" ? true : (kind == "hnsw_sq" ? false : nil)
                    let only = Comparison.peerConfigs(for: [index], refine: refineOnly)
                    if !only.isEmpty {
                        let load = Self.load1()
                        var extra = "--ef \(ef) --nprobe \(nprobe)"
                        if let maxQueries { extra += " --max-queries \(maxQueries)" }
                        peers += PeerRunner.run(python: peerPython, script: script, dataset: files.directory, only: only.joined(separator: ","),
                                                extraArguments: extra)
                        loads.append(["\(round)", "peers " + only.joined(separator: ","), load])
                    }
                }
                // 2. Vireo, in a child process, batch and per query alternating.
                let out = NSTemporaryDirectory() + "vireo-compare-\(getpid())-\(kind).jsonl"
                defer { try? FileManager.default.removeItem(atPath: out) }
                var args = ["run", "--dataset", files.directory, "--index", kind == "hnsw_sq_refine" ? "hnsw_sq" : kind, "--ef", ef,
                            "--nprobe", nprobe, "--runs", "\(runs)", "--batch", "\(batch),1", "--threads", "1", "--json", out]
                if kind == "ivf_pq" { args += ["--refine", "\(refine)"] }
                if kind == "hnsw_sq_refine" { args += ["--sq-refine", "--refine", "2"] }
                if let maxQueries { args += ["--max-queries", "\(maxQueries)"] }
                args += ["--seal-rows", "\(sealRows > 0 ? sealRows : Self.baseRows(files))"]
                if quiet { args.append("--quiet") }
                let busy = MachineLoad.waitQuiet()
                let load = Self.load1()
                progress.log("== round \(round), vireo \(kind) (others' CPU before: \(busy.map { String(format: "%.1f", $0) } ?? "?")%, load \(load)): vireo-bench \(args.joined(separator: " "))")
                let (status, stdout) = try runSelf(args)
                guard status == 0 else { throw BenchError("vireo-bench run --index \(kind) failed (exit \(status))") }
                FileHandle.standardError.write(Data(stdout.utf8))
                if round == 1, let table = stdout.components(separatedBy: "\n\n").first(where: { $0.contains("ingest rows/s") }) {
                    builds.append((kind.uppercased(), table))
                }
                loads.append(["\(round)", "vireo \(kind)", load + " (others' CPU \(busy.map { String(format: "%.0f", $0) } ?? "?")%)"])
                let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
                vireo += try lines.map { try ResultRecord(jsonLine: String($0)) }
            }
        }
        vireo = Self.best(vireo)
        peers = PeersCSV.best(peers)
        // 3. Report.
        print("## vireo-bench compare: \(files.name)\n")
        print("\(RunInfo.summary). Best of \(rounds) round(s); peers and Vireo back to back in each. Peers: all queries in one call on one thread (`batch1t_qps`). Vireo: calls of \(batch) queries on one engine thread (batch) and one query per call (per query), \(sealRows > 0 ? "\(sealRows) rows per sealed segment" : "all rows in one sealed segment"). Builds on \(System.coreCount) threads.\n")
        print(Comparison.table(vireo: vireo, peers: peers))
        print("Vireo per query against its batch path at the same setting:\n")
        print(Comparison.perQueryTable(vireo: vireo))
        print("Machine load (1-minute load average before each run):\n")
        print(MarkdownReport.table(header: ["round", "run", "load1"], rows: loads, rightAligned: []))
        for (kind, table) in builds { print("Vireo \(kind) build (round 1):\n\n\(table)\n") }
        print(MarkdownReport.table(vireo + Comparison.records(peers: peers, gitSHA: RunInfo.gitSHA)))
        if let json {
            let all = vireo + Comparison.records(peers: peers, gitSHA: RunInfo.gitSHA)
            try (all.map(\.jsonLine).joined(separator: "\n") + "\n").write(toFile: json, atomically: true, encoding: .utf8)
        }
        if let svg {
            let curves = PlotCurve.curves(vireo) + PeersCSV.curves(peers, batch: true)
            try RecallQPSPlot.svg(curves: curves, title: "\(files.name): recall@10 vs QPS, 1 thread, batch and per query (git \(RunInfo.gitSHA))")
                .write(toFile: svg, atomically: true, encoding: .utf8)
        }
    }

    /// The base rows of a dataset (the fvecs/bvecs file's size over its record size).
    static func baseRows(_ files: DatasetFiles) -> Int {
        guard let handle = FileHandle(forReadingAtPath: files.base), let head = try? handle.read(upToCount: 4), head.count == 4,
              let size = (try? FileManager.default.attributesOfItem(atPath: files.base))?[.size] as? Int else { return 65_536 }
        let dim = head.reversed().reduce(0) { $0 << 8 | Int($1) }  // little-endian int32
        let element = files.base.hasSuffix(".bvecs") ? 1 : 4
        return max(1, size / (4 + dim * element))
    }

    /// The 1-minute load average (`/proc/loadavg`).
    static func load1() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
    }

    /// Per (index, setting, batch), the fastest record of the rounds.
    static func best(_ records: [ResultRecord]) -> [ResultRecord] {
        var order: [String] = []
        var out: [String: ResultRecord] = [:]
        for r in records {
            let key = "\(r.index)|\(r.paramsText)|\(r.batch)"
            if let b = out[key] {
                if r.qps > b.qps { out[key] = r }
            } else {
                order.append(key)
                out[key] = r
            }
        }
        return order.map { out[$0]! }
    }

    /// Creates the peers' venv with the pinned packages when its python is missing.
    func ensurePeerVenv(progress: ProgressBar) throws {
        guard !FileManager.default.isExecutableFile(atPath: peerPython) else { return }
        let venv = URL(fileURLWithPath: peerPython).deletingLastPathComponent().deletingLastPathComponent().path
        progress.log("creating the peers' venv \(venv) (numpy 2.4.6, faiss-cpu 1.15.1, hnswlib 0.8.0, usearch 2.26.6)")
        guard RunInfo.shell("python3 -m venv '\(venv)' && '\(venv)/bin/pip' install -q numpy==2.4.6 faiss-cpu==1.15.1 hnswlib==0.8.0 usearch==2.26.6 1>&2") != nil else {
            throw BenchError("could not create the peers' venv at \(venv); create it by hand (bench/README.md, Peers) or pass --skip-peers")
        }
    }

    /// Runs this executable with `args`; stderr passes through, stdout is returned.
    func runSelf(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
