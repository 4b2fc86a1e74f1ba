import Vireo

/// Milvus' error codes (its `merr` package) that Vireo's API returns. A client sees these in the
/// `code` of the REST envelope and in the gRPC `Status`.
public struct MilvusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let success = MilvusCode(rawValue: 0)
    /// Milvus' `ErrServiceRateLimit`: pymilvus retries it with back-off.
    public static let serviceRateLimit = MilvusCode(rawValue: 8)
    /// Milvus' `ErrServiceQuotaExceeded` ("quota exceeded", pymilvus' force deny: not retried),
    /// which Milvus returns when its disk quota is exhausted; Vireo returns it on a full disk.
    public static let quotaExceeded = MilvusCode(rawValue: 9)
    /// Milvus' `ErrServiceUnimplemented`: a feature Vireo refuses (Milvus' RBAC and resource-group writes).
    public static let serviceUnimplemented = MilvusCode(rawValue: 10)
    public static let collectionNotFound = MilvusCode(rawValue: 100)
    public static let collectionNotLoaded = MilvusCode(rawValue: 101)
    public static let partitionNotFound = MilvusCode(rawValue: 200)
    public static let partitionNotLoaded = MilvusCode(rawValue: 201)
    /// Milvus' `ErrResourceGroupNotFound`.
    public static let resourceGroupNotFound = MilvusCode(rawValue: 300)
    public static let indexNotFound = MilvusCode(rawValue: 700)
    public static let databaseNotFound = MilvusCode(rawValue: 800)
    public static let aliasNotFound = MilvusCode(rawValue: 1600)
    public static let aliasCollectionNameConflict = MilvusCode(rawValue: 1601)
    public static let aliasAlreadyExists = MilvusCode(rawValue: 1602)
    public static let invalidParameter = MilvusCode(rawValue: 1100)
    public static let unauthenticated = MilvusCode(rawValue: 1800)
    public static let invalidJSON = MilvusCode(rawValue: 1801)
    public static let missingParameter = MilvusCode(rawValue: 1802)
    public static let invalidInsertData = MilvusCode(rawValue: 1804)
    public static let invalidPrimaryKey = MilvusCode(rawValue: 1806)
    public static let rateLimited = MilvusCode(rawValue: 1807)
    public static let unexpected = MilvusCode(rawValue: 65535)

    public var description: String { String(rawValue) }
}

/// An error as the API reports it: a Milvus code, an HTTP status (200 for every API error, as
/// Milvus does, except 401 for authentication and 413 for a body over the limit), the message, and
/// the engine's error kind (what the gRPC adapter maps to a status code).
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var code: MilvusCode
    public var httpStatus: Int
    public var message: String
    public var kind: VireoError.Kind
    /// The code the REST API reports instead of `code`, where Milvus' two APIs differ (a search's
    /// limit or offset out of range: 1100 over REST, 65535 over gRPC).
    public var restCode: MilvusCode?

    public init(_ code: MilvusCode, _ message: String, httpStatus: Int = 200, kind: VireoError.Kind = .invalidInput) {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.kind = kind
    }

    public var description: String { "[\(code)] \(message)" }

    // Errors raised by the server layer itself (not the engine).
    static func missing(_ parameter: String, _ hint: String = "") -> APIError {
        APIError(.missingParameter, "missing required parameter '\(parameter)'\(hint.isEmpty ? "" : "; \(hint)")")
    }
    static func invalid(_ message: String) -> APIError { APIError(.invalidParameter, message) }
    /// A limit or offset out of range: Milvus reports these with code 65535 (its proxy returns a
    /// plain error, not a parameter error), so clients matching on the code see the same.
    static func outOfRange(_ message: String) -> APIError { APIError(.unexpected, message) }
    /// A search's topk or offset out of range: 65535 over gRPC (Milvus' proxy), 1100 over REST
    /// (Milvus' REST v2 handler checks them first).
    static func searchWindow(_ message: String) -> APIError {
        var e = APIError(.unexpected, message)
        e.restCode = .invalidParameter
        return e
    }
    static func wrongType(_ parameter: String, expected: String, got: JSONValue) -> APIError {
        APIError(.invalidJSON, "parameter '\(parameter)' must be \(expected), got \(got.kindName)")
    }
    static func collectionNotLoaded(_ name: String) -> APIError {
        APIError(.collectionNotLoaded, "collection not loaded[collection=\(name)]: load it first (POST /v2/vectordb/collections/load)", kind: .unavailable)
    }
    static func databaseNotFound(_ name: String) -> APIError {
        APIError(.databaseNotFound, "database not found[database=\(name)]: create it first (databases/create) or check the name (databases/list)", kind: .notFound)
    }
    /// Milvus' users, roles and privileges (RBAC) are not served: a Vireo server's access is its
    /// configured credentials, each granting the whole API. Code 10 ("service unimplemented") in the
    /// status, not gRPC UNIMPLEMENTED, which Milvus' Node SDK turns into an empty success.
    static func noRBAC(_ method: String) -> APIError {
        APIError(.serviceUnimplemented, """
            service unimplemented: \(method) needs Milvus' users and roles (RBAC), which Vireo does not have; \
            access is controlled by the credentials of `vireo serve --token` / `--tokens-file`, each granting the whole API
            """)
    }
    static let unauthenticated = APIError(.unauthenticated, "user hasn't authenticated", httpStatus: 401, kind: .invalidInput)
}

/// What an operation was doing when the engine failed; some engine errors map to different Milvus
/// codes depending on it (a wrong dimension is 1804 on insert and 1100 on search, as in Milvus).
public enum OperationKind: Sendable {
    /// insert / upsert
    case write
    /// get / delete by primary key
    case byPrimaryKey
    /// everything else
    case other
}

/// The one table that maps engine errors to API errors. REST and gRPC both report through it.
public enum ErrorTable {
    private struct Entry {
        var code: MilvusCode
        /// Code used instead during insert/upsert.
        var onWrite: MilvusCode?
        /// Code used instead for get/delete by primary key.
        var onPrimaryKey: MilvusCode?
    }

    private static let table: [VireoError.Code: Entry] = [
        .collectionNotFound: Entry(code: .collectionNotFound),
        .collectionUnavailable: Entry(code: .collectionNotLoaded),
        .partitionNotFound: Entry(code: .partitionNotFound),
        .partitionAlreadyExists: Entry(code: .invalidParameter),
        .collectionAlreadyExists: Entry(code: .invalidParameter),
        .invalidSchema: Entry(code: .invalidParameter),
        .invalidArgument: Entry(code: .invalidParameter),
        .invalidSearch: Entry(code: .invalidParameter),
        .invalidFilter: Entry(code: .invalidParameter),
        .dimensionMismatch: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .invalidVector: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .unknownField: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .missingField: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .typeMismatch: Entry(code: .invalidParameter, onWrite: .invalidInsertData, onPrimaryKey: .invalidPrimaryKey),
        .duplicatePrimaryKey: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .primaryKeyExists: Entry(code: .invalidParameter, onWrite: .invalidInsertData),
        .storageFull: Entry(code: .unexpected),
        .corrupted: Entry(code: .unexpected),
        .storageFailure: Entry(code: .unexpected),
        .closed: Entry(code: .unexpected),
        .databaseNotFound: Entry(code: .databaseNotFound),
        .databaseAlreadyExists: Entry(code: .invalidParameter),
        .databaseNotEmpty: Entry(code: .invalidParameter),
        .aliasNotFound: Entry(code: .aliasNotFound),
        .aliasConflict: Entry(code: .aliasCollectionNameConflict),
        .aliasAlreadyExists: Entry(code: .aliasAlreadyExists),
        .collectionHasAliases: Entry(code: .invalidParameter),
    ]

    /// The API error for any error a handler throws.
    public static func apiError(_ error: any Error, during operation: OperationKind = .other) -> APIError {
        if let e = error as? APIError { return e }
        guard let v = error as? VireoError else {
            return APIError(.unexpected, "unexpected error: \(error)", kind: .internal)
        }
        if v.code == .diskFull {
            // A full disk: 507 Insufficient Storage over REST, Milvus' quota-exceeded code (legacy
            // error code DiskQuotaExhausted) over gRPC. Reads, deletes and drops still work.
            return APIError(.quotaExceeded, "disk quota exceeded: \(v.message)", httpStatus: 507, kind: .unavailable)
        }
        if v.code == .overloaded {
            // Load shedding: 503 with Retry-After over REST, code 8 (retried by pymilvus) over gRPC.
            return APIError(.serviceRateLimit, v.message, httpStatus: 503, kind: .unavailable)
        }
        let entry = table[v.code]
        var code: MilvusCode
        if let entry {
            switch operation {
            case .write: code = entry.onWrite ?? entry.code
            case .byPrimaryKey: code = entry.onPrimaryKey ?? entry.code
            case .other: code = entry.code
            }
        } else {
            // Codes added to the engine after this table: decide by kind.
            switch v.kind {
            case .invalidInput, .conflict: code = .invalidParameter
            case .notFound: code = .invalidParameter
            case .unavailable, .internal: code = .unexpected
            }
        }
        // Milvus' proxy reports every filter it cannot plan under this prefix; clients match on it.
        let message = v.code == .invalidFilter ? "failed to create query plan: cannot parse expression: \(v.message)" : v.message
        return APIError(code, message, kind: v.kind)
    }
}

extension JSONValue {
    /// The JSON kind, for messages ("a string", "an array", …).
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
