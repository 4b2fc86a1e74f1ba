import ArgumentParser
import Foundation
import Vireo

@main
struct VireoBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vireo-bench",
        abstract: "Vireo benchmarks on .fvecs/.ivecs datasets, side by side with peers run in the same session.",
        subcommands: [Exact.self, HNSWBench.self, IVFBench.self, FilterBench.self, HNSWIndexBench.self, IVFIndexBench.self]
    )
}

/// Where a measurement ran: recorded in every report.
struct RunInfo {
    static func environment() -> JSONValue {
        var o: [String: JSONValue] = [
            "gitSHA": .string(shell("git rev-parse --short HEAD") ?? "unknown"),
            "cores": .int(Int64(System.coreCount)),
            "openblasCore": .string(OpenBLASBackend.coreName),
            "OPENBLAS_CORETYPE": .string(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"),
            "date": .string(ISO8601DateFormatter().string(from: Date())),
        ]
        if let cpu = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
            .split(separator: "\n").first(where: { $0.hasPrefix("model name") }) {
            o["cpu"] = .string(String(cpu.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces))
        }
        return .object(o)
    }

    static func shell(_ command: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        let s = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 ? s : nil
    }
}

/// Latency percentiles of a list of seconds, in milliseconds.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s[min(s.count - 1, Int((Double(s.count) * p).rounded(.down)))] * 1000
}

/// Mean recall@k of `results` against the first `k` ids of `truth`.
func recall(_ results: [[SearchHit]], truth: [[Int32]], k: Int) -> Double {
    var found = 0
    for (q, hits) in results.enumerated() {
        let want = Set(truth[q].prefix(k).map { PrimaryKey.int(Int64($0)) })
        found += hits.prefix(k).filter { want.contains($0.id) }.count
    }
    return Double(found) / Double(k * results.count)
}

func emit(_ o: [String: JSONValue], to lines: inout [String]) {
    let line = JSONValue.object(o).jsonText
    print(line)
    lines.append(line)
}

func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let r = try await body()
    return (r, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
