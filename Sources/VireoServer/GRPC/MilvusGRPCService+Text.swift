import GRPCCore
import Vireo
import VireoMilvusProto
import VireoText

extension MilvusGRPCService {
    /// pymilvus' `run_analyzer`: texts arrive as UTF-8 bytes in `placeholder`; offsets are byte
    /// offsets into each text, `hash` Milvus' term id (what a BM25 function stores for the token).
    func runAnalyzer(request: Milvus_Proto_Milvus_RunAnalyzerRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_RunAnalyzerResponse {
        await call("RunAnalyzer", db: request.dbName) {
            guard request.analyzerNames.isEmpty else {
                throw APIError.invalid("analyzer_names (multi-language analyzers) are not supported by Vireo; give analyzer_params or a field")
            }
            let texts = try request.placeholder.enumerated().map { i, bytes in
                guard let s = String(validating: bytes, as: UTF8.self) else { throw APIError.invalid("text \(i) is not valid UTF-8") }
                return s
            }
            let results = try await handlers.runAnalyzer(texts: texts, analyzerParams: request.analyzerParams,
                                                         collection: request.collectionName, field: request.fieldName)
            var r = Milvus_Proto_Milvus_RunAnalyzerResponse()
            r.results = results.map { tokens in
                var out = Milvus_Proto_Milvus_AnalyzerResult()
                out.tokens = tokens.map { t in
                    var p = Milvus_Proto_Milvus_AnalyzerToken()
                    p.token = t.text
                    if request.withDetail {
                        p.startOffset = Int64(t.byteRange.lowerBound)
                        p.endOffset = Int64(t.byteRange.upperBound)
                        p.position = Int64(t.position)
                        p.positionLength = 1
                    }
                    if request.withHash { p.hash = TermHash.id(t.text) }
                    return p
                }
                return out
            }
            return r
        }
    }
}

extension Milvus_Proto_Milvus_RunAnalyzerResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
