import Foundation
import Vireo

/// One row of the CSV that `../shared/peers/bench_peers.py` writes.
public struct PeerRow: Sendable, Hashable {
    public var library: String
    public var index: String
    public var params: String
    public var buildSeconds: Double
    public var point: CurvePoint
    /// Peak RSS of the peer's process (data + index), MB.
    public var rssMB: Double
    public var serializedMB: Double
    /// Resident memory the index added once built, MB.
    public var steadyIndexMB: Double
    public var dataset: String
    /// All queries in one call on one thread (`batch1t_qps`): the engine's own speed, what Vireo is
    /// compared with. NaN when the CSV has no such column.
    public var batchQPS: Double = .nan
    /// The 1-minute load average when the point was measured (NaN when not recorded).
    public var load1: Double = .nan
    /// Queries of the run (`n_query`; 0 when not recorded).
    public var queryCount: Int = 0

    /// The batch point (recall, `batch1t_qps`).
    public var batchPoint: CurvePoint { CurvePoint(params: params, recall: point.recall, qps: batchQPS) }

    /// `library index`, e.g. `hnswlib HNSW`, `faiss IVFPQ+RefineFlat`.
    public var curveName: String { "\(library) \(index)" }
}

/// Reading `bench_peers.py` CSV files.
public enum PeersCSV {
    /// Parses the CSV text (RFC 4180 quoting).
    ///
    /// - Throws: ``BenchError`` when the header lacks `library`, `index`, `recall@10` or `qps`.
    public static func parse(_ text: String) throws -> [PeerRow] {
        let table = csvRecords(text)
        guard let header = table.first else { return [] }
        for need in ["library", "index", "recall@10", "qps"] where !header.contains(need) {
            throw BenchError("peers CSV has no '\(need)' column (header: \(header.joined(separator: ","))); pass the CSV bench_peers.py writes")
        }
        return table.dropFirst().filter { !($0.count == 1 && $0[0].isEmpty) }.map { f in
            func v(_ name: String) -> String { header.firstIndex(of: name).flatMap { $0 < f.count ? f[$0] : nil } ?? "" }
            func d(_ name: String) -> Double { Double(v(name)) ?? .nan }
            var row = PeerRow(library: v("library"), index: v("index"), params: v("params"), buildSeconds: d("build_s"),
                              point: CurvePoint(params: v("params"), recall: d("recall@10"), qps: d("qps"), p50: d("p50_ms"), p99: d("p99_ms")),
                              rssMB: d("rss_mb"), serializedMB: d("serialized_mb"), steadyIndexMB: d("steady_index_mb"), dataset: v("dataset"))
            row.batchQPS = d("batch1t_qps")
            row.load1 = d("load1")
            row.queryCount = Int(v("n_query")) ?? 0
            return row
        }
    }

    /// Reads and parses a CSV file.
    public static func read(_ path: String) throws -> [PeerRow] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BenchError("cannot read the peers CSV \(path); run bench_peers.py --out \(path) first")
        }
        return try parse(text)
    }

    /// One dashed plot curve per peer index (`batch`: the `batch1t_qps` points, where the CSV has them).
    public static func curves(_ rows: [PeerRow], batch: Bool = false) -> [PlotCurve] {
        var order: [String] = []
        var pts: [String: [PlotCurve.Point]] = [:]
        for r in rows where !batch || r.batchQPS.isFinite {
            if pts[r.curveName] == nil { order.append(r.curveName) }
            pts[r.curveName, default: []].append(PlotCurve.Point(recall: r.point.recall, qps: batch ? r.batchQPS : r.point.qps))
        }
        return order.map { PlotCurve(name: $0 + (batch ? " (batch)" : ""), points: pts[$0]!, dashed: true) }
    }

    /// The best of repeated runs: per (curve, params), the highest QPS of each kind and the recall
    /// of the run that gave the highest batch QPS (recall does not change between runs of a seeded build).
    public static func best(_ rows: [PeerRow]) -> [PeerRow] {
        var order: [String] = []
        var out: [String: PeerRow] = [:]
        for r in rows {
            let key = r.curveName + "\u{0}" + r.params
            guard var b = out[key] else {
                order.append(key)
                out[key] = r
                continue
            }
            if r.batchQPS.isFinite && (!b.batchQPS.isFinite || r.batchQPS > b.batchQPS) {
                b.batchQPS = r.batchQPS
                b.load1 = r.load1
            }
            if r.point.qps > b.point.qps { b.point.qps = r.point.qps }
            b.buildSeconds = min(b.buildSeconds, r.buildSeconds)
            b.rssMB = max(b.rssMB, r.rssMB)
            out[key] = b
        }
        return order.map { out[$0]! }
    }

    static func csvRecords(_ text: String) -> [[String]] {
        var records: [[String]] = []
        var field = "", record: [String] = []
        var quoted = false
        var chars = text.makeIterator()
        var pending: Character?
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": record.append(field); field = ""
            case "\n", "\r\n", "\r":
                record.append(field); field = ""
                records.append(record); record = []
            default: field.append(c)
            }
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        return records
    }
}

/// Runs `bench_peers.py` for some of its configs and reads its CSV.
public enum PeerRunner {
    /// - Returns: the rows, or [] (with a message on stderr) when python or the script is missing or
    ///   the run fails.
    public static func run(python: String, script: String, dataset: String, only: String, extraArguments: String = "") -> [PeerRow] {
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: script) else {
            FileHandle.standardError.write(Data("peers skipped: \(python) or \(script) missing; create the venv: python3 -m venv /tmp/peers && /tmp/peers/bin/pip install numpy==2.4.6 faiss-cpu==1.15.1 hnswlib==0.8.0 usearch==2.26.6\n".utf8))
            return []
        }
        let out = NSTemporaryDirectory() + "vireo-peers-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: out) }
        FileHandle.standardError.write(Data("running peers (\(only)) ...\n".utf8))
        guard RunInfo.shell("'\(python)' '\(script)' '\(dataset)' --only \(only) --out '\(out)' \(extraArguments) 1>&2") != nil,
              let rows = try? PeersCSV.read(out) else {
            FileHandle.standardError.write(Data("peer run failed\n".utf8))
            return []
        }
        return rows
    }
}

/// Where a measurement ran.
public enum RunInfo {
    /// Short git SHA of the working directory's checkout (`unknown` outside git).
    public static let gitSHA: String = shell("git rev-parse --short HEAD 2>/dev/null") ?? "unknown"

    /// CPU model name from /proc/cpuinfo.
    public static var cpu: String {
        guard let line = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first(where: { $0.hasPrefix("model name") }) else { return "unknown" }
        return String(line.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces)
    }

    /// Runs `command` with /bin/sh; its stdout when it exits 0.
    public static func shell(_ command: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let s = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 ? s : nil
    }
}

extension RunInfo {
    /// The run's environment for reports: git SHA, cores, CPU, OpenBLAS core and `OPENBLAS_CORETYPE`.
    public static func environment() -> JSONValue {
        .object([
            "gitSHA": .string(gitSHA),
            "cores": .int(Int64(System.coreCount)),
            "cpu": .string(cpu),
            "openblasCore": .string(OpenBLASBackend.coreName),
            "OPENBLAS_CORETYPE": .string(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"),
            "date": .string(ISO8601DateFormatter().string(from: Date())),
        ])
    }

    /// One line: `git abc123, 2 cores, AMD EPYC ..., OpenBLAS core Haswell (OPENBLAS_CORETYPE=Haswell)`.
    public static var summary: String {
        "git \(gitSHA), \(System.coreCount) cores, \(cpu), OpenBLAS core \(OpenBLASBackend.coreName) (OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"))"
    }
}
