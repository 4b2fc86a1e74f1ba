import ArgumentParser
import Foundation
import VireoBenchKit

/// `vireo-bench plot`: redraws the SVG from JSON lines (and a peers CSV) written earlier.
struct PlotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot", abstract: "Draw recall@10 vs QPS (SVG) from JSON lines written by run/compare, plus an optional peers CSV.")

    @Option(help: "JSON lines from `run --json` or `compare --json` (repeatable).") var json: [String] = []
    @Option(help: "Peer results (the CSV bench_peers.py writes).") var peers: String?
    @Option(help: "Output SVG.") var svg: String
    @Option(help: "Title.") var title: String = "recall@10 vs QPS"

    func run() async throws {
        var records: [ResultRecord] = []
        for f in json {
            let text = try String(contentsOfFile: f, encoding: .utf8)
            records += try text.split(separator: "\n").map { try ResultRecord(jsonLine: String($0)) }
        }
        var curves = PlotCurve.curves(records)
        if let peers { curves += PeersCSV.curves(try PeersCSV.read(peers)) }
        try RecallQPSPlot.svg(curves: curves, title: title).write(toFile: svg, atomically: true, encoding: .utf8)
        print("wrote \(svg) (\(curves.count) curves)")
    }
}
