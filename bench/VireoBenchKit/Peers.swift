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
            return PeerRow(library: v("library"), index: v("index"), params: v("params"), buildSeconds: d("build_s"),
                           point: CurvePoint(params: v("params"), recall: d("recall@10"), qps: d("qps"), p50: d("p50_ms"), p99: d("p99_ms")),
                           rssMB: d("rss_mb"), serializedMB: d("serialized_mb"), steadyIndexMB: d("steady_index_mb"), dataset: v("dataset"))
        }
    }

    /// Reads and parses a CSV file.
    public static func read(_ path: String) throws -> [PeerRow] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BenchError("cannot read the peers CSV \(path); run bench_peers.py --out \(path) first")
        }
        return try parse(text)
    }

    /// One dashed plot curve per peer index.
    public static func curves(_ rows: [PeerRow]) -> [PlotCurve] {
        var order: [String] = []
        var pts: [String: [PlotCurve.Point]] = [:]
        for r in rows {
            if pts[r.curveName] == nil { order.append(r.curveName) }
            pts[r.curveName, default: []].append(PlotCurve.Point(recall: r.point.recall, qps: r.point.qps))
        }
        return order.map { PlotCurve(name: $0, points: pts[$0]!, dashed: true) }
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
    public static func run(python: String, script: String, dataset: String, only: String) -> [PeerRow] {
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: script) else {
            FileHandle.standardError.write(Data("peers skipped: \(python) or \(script) missing; create the venv: python3 -m venv /tmp/peers && /tmp/peers/bin/pip install numpy==2.4.6 faiss-cpu==1.15.1 hnswlib==0.8.0 usearch==2.26.6\n".utf8))
            return []
        }
        let out = NSTemporaryDirectory() + "vireo-peers-\(UUID().uuidString).csv"
        defer { try? FileManager.default.removeItem(atPath: out) }
        FileHandle.standardError.write(Data("running peers (\(only)) ...\n".utf8))
        guard RunInfo.shell("'\(python)' '\(script)' '\(dataset)' --only \(only) --out '\(out)' 1>&2") != nil,
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
