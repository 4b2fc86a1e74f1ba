import Foundation
import Testing
import Vireo
import VireoTestSupport

/// Bytes of a vecs file written by hand: per record an Int32 dimension, then the values.
func vecsBytes(_ records: [(dim: Int32, values: [UInt32])], elementSize: Int = 4) -> Data {
    var d = Data()
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    for r in records {
        u32(UInt32(bitPattern: r.dim))
        for v in r.values {
            if elementSize == 1 { d.append(UInt8(v)) } else { u32(v) }
        }
    }
    return d
}

func write(_ data: Data, _ name: String, in dir: TemporaryDirectory) -> String {
    let path = "\(dir.path)/\(name)"
    _ = FileManager.default.createFile(atPath: path, contents: data)
    return path
}

/// The message of the error `body` throws ("" when it throws none).
func errorMessage(_ body: () throws -> Void) -> String {
    do {
        try body()
        return ""
    } catch let e as VireoError {
        return e.message
    } catch {
        return "\(error)"
    }
}

@Suite("TEXMEX vecs readers")
struct VectorFilesTests {
    @Test("fvecs: hand-written records read back bit for bit, limit reads the first rows")
    func fvecsReadsRecords() throws {
        let dir = TemporaryDirectory("vecs")
        let rows: [[Float]] = [[1, -2.5, 3], [0.125, 1e-3, -7], [42, 0, -0]]
        let path = write(vecsBytes(rows.map { (3, $0.map(\.bitPattern)) }), "a.fvecs", in: dir)
        #expect(try VectorFiles.readFVecs(path) == rows)
        #expect(try VectorFiles.readFVecs(path, limit: 2) == Array(rows.prefix(2)))
        #expect(try VectorFiles.readVectors(path, limit: 1) == [rows[0]])
    }

    @Test("ivecs and bvecs: values and UInt8 components as written")
    func ivecsAndBvecs() throws {
        let dir = TemporaryDirectory("vecs")
        let ids: [[Int32]] = [[5, -1, 70000], [0, 1, 2]]
        let ip = write(vecsBytes(ids.map { (3, $0.map { UInt32(bitPattern: $0) }) }), "g.ivecs", in: dir)
        #expect(try VectorFiles.readIVecs(ip) == ids)
        let bp = write(vecsBytes([(4, [0, 1, 128, 255]), (4, [9, 8, 7, 6])], elementSize: 1), "b.bvecs", in: dir)
        #expect(try VectorFiles.readBVecs(bp) == [[0, 1, 128, 255], [9, 8, 7, 6]])
        #expect(try VectorFiles.readVectors(bp) == [[0, 1, 128, 255], [9, 8, 7, 6]])
    }

    @Test("writeFVecs / writeIVecs round-trip through the readers")
    func roundTrip() throws {
        let dir = TemporaryDirectory("vecs")
        let v = Datasets.uniform(n: 17, dim: 5, seed: 3)
        try VectorFiles.writeFVecs(v, to: "\(dir.path)/v.fvecs")
        #expect(try VectorFiles.readFVecs("\(dir.path)/v.fvecs") == v)
        let g: [[Int32]] = (0..<9).map { i in (0..<4).map { Int32(i * 10 + $0) } }
        try VectorFiles.writeIVecs(g, to: "\(dir.path)/g.ivecs")
        #expect(try VectorFiles.readIVecs("\(dir.path)/g.ivecs") == g)
    }

    @Test("malformed files fail with a message naming the problem", arguments: [
        ("truncated record", vecsBytes([(3, [1, 2, 3]), (3, [1, 2])]), "truncated"),
        ("stray trailing bytes", vecsBytes([(2, [1, 2])]) + Data([1, 2]), "stray"),
        ("dimension changes", vecsBytes([(3, [1, 2, 3]), (2, [1, 2])]), "same dimension"),
        ("zero dimension", vecsBytes([(0, [])]), "dimension 0"),
        ("negative dimension", vecsBytes([(-4, [1, 2, 3, 4])]), "dimension -4"),
        ("huge dimension", vecsBytes([(1 << 20, [1])]), "outside"),
        ("empty file", Data(), "empty"),
    ])
    func malformed(_ name: String, _ bytes: Data, _ expected: String) {
        let dir = TemporaryDirectory("vecs")
        let path = write(bytes, "bad.fvecs", in: dir)
        let message = errorMessage { _ = try VectorFiles.readFVecs(path) }
        #expect(message.contains(expected), "\(name): \(message)")
        #expect(message.contains(path), "\(name): the message names the file: \(message)")
    }

    @Test("a missing file and a wrong extension are reported")
    func missingAndWrongExtension() {
        let dir = TemporaryDirectory("vecs")
        #expect(errorMessage { _ = try VectorFiles.readFVecs("\(dir.path)/nope.fvecs") }.contains("no such file"))
        let p = write(vecsBytes([(1, [1])]), "x.ivecs", in: dir)
        #expect(errorMessage { _ = try VectorFiles.readVectors(p) }.contains(".fvecs or .bvecs"))
    }
}
