import Foundation
import Testing
@testable import VireoBenchKit
#if canImport(FoundationXML)
import FoundationXML
#endif

func sampleRecords() -> [ResultRecord] {
    [16, 64].map { ef in
        ResultRecord(system: "vireo", index: "HNSW", params: [Param("M", 16), Param("efConstruction", 200), Param("ef", ef, swept: true)],
                     threads: 1, batch: 1, buildSeconds: 13.25, recallAt1: 0.97, recallAt10: ef == 16 ? 0.93 : 0.99, recallAt100: nil,
                     qps: ef == 16 ? 12_000 : 5_500, p50Ms: 0.08, p95Ms: 0.12, p99Ms: 0.2, rssMB: 210, indexBytes: 96_000_000,
                     dataset: "dev", gitSHA: "abc1234")
    } + [ResultRecord(system: "vireo", index: "IVF_PQ", params: [Param("nlist", 894), Param("m", 48), Param("nbits", 8), Param("refine_k", 4),
                                                                 Param("nprobe", 32, swept: true)],
                      threads: 2, batch: 100, buildSeconds: nil, recallAt1: nil, recallAt10: 0.9, recallAt100: nil, qps: 7000, p50Ms: nil,
                      p95Ms: nil, p99Ms: nil, rssMB: nil, indexBytes: nil, dataset: "a \"quoted\" | name", gitSHA: "abc1234")]
}

/// Element names of an XML document, via Foundation's XMLParser (fails on malformed XML).
final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var pathStrokes: [String] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
        if name == "path" { pathStrokes.append(attributes["d"] ?? "") }
    }
}

@Suite("JSON lines, Markdown and SVG output")
struct OutputTests {
    @Test("a JSON line is one object with exactly the issue's keys, in order, and parses back")
    func jsonLines() throws {
        for r in sampleRecords() {
            let line = r.jsonLine
            #expect(!line.contains("\n"))
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(o.keys) == Set(ResultRecord.jsonKeys))
            #expect(o.count == 17)
            // Keys appear in the listed order.
            let positions = ResultRecord.jsonKeys.map { line.range(of: "\"\($0)\":")!.lowerBound }
            #expect(positions == positions.sorted())
            let back = try ResultRecord(jsonLine: line)
            #expect(back.system == r.system && back.index == r.index && back.params.map(\.name) == r.params.map(\.name))
            #expect(back.params.map(\.value) == r.params.map(\.value) && back.dataset == r.dataset)
            #expect(back.qps == r.qps && back.recallAt10 == r.recallAt10 && back.recallAt100 == nil && back.indexBytes == r.indexBytes)
        }
        let o = try JSONSerialization.jsonObject(with: Data(sampleRecords()[2].jsonLine.utf8)) as! [String: Any]
        #expect(o["p50_ms"] is NSNull && o["build_s"] is NSNull)
        #expect((o["params"] as? [String: Int]) == ["nlist": 894, "m": 48, "nbits": 8, "refine_k": 4, "nprobe": 32])
    }

    @Test("the Markdown table has a header, a separator and one row per point, all with the same number of cells")
    func markdown() {
        let text = MarkdownReport.table(sampleRecords())
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2 + 3)
        func cells(_ l: Substring) -> Int { l.replacingOccurrences(of: "\\|", with: "").filter { $0 == "|" }.count }
        #expect(Set(lines.map(cells)).count == 1)
        #expect(lines[1].allSatisfy { "|-: ".contains($0) })
        #expect(lines[2].contains("M=16 efConstruction=200 ef=16") && lines[2].contains("12000"))
    }

    @Test("the SVG parses as XML and has exactly one path per curve", arguments: [0, 1, 3, 11])
    func svg(peerCurves: Int) throws {
        var curves = PlotCurve.curves(sampleRecords())
        #expect(curves.count == 2)  // HNSW (2 points), IVF_PQ refine (1 point)
        for i in 0..<peerCurves {
            curves.append(PlotCurve(name: "peer <\(i)> & co", points: [.init(recall: 0.5 + 0.04 * Double(i), qps: 100 * Double(i + 1)),
                                                                       .init(recall: 0.95, qps: 50)], dashed: true))
        }
        curves.append(PlotCurve(name: "empty", points: []))  // nothing to draw: no path
        let svg = RecallQPSPlot.svg(curves: curves, title: "dev & friends <test>")
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = ElementCounter()
        parser.delegate = counter
        #expect(parser.parse(), "SVG is well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        #expect(counter.counts["svg"] == 1)
        #expect(counter.counts["path"] == 2 + peerCurves)
        #expect(counter.counts["circle"] == 3 + 2 * peerCurves)
        #expect(counter.pathStrokes.allSatisfy { $0.hasPrefix("M") })
        #if canImport(FoundationXML) || os(macOS)
        let doc = try XMLDocument(data: Data(svg.utf8))
        #expect(doc.rootElement()?.name == "svg")
        #endif
        #expect(svg.contains("recall@10") && svg.contains("log scale"))
    }

    @Test("peers CSV: quoted fields, one curve per library+index")
    func peersCSV() throws {
        let csv = [
            "library,index,params,build_s,recall@10,qps,p50_ms,p99_ms,rss_mb,serialized_mb,steady_index_mb,dataset",
            "hnswlib,HNSW,M=16 efC=200 ef=10,5.59,0.8834,30093.7,0.0311,0.0567,194.8,80.3,89.8,dev",
            "hnswlib,HNSW,M=16 efC=200 ef=16,5.59,0.9304,22073.4,0.0418,0.0866,194.8,80.3,89.8,dev",
            #"faiss,FlatIP,"exact, ""quoted""",0.1,1.0,370,2.6,3.1,150,73.2,,dev"#,
            "",
        ].joined(separator: "\r\n")
        let rows = try PeersCSV.parse(csv)
        #expect(rows.count == 3)
        #expect(rows[2].params == "exact, \"quoted\"" && rows[2].point.qps == 370 && rows[2].steadyIndexMB.isNaN)
        let curves = PeersCSV.curves(rows)
        #expect(curves.map(\.name) == ["hnswlib HNSW", "faiss FlatIP"] && curves[0].points.count == 2 && curves.allSatisfy(\.dashed))
        #expect(errorMessageOf { _ = try PeersCSV.parse("a,b\n1,2\n") }.contains("library"))
    }

    @Test("the comparison table pairs Vireo's batch and per-query curves with the peers' batch curves and gives ratios")
    func comparison() throws {
        let peers = try PeersCSV.parse("""
        library,index,params,build_s,recall@10,qps,p50_ms,p99_ms,rss_mb,serialized_mb,batch1t_qps,n_query,dataset,load1
        hnswlib,HNSW,M=16 efC=200 ef=10,5.0,0.90,6000,0.1,0.1,100,80,8000,1000,dev,1.1
        hnswlib,HNSW,M=16 efC=200 ef=64,5.0,0.99,2750,0.1,0.1,100,80,4000,1000,dev,1.2

        """)
        #expect(peers[0].batchQPS == 8000 && peers[1].load1 == 1.2 && peers[0].queryCount == 1000)
        // Vireo per query (sampleRecords, batch 1) and the same settings as a batch of 1,000.
        let batch = sampleRecords().filter { $0.index == "HNSW" }.map { r -> ResultRecord in
            var b = r
            b.batch = 1000
            b.qps = r.qps * 2
            return b
        }
        let table = Comparison.table(vireo: sampleRecords() + batch, peers: peers)
        let lines = table.split(separator: "\n")
        #expect(lines.count == 3)  // header, separator, HNSW vs hnswlib (no faiss rows, no IVF peers)
        #expect(lines[2].contains("HNSW") && lines[2].contains("hnswlib HNSW"))
        // At 0.99: Vireo batch 11,000 and per query 5,500 q/s against hnswlib's batch 4,000.
        #expect(lines[2].contains("11,000 / 4,000 (2.75×)"), "\(lines[2])")
        #expect(lines[2].contains("5,500 / 4,000 (1.38×)"), "\(lines[2])")
        #expect(lines[2].contains("13.25 / 5.00 (2.65×)"))
        #expect(Comparison.peerConfigs(for: ["HNSW", "FLAT"]) == ["hnswlib_hnsw", "faiss_hnswflat16", "faiss_flatip"])
        #expect(Comparison.peerConfigs(for: ["HNSW_SQ"], refine: true) == ["faiss_hnswsq_refine"])
        // Per query against batch at the same setting: 0.50× at both ef.
        let perQuery = Comparison.perQueryTable(vireo: sampleRecords() + batch).split(separator: "\n")
        #expect(perQuery.count == 4 && perQuery.dropFirst(2).allSatisfy { $0.contains("0.50×") }, "\(perQuery)")
        // Best of rounds keeps each point's fastest run.
        var slower = peers
        slower[0].batchQPS = 7000
        slower[0].point.qps = 6500
        let best = PeersCSV.best(slower + peers)
        #expect(best.count == 2 && best[0].batchQPS == 8000 && best[0].point.qps == 6500)
    }
}

func errorMessageOf(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}
