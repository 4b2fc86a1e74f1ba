/// An index with a stored form that is used in place after reopening.
package protocol SerializableIndex: AnyObject, Sendable {
    /// Bytes of the stored form.
    var byteCount: Int { get }
    /// Writes the stored form into `destination` (exactly ``byteCount`` bytes, e.g. an LMDB value
    /// reserved in place).
    func serialize(into destination: UnsafeMutableRawBufferPointer)
    /// Calls `body` with the stored form as consecutive byte ranges (concatenated, exactly what
    /// ``serialize(into:)`` writes) without assembling it: a store that writes it in chunks copies
    /// each chunk from them.
    func withStoredParts<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R
}

/// An index whose stored form is another index's: a wrapper that adds only state derived again when
/// it is opened (so the engine above never touches the raw destination buffer itself).
package protocol ForwardingSerializableIndex: SerializableIndex {
    var storedIndex: any SerializableIndex { get }
}

extension ForwardingSerializableIndex {
    package var byteCount: Int { storedIndex.byteCount }
    package func serialize(into destination: UnsafeMutableRawBufferPointer) { storedIndex.serialize(into: destination) }
    package func withStoredParts<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        try storedIndex.withStoredParts(body)
    }
}

extension HNSWIndex: SerializableIndex {}
extension IVFIndex: SerializableIndex {}

extension [UnsafeRawBufferPointer] {
    /// Copies bytes `offset ..< offset + destination.count` of these ranges taken as one (in order)
    /// into `destination`.
    package func copyBytes(from offset: Int, into destination: UnsafeMutableRawBufferPointer) {
        var skip = offset
        var at = 0
        for part in self where at < destination.count {
            if skip >= part.count {
                skip -= part.count
                continue
            }
            let n = Swift.min(part.count - skip, destination.count - at)
            // SAFETY: [skip, skip + n) lies in `part` and [at, at + n) in `destination` (both
            // bounded by n above).
            (destination.baseAddress! + at).copyMemory(from: part.baseAddress! + skip, byteCount: n)
            at += n
            skip = 0
        }
        precondition(at == destination.count, "bytes \(offset)..<\(offset + destination.count) are past the parts' end")
    }
}
