/// An index with a stored form that is used in place after reopening.
package protocol SerializableIndex: AnyObject, Sendable {
    /// Bytes of the stored form.
    var byteCount: Int { get }
    /// Writes the stored form into `destination` (exactly ``byteCount`` bytes, e.g. an LMDB value
    /// reserved in place).
    func serialize(into destination: UnsafeMutableRawBufferPointer)
}

/// An index whose stored form is another index's: a wrapper that adds only state derived again when
/// it is opened (so the engine above never touches the raw destination buffer itself).
package protocol ForwardingSerializableIndex: SerializableIndex {
    var storedIndex: any SerializableIndex { get }
}

extension ForwardingSerializableIndex {
    package var byteCount: Int { storedIndex.byteCount }
    package func serialize(into destination: UnsafeMutableRawBufferPointer) { storedIndex.serialize(into: destination) }
}

extension HNSWIndex: SerializableIndex {}
extension IVFIndex: SerializableIndex {}
