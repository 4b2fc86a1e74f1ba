import Foundation

/// A named recall/QPS curve for the plot.
public struct PlotCurve: Sendable, Hashable {
    public var name: String
    /// (recall@10, QPS) points; drawn in order of recall.
    public var points: [Point]
    /// Peers are drawn dashed.
    public var dashed: Bool

    public struct Point: Sendable, Hashable {
        public var recall: Double
        public var qps: Double
        public init(recall: Double, qps: Double) {
            self.recall = recall
            self.qps = qps
        }
    }

    public init(name: String, points: [Point], dashed: Bool = false) {
        self.name = name
        self.points = points
        self.dashed = dashed
    }

    /// The curves of a list of records, one per ``ResultRecord/curveName``, in first-seen order.
    public static func curves(_ records: [ResultRecord]) -> [PlotCurve] {
        var order: [String] = []
        var points: [String: [Point]] = [:]
        for r in records {
            guard let recall = r.recallAt10 else { continue }
            if points[r.curveName] == nil { order.append(r.curveName) }
            points[r.curveName, default: []].append(Point(recall: recall, qps: r.qps))
        }
        let peers = Set(records.filter { !$0.system.hasPrefix("vireo") }.map(\.curveName))
        return order.map { PlotCurve(name: $0, points: points[$0]!, dashed: peers.contains($0)) }
    }
}

/// Recall@10 (x, linear) against QPS (y, log scale), ann-benchmarks style, as a standalone SVG
/// drawn here: a frame with axes and ticks, a legend, and exactly one `<path>` per curve (points
/// are marked with `<circle>`s; axes and grid are `<line>`s).
public enum RecallQPSPlot {
    public static func svg(curves input: [PlotCurve], title: String, width: Int = 900, height: Int = 560) -> String {
        let curves = input.map { c in
            PlotCurve(name: c.name, points: c.points.filter { $0.recall.isFinite && $0.qps.isFinite && $0.qps > 0 }.sorted { $0.recall < $1.recall },
                      dashed: c.dashed)
        }.filter { !$0.points.isEmpty }
        let all = curves.flatMap(\.points)
        // Plot area, legend on the right.
        // The legend is as wide as its longest name (about 6.6 px per character at 12 px).
        let legendWidth = max(200, 50 + 6.6 * Double(curves.map(\.name.count).max() ?? 0))
        let width = max(width, Int(560 + legendWidth))
        let left = 70.0, top = 40.0
        let right = Double(width) - legendWidth - 20, bottom = Double(height) - 55
        // x: recall, from a tenth below the lowest point (at most 0..1), to 1.
        let minRecall = all.map(\.recall).min() ?? 0
        var x0 = (minRecall * 10).rounded(.down) / 10
        if minRecall - x0 < 0.02 { x0 = max(0, x0 - 0.1) }
        x0 = min(x0, 0.9)
        let x1 = 1.0
        // y: whole decades around the QPS range.
        let qs = all.map(\.qps)
        let y0 = floor(log10(qs.min() ?? 1)), y1 = max(ceil(log10(qs.max() ?? 10)), y0 + 1)
        func px(_ r: Double) -> Double { left + (r - x0) / (x1 - x0) * (right - left) }
        func py(_ q: Double) -> Double { bottom - (log10(q) - y0) / (y1 - y0) * (bottom - top) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="sans-serif" font-size="12">
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="white"/>
        <text x="\(f((left + right) / 2))" y="22" text-anchor="middle" font-size="15">\(xml(title))</text>

        """
        // Grid and ticks.
        let xStep = (x1 - x0) > 0.35 ? 0.1 : 0.05
        var t = x0
        while t <= x1 + 1e-9 {
            let x = px(t)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#e4e4e4\"/>\n"
            s += "<line x1=\"\(f(x))\" y1=\"\(f(bottom))\" x2=\"\(f(x))\" y2=\"\(f(bottom + 5))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(bottom + 18))\" text-anchor=\"middle\">\(String(format: xStep < 0.1 ? "%.2f" : "%.1f", t))</text>\n"
            t += xStep
        }
        let decades = Int(y1 - y0)
        for e in Int(y0)...Int(y1) {
            for m in [1.0, 2.0, 5.0] {
                let q = m * pow(10, Double(e))
                guard log10(q) <= y1 + 1e-9 else { continue }
                let y = py(q)
                let major = m == 1
                s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"\(major ? "#d0d0d0" : "#f0f0f0")\"/>\n"
                s += "<line x1=\"\(f(left - (major ? 6 : 3)))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
                if major || decades <= 2 {
                    s += "<text x=\"\(f(left - 9))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(qpsLabel(q))</text>\n"
                }
            }
        }
        // Axes.
        s += "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"black\"/>\n"
        s += "<text x=\"\(f((left + right) / 2))\" y=\"\(f(bottom + 40))\" text-anchor=\"middle\">recall@10</text>\n"
        s += "<text x=\"18\" y=\"\(f((top + bottom) / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f((top + bottom) / 2)))\">queries per second (log scale)</text>\n"
        // Curves and legend.
        for (i, c) in curves.enumerated() {
            let color = palette[i % palette.count]
            let d = c.points.enumerated().map { j, p in "\(j == 0 ? "M" : "L")\(f(px(p.recall))) \(f(py(p.qps)))" }.joined(separator: " ")
            s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(c.dashed ? " stroke-dasharray=\"6 4\"" : "")><title>\(xml(c.name))</title></path>\n"
            for p in c.points {
                s += "<circle cx=\"\(f(px(p.recall)))\" cy=\"\(f(py(p.qps)))\" r=\"3\" fill=\"\(color)\"/>\n"
            }
            let ly = top + 10 + Double(i) * 20
            let lx = right + 20
            s += "<line x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 26))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"\(c.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            s += "<text x=\"\(f(lx + 32))\" y=\"\(f(ly + 4))\">\(xml(c.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                          "#393b79", "#637939"]

    static func qpsLabel(_ q: Double) -> String {
        if q >= 1e6 { return String(format: "%gM", q / 1e6) }
        if q >= 1e3 { return String(format: "%gk", q / 1e3) }
        return String(format: "%g", q)
    }

    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
