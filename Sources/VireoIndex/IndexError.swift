/// A rejected index parameter: names the parameter, the value, and what is valid.
public struct IndexError: Error, Sendable, CustomStringConvertible {
    public let parameter: String
    public let message: String

    public init(parameter: String, message: String) {
        self.parameter = parameter
        self.message = message
    }

    public var description: String { message }

    static func outOfRange(_ name: String, _ value: Int, _ range: ClosedRange<Int>, _ meaning: String) -> IndexError {
        IndexError(parameter: name, message: "\(name) = \(value) is out of range; \(meaning) must be in \(range.lowerBound)...\(range.upperBound)")
    }
}
