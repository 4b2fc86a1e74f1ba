/// Build parameters of an HNSW index, with Milvus' names (Malkov & Yashunin, arXiv:1603.09320).
public struct HNSWConfiguration: Sendable, Hashable, Codable {
    /// Maximum links per node above level 0 (the paper's `M`); level 0 keeps up to `2·M` (`M_max0`).
    /// Larger `M` raises recall at a given `ef` and costs `≈ 8·M` bytes per vector plus build time.
    /// Default 16; valid 2…2048 (below 2 the graph degenerates into chains).
    public var M: Int
    /// Size of the candidate list while inserting (`efConstruction`): larger builds a better graph,
    /// slower. Default 200; valid 1…65,536.
    public var efConstruction: Int
    /// Seed of the level assignment (levels are `⌊−ln(U)·mL⌋`, `mL = 1/ln M`).
    public var seed: UInt64
    /// Milvus' `HNSW_SQ`: the graph's distances are taken on 8-bit scalar-quantised codes
    /// (`sq_type` `SQ8`, the only type Vireo builds), a quarter of the vectors' bytes. Nil for HNSW.
    public var sqType: String?
    /// `HNSW_SQ` `refine`: re-rank the best `limit × refine_k` candidates with exact distances on the
    /// stored float vectors. Nil or false: results carry the codes' distances.
    public var refine: Bool?
    /// `HNSW_SQ` `refine_type` as given (Vireo re-ranks with the segment's float32 vectors, which
    /// it stores anyway, so every type re-ranks exactly).
    public var refineType: String?

    public init(M: Int = 16, efConstruction: Int = 200, seed: UInt64 = 0x5eed) {
        self.M = M
        self.efConstruction = efConstruction
        self.seed = seed
    }

    public static let validM = 2...2048
    public static let validEfConstruction = 1...65_536
    public static let validEf = 1...65_536

    /// The `sq_type` values Vireo builds.
    public static let supportedSQTypes = ["SQ8"]
    /// The `refine_type` values Milvus accepts.
    public static let refineTypes = ["SQ6", "SQ8", "BF16", "FP16", "FP32"]

    /// Whether the graph searches SQ8 codes.
    public var isQuantized: Bool { sqType != nil }

    public func validate() throws(IndexError) {
        if let sqType, !Self.supportedSQTypes.contains(sqType) {
            throw IndexError(parameter: "sq_type", message: "sq_type \(sqType) is not supported; use SQ8 (one byte per coordinate)")
        }
        if let refineType, !Self.refineTypes.contains(refineType) {
            throw IndexError(parameter: "refine_type", message: "refine_type \(refineType) is not supported; use one of \(Self.refineTypes.joined(separator: ", "))")
        }
        guard Self.validM.contains(M) else { throw .outOfRange("M", M, Self.validM, "the maximum number of links per node") }
        guard Self.validEfConstruction.contains(efConstruction) else {
            throw .outOfRange("efConstruction", efConstruction, Self.validEfConstruction, "the build candidate list size")
        }
    }

    /// Validates a search-time `ef` (the candidate list size; at least the number of results).
    public static func validateEf(_ ef: Int) throws(IndexError) {
        guard validEf.contains(ef) else { throw .outOfRange("ef", ef, validEf, "the search candidate list size") }
    }
}
