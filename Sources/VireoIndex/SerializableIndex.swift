/// An index with a stored form that is used in place after reopening.
package protocol SerializableIndex: AnyObject, Sendable {
    /// Bytes of the stored form.
    var byteCount: Int { get }
    /// Writes the stored form into `destination` (exactly ``byteCount`` bytes, e.g. an LMDB value
    /// reserved in place).
    func serialize(into destination: UnsafeMutableRawBufferPointer)
}

extension HNSWIndex: SerializableIndex {}
extension IVFIndex: SerializableIndex {}
