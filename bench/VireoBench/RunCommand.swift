import ArgumentParser
import Foundation
import Vireo
import VireoBenchKit

/// `vireo-bench run`: one index, one sweep, ann-benchmarks style.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Build one index on a dataset and sweep its search parameter: recall@1/10/100, QPS, latency, build time, memory, size.",
        discussion: """
        Examples:
          vireo-bench run --dataset ../shared/data/dev --index hnsw --M 16 --efConstruction 200 --ef 10,16,32,64,128,256,512
          vireo-bench run --dataset ../shared/data/dev --index ivf_pq --nlist 1024 --m 48 --nbits 8 --nprobe 1,2,4,8,16,32 --refine 0,4
          vireo-bench run --dataset ~/sift --index ivf_flat --batch 100 --threads 2 --json sift.jsonl --svg sift.svg
        Output: a Markdown table on stdout, a progress bar on stderr, JSON lines (--json) and an SVG plot (--svg).
        """
    )

    @OptionGroup var options: RunOptions
    @Option(help: "Write one JSON object per measured point to this file.") var json: String?
    @Option(help: "Write an SVG plot of recall@10 vs QPS (log scale) to this file.") var svg: String?
    @Option(help: "Peer results to draw on the plot: the CSV bench_peers.py writes.") var peers: String?
    @Option(help: "Plot title (default: the dataset and index).") var title: String?

    func run() async throws {
        let progress = ProgressBar(enabled: !options.quiet)
        let (data, records, report) = try await options.execute(progress: progress)
        print("## vireo-bench run: \(data.name), \(options.index.uppercased())\n")
        print("\(RunInfo.summary)\n")
        print(buildTable(report, records: records))
        print(MarkdownReport.table(records))
        if let json {
            try (records.map(\.jsonLine).joined(separator: "\n") + "\n").write(toFile: json, atomically: true, encoding: .utf8)
            progress.log("wrote \(records.count) JSON lines to \(json)")
        }
        if let svg {
            var curves = PlotCurve.curves(records)
            if let peers { curves += PeersCSV.curves(try PeersCSV.read(peers)) }
            let t = title ?? "\(data.name): recall@10 vs QPS (\(options.threads) thread(s), batch \(options.batch))"
            try RecallQPSPlot.svg(curves: curves, title: t).write(toFile: svg, atomically: true, encoding: .utf8)
            progress.log("wrote \(svg) (\(curves.count) curves)")
        }
    }
}

/// The build summary as a Markdown table.
func buildTable(_ r: BuildReport, records: [ResultRecord]) -> String {
    MarkdownReport.table(
        header: ["rows", "ingest rows/s (durable)", "seal s", "build s (train+add+store)", "train s", "sealed segments", "index MiB", "peak RSS MiB"],
        rows: [["\(r.rows)", String(format: "%.0f", r.ingestRowsPerSecond), String(format: "%.2f", r.sealSeconds),
                String(format: "%.2f", r.buildSeconds), MarkdownReport.fmt(r.trainSeconds, "%.2f"), "\(r.sealedSegments)",
                MarkdownReport.fmt(records.first?.indexBytes.map { Double($0) / 1_048_576 }, "%.1f"),
                MarkdownReport.fmt(records.compactMap(\.rssMB).max(), "%.0f")]],
        rightAligned: Set(0..<8))
}

/// The options `run` and `compare` share.
struct RunOptions: ParsableArguments {
    @Option(help: "Dataset directory: base/query .fvecs or .bvecs (+ groundtruth.ivecs), TEXMEX or ../shared/data layout.")
    var dataset: String
    @Option(help: "Index: flat, hnsw, hnsw_sq, ivf_flat, ivf_pq or ivf_sq8.") var index: String = "hnsw"
    @Option(help: "Metric: L2, IP, COSINE, or auto (IP for unit-length vectors, else L2).") var metric: String = "auto"
    @Option(name: .customLong("M"), help: "HNSW: neighbours per node.") var M: Int = 16
    @Option(name: [.customLong("efConstruction"), .customLong("ef-construction")], help: "HNSW: build candidate list.") var efConstruction: Int = 200
    @Option(help: "HNSW: comma-separated ef sweep.") var ef: String = "10,16,24,32,48,64,128,256,512"
    @Option(help: "IVF: lists (0 = round(4·√N), the peers' choice).") var nlist: Int = 0
    @Option(name: .customLong("m"), help: "IVF_PQ: sub-quantisers (must divide the dimension).") var pqM: Int = 48
    @Option(help: "IVF_PQ: bits per code.") var nbits: Int = 8
    @Option(help: "IVF: comma-separated nprobe sweep.") var nprobe: String = "1,2,4,8,16,32,64,128,256"
    @Option(help: "IVF_PQ, IVF_SQ8, HNSW_SQ: comma-separated re-rank factors (refine_k; 0 = none), one curve each.") var refine: String = "0"
    @Flag(help: "HNSW_SQ: build with refine=true (re-rank limit × refine_k candidates with the float vectors).") var sqRefine = false
    @Option(help: "Hits per query (recall@r is measured for r ≤ k).") var k: Int = 10
    @Option(help: "Search threads: concurrent callers with --batch 1, engine threads per call otherwise.") var threads: Int = 1
    @Option(help: "Queries per search call (> 1: the batch/GEMM path); a comma-separated list measures each size at every point, passes alternating (e.g. 1000,1).")
    var batch: String = "1"
    @Option(help: "Passes per point (fastest reported).") var runs: Int = 2
    @Option(help: "Index build threads (default: all cores).") var buildThreads: Int = System.coreCount
    @Option(help: "Filter letting this fraction of rows through (seeded bucket column); recall against exact filtered search.")
    var filterSelectivity: Double?
    @Option(help: "Use the first N base rows (ground truth is then recomputed).") var maxBase: Int?
    @Option(help: "Use the first N queries.") var maxQueries: Int?
    @Option(help: "Rows per sealed segment (default: the engine's).") var sealRows: Int?
    @Option(help: "Scratch directory for the database.") var scratch: String = NSTemporaryDirectory() + "vireo-bench-run-\(getpid())"
    @Option(help: "Where computed ground truth is cached when the dataset directory is read-only.")
    var cacheDir: String = BenchData.defaultCacheDirectory
    @Flag(help: "Compute ground truth even if the dataset ships one or a cached one exists.") var recomputeTruth = false
    @Option(help: "rest://host:port: measure a running `vireo serve` as a REST client (latency seen by the client).")
    var target: String?
    @Option(help: "Bearer token for --target (user:password or an API key), if the server requires one.") var token: String?
    @Flag(help: "No progress bar.") var quiet = false

    func ints(_ s: String, _ name: String) throws -> [Int] {
        let v = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw ValidationError("--\(name) takes comma-separated non-negative integers, got '\(s)'")
        }
        return v.map { $0! }
    }

    func execute(progress: ProgressBar) async throws -> (BenchData, [ResultRecord], BuildReport) {
        // As `vireo serve` does at startup: the measured process runs the allocator the server runs
        // (VIREO_BENCH_MALLOC=default keeps glibc's defaults, for an A/B).
        if ProcessInfo.processInfo.environment["VIREO_BENCH_MALLOC"] != "default" { Database.tuneProcessAllocator() }
        guard let kind = IndexPlan.Kind(rawValue: index.lowercased()) else {
            throw ValidationError("--index must be one of \(IndexPlan.Kind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(index)'")
        }
        let t: any SearchTarget
        if let target {
            t = try RESTTarget(url: target, token: token)
        } else {
            // Per-query callers each run on one engine thread; batch calls are split over `threads`.
            let batched = try ints(batch, "batch").contains { $0 > 1 }
            t = InProcessTarget(directory: scratch, searchThreads: batched ? threads : 1, buildThreads: buildThreads, sealRows: sealRows)
        }
        let files = try DatasetFiles.locate(dataset)
        var met: Metric
        if metric.lowercased() == "auto" {
            met = inferredMetric(try VectorFiles.readVectors(files.base, limit: 100))
            progress.log("metric: \(met) (auto: \(met == .ip ? "unit-length" : "not unit-length") vectors)")
        } else {
            guard let m = Metric(milvusName: metric) else { throw ValidationError("--metric must be L2, IP, COSINE or auto, got '\(metric)'") }
            met = m
        }
        let data = try BenchData.load(files, maxBase: maxBase ?? .max, maxQueries: maxQueries ?? .max, truthK: max(100, k), metric: met,
                                      recomputeTruth: recomputeTruth, cacheDirectory: cacheDir, log: { progress.log($0) })
        progress.log("dataset \(data.name): \(data.base.count) × \(data.dimension) base, \(data.queries.count) queries, truth top-\(data.truth.first?.count ?? 0)")
        var plan = IndexPlan(kind: kind, metric: met)
        plan.M = M
        plan.efConstruction = efConstruction
        plan.nlist = nlist
        plan.m = pqM
        plan.nbits = nbits
        plan.sqRefine = sqRefine
        let points = SearchPoint.sweep(kind, ef: try ints(ef, "ef"), nprobe: try ints(nprobe, "nprobe"), refine: try ints(refine, "refine"))
        var settings = RunSettings()
        settings.k = k
        settings.threads = threads
        let sizes = try ints(batch, "batch")
        guard let first = sizes.first else { throw ValidationError("--batch needs at least one size") }
        settings.batch = first
        settings.moreBatches = Array(sizes.dropFirst())
        settings.runs = runs
        settings.filterSelectivity = filterSelectivity
        do {
            let (report, records) = try await Runner.run(target: t, data: data, plan: plan, points: points, settings: settings, progress: progress)
            await t.cleanup()
            return (data, records, report)
        } catch {
            await t.cleanup()
            throw error
        }
    }
}
