/// An error from the full-text layer: what went wrong and how to fix it, with the Milvus error class
/// the caller maps it to.
///
/// The integration layer (collections, gRPC, REST) turns ``Kind/invalidParameter`` into Milvus'
/// `ParameterInvalid` (code 1100, what Milvus returns for a bad `analyzer_params`, sparse row or
/// search parameter) and ``Kind/corrupted`` into a data-corruption error; the message is written for
/// the user and names the offending value.
public struct TextError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A client mistake: analyzer parameters, a sparse vector, a search parameter.
        case invalidParameter
        /// A stored blob (index or statistics) failed its checks: never served as a wrong answer.
        case corrupted
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static func invalid(_ message: String) -> TextError { TextError(.invalidParameter, message) }
    static func corrupted(_ message: String) -> TextError { TextError(.corrupted, message) }

    public var description: String { message }
}
