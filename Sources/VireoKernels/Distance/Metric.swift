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

    /// Parses Milvus' metric names, case-insensitively (`"l2"`, `"IP"`, `"Cosine"`).
    public init?(milvusName: String) {
        self.init(rawValue: milvusName.uppercased())
    }

    public var description: String { rawValue }

    /// Whether a larger public score means a closer match.
    public var largerIsCloser: Bool { self != .l2 }

    /// Whether stored and query vectors are unit-normalised before use.
    public var normalizesVectors: Bool { self == .cosine }

    /// Converts an internal distance (smaller is closer) to Milvus' public score.
    @inlinable
    public func score(fromDistance distance: Float) -> Float {
        switch self {
        case .l2: return distance
        case .ip, .cosine: return -distance
        }
    }

    /// Converts a public score back to an internal distance (the inverse of ``score(fromDistance:)``).
    @inlinable
    public func distance(fromScore score: Float) -> Float {
        switch self {
        case .l2: return score
        case .ip, .cosine: return -score
        }
    }
}
