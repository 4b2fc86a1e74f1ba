import ArgumentParser
import Foundation
import Vireo
import VireoBenchKit

/// `vireo-bench compare DATASET`: the peers and Vireo on the same data in one run, with ratios.
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run the peers (bench_peers.py) and Vireo on the same dataset in one run; print QPS at recall 0.90/0.95/0.99, build time and memory ratios.",
        discussion: """
        Each Vireo index runs in its own child process (`vireo-bench run`), as each peer config does in
        bench_peers.py, so peak RSS is per index. Pairs: HNSW vs hnswlib and faiss HNSWFlat, IVF_PQ (and
        refine ×4) vs faiss IVFPQ (+RefineFlat), IVF_FLAT vs faiss IVFFlat, FLAT vs faiss FlatIP.
        """
    )

    @Argument(help: "Dataset directory (TEXMEX or ../shared/data layout).") var dataset: String
    @Option(help: "Vireo indexes to run (comma-separated: hnsw, ivf_pq, ivf_flat, flat).") var indexes: String = "hnsw,ivf_pq,ivf_flat,flat"
    @Option(help: "HNSW ef sweep.") var ef: String = "10,16,24,32,48,64,128,256,512"
    @Option(help: "IVF nprobe sweep.") var nprobe: String = "1,2,4,8,16,32,64,128,256"
    @Option(help: "IVF_PQ re-rank factor compared with faiss IndexRefineFlat (k_factor 4).") var refine: Int = 4
    @Option(help: "Passes per point (fastest reported).") var runs: Int = 2
    @Option(help: "Use the first N queries.") var maxQueries: Int?
    @Option(help: "Python of the peers' venv (created with the pinned packages if missing).") var peerPython: String = "/tmp/peers/bin/python"
    @Option(help: "bench_peers.py (default: ../shared/peers/bench_peers.py, else /work/shared/peers/bench_peers.py).") var peersScript: String?
    @Option(help: "Use this bench_peers.py CSV instead of running the peers.") var peersCSV: String?
    @Flag(help: "Vireo only.") var skipPeers = false
    @Option(help: "Write Vireo's and the peers' points as JSON lines here.") var json: String?
    @Option(help: "Write the SVG plot (Vireo and peer curves) here.") var svg: String?
    @Flag(help: "No progress bars.") var quiet = false

    func run() async throws {
        let progress = ProgressBar(enabled: !quiet)
        let kinds = indexes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for k in kinds where IndexPlan.Kind(rawValue: k) == nil {
            throw ValidationError("--indexes: unknown index '\(k)'; use hnsw, ivf_pq, ivf_flat, flat")
        }
        let files = try DatasetFiles.locate(dataset)
        // 1. Peers (each config in its own process, as bench_peers.py does).
        var peers: [PeerRow] = []
        if let peersCSV {
            peers = try PeersCSV.read(peersCSV)
        } else if !skipPeers {
            let script = peersScript ?? ["../shared/peers/bench_peers.py", "/work/shared/peers/bench_peers.py"]
                .first { FileManager.default.fileExists(atPath: $0) } ?? "../shared/peers/bench_peers.py"
            try ensurePeerVenv(progress: progress)
            let only = Comparison.peerConfigs(for: kinds.compactMap { IndexPlan.Kind(rawValue: $0)?.milvusName })
            peers = PeerRunner.run(python: peerPython, script: script, dataset: files.directory, only: only.joined(separator: ","))
        }
        // 2. Vireo, one child process per index.
        var vireo: [ResultRecord] = []
        var builds: [(String, String)] = []
        for kind in kinds {
            let out = NSTemporaryDirectory() + "vireo-compare-\(getpid())-\(kind).jsonl"
            defer { try? FileManager.default.removeItem(atPath: out) }
            var args = ["run", "--dataset", files.directory, "--index", kind, "--ef", ef, "--nprobe", nprobe, "--runs", "\(runs)", "--json", out]
            if kind == "ivf_pq" { args += ["--refine", "0,\(refine)"] }
            if let maxQueries { args += ["--max-queries", "\(maxQueries)"] }
            if quiet { args.append("--quiet") }
            let busy = MachineLoad.waitQuiet()
            progress.log("== vireo \(kind)   (machine busy before start: \(busy.map { String(format: "%.1f", $0) } ?? "?")%): vireo-bench \(args.joined(separator: " "))")
            let (status, stdout) = try runSelf(args)
            guard status == 0 else { throw BenchError("vireo-bench run --index \(kind) failed (exit \(status))") }
            FileHandle.standardError.write(Data(stdout.utf8))
            if let table = stdout.components(separatedBy: "\n\n").first(where: { $0.contains("ingest rows/s") }) {
                builds.append((kind.uppercased(), table))
            }
            let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
            vireo += try lines.map { try ResultRecord(jsonLine: String($0)) }
        }
        // 3. Report.
        print("## vireo-bench compare: \(files.name)\n")
        print("\(RunInfo.summary). Peers and Vireo measured in this run, one query per call on one search thread, builds on \(System.coreCount) threads.\n")
        print(Comparison.table(vireo: vireo, peers: peers))
        for (kind, table) in builds { print("Vireo \(kind) build:\n\n\(table)\n") }
        print(MarkdownReport.table(vireo + Comparison.records(peers: peers, gitSHA: RunInfo.gitSHA)))
        if let json {
            let all = vireo + Comparison.records(peers: peers, gitSHA: RunInfo.gitSHA)
            try (all.map(\.jsonLine).joined(separator: "\n") + "\n").write(toFile: json, atomically: true, encoding: .utf8)
        }
        if let svg {
            let curves = PlotCurve.curves(vireo) + PeersCSV.curves(peers)
            try RecallQPSPlot.svg(curves: curves, title: "\(files.name): recall@10 vs QPS, 1 thread, one query per call (git \(RunInfo.gitSHA))")
                .write(toFile: svg, atomically: true, encoding: .utf8)
        }
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
