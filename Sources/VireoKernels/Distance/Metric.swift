/// How closeness between two vectors is measured.
///
/// Internally every index works with a *distance* where smaller is closer. The public *score*
/// follows Milvus' convention and is produced only at the API edge by ``score(fromDistance:)``:
///
/// | metric | internal distance | public score | better score |
/// |---|---|---|---|
/// | `L2` | squared Euclidean distance | squared Euclidean distance | smaller |
/// | `IP` | −(inner product) | inner product | larger |
/// | `COSINE` | −(cosine similarity) | cosine similarity in [−1, 1] | larger |
///
/// COSINE vectors are stored unit-normalised (as Qdrant does), so COSINE runs on the IP kernels.
public enum Metric: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case l2 = "L2"
    case ip = "IP"
    case cosine = "COSINE"
    /// Binary vectors: the number of differing bits (smaller is closer). Computed on the 0/1 widening
    /// of the bits, where it equals the squared L2 distance exactly, so every L2 path serves it.
    case hamming = "HAMMING"
    /// Binary vectors: 1 − |a ∧ b| / |a ∨ b| (smaller is closer; 0 for two all-zero vectors).
    case jaccard = "JACCARD"
    /// Sparse vectors produced by a BM25 function: Okapi BM25 relevance of the documents' term counts to
    /// the analysed query text (larger is closer). Only sparse inverted indexes rank by it.
    case bm25 = "BM25"

    /// Parses Milvus' metric names, case-insensitively (`"l2"`, `"IP"`, `"Cosine"`).
    public init?(milvusName: String) {
        self.init(rawValue: milvusName.uppercased())
    }

    public var description: String { rawValue }

    /// Whether a larger public score means a closer match.
    public var largerIsCloser: Bool { self == .ip || self == .cosine || self == .bm25 }

    /// Whether the metric is computed as a squared L2 distance (L2, and HAMMING on 0/1 vectors).
    public var usesL2Kernel: Bool { self == .l2 || self == .hamming }

    /// Whether the metric is one of binary vectors (HAMMING, JACCARD).
    public var isBinary: Bool { self == .hamming || self == .jaccard }

    /// Whether stored and query vectors are unit-normalised before use.
    public var normalizesVectors: Bool { self == .cosine }

    /// Converts an internal distance (smaller is closer) to Milvus' public score.
    @inlinable
    public func score(fromDistance distance: Float) -> Float {
        switch self {
        case .l2, .hamming, .jaccard: return distance
        case .ip, .cosine, .bm25: return -distance
        }
    }

    /// Converts a public score back to an internal distance (the inverse of ``score(fromDistance:)``).
    @inlinable
    public func distance(fromScore score: Float) -> Float {
        switch self {
        case .l2, .hamming, .jaccard: return score
        case .ip, .cosine, .bm25: return -score
        }
    }
}
