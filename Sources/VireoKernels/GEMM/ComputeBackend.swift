import COpenBLAS

/// Dense matrix work for batched distance computation. Vireo's batch search is written against this
/// protocol so a GPU backend (cuBLAS) can replace the CPU one without touching the engine.
public protocol ComputeBackend: Sendable {
    /// A short name for reports ("openblas:Haswell").
    var name: String { get }

    /// `out[nq × n] = alpha · Q[nq × d] · X[n × d]ᵀ + beta · out`, all row-major.
    ///
    /// - Important: pointers must be valid for the sizes given for the duration of the call.
    func gemmNT(
        nq: Int, n: Int, d: Int, alpha: Float,
        queries: UnsafePointer<Float>, base: UnsafePointer<Float>,
        beta: Float, out: UnsafeMutablePointer<Float>
    )
}

/// The CPU backend: OpenBLAS `cblas_sgemm`, pinned to one thread because Vireo parallelises itself.
public struct OpenBLASBackend: ComputeBackend {
    public init() { OpenBLASBackend.configureOnce }

    private static let configureOnce: Void = {
        openblas_set_num_threads(1)
    }()

    /// The OpenBLAS kernel family in use (set by `OPENBLAS_CORETYPE` or auto-detected at load).
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    public var name: String { "openblas:\(OpenBLASBackend.coreName)" }

    public func gemmNT(
        nq: Int, n: Int, d: Int, alpha: Float,
        queries: UnsafePointer<Float>, base: UnsafePointer<Float>,
        beta: Float, out: UnsafeMutablePointer<Float>
    ) {
        guard nq > 0, n > 0 else { return }
        // SAFETY: callers guarantee queries holds nq*d, base n*d and out nq*n floats.
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans,
            Int32(nq), Int32(n), Int32(d),
            alpha, queries, Int32(d), base, Int32(d),
            beta, out, Int32(n))
    }
}
