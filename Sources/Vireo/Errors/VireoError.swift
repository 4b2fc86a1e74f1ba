/// The one error type of Vireo's public API.
///
/// Shaped like NIO's and gRPC's errors: a stable ``code`` (extensible without breaking callers), a
/// ``kind`` that transports map to statuses (invalid input → 400 / `INVALID_ARGUMENT`, not found →
/// 404 / `NOT_FOUND`, …), a ``message`` that names the offending value and the fix, and an optional
/// ``cause``. Messages never contain vector data or payloads.
public struct VireoError: Error, Sendable, CustomStringConvertible {
    /// A stable, broad error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case collectionNotFound, collectionAlreadyExists, invalidSchema, invalidArgument
            case dimensionMismatch, invalidVector, unknownField, missingField, typeMismatch
            case duplicatePrimaryKey, primaryKeyExists, invalidSearch, invalidFilter
            case storageFull, corrupted, storageFailure, closed
            case partitionNotFound, partitionAlreadyExists
            case collectionUnavailable
            case deadlineExceeded, cancelled, overloaded, readOnly, resultTooLarge, diskFull
            case databaseNotFound, databaseAlreadyExists, databaseNotEmpty
            case aliasNotFound, aliasAlreadyExists, aliasConflict, collectionHasAliases
        }
        private let value: Value
        private init(_ v: Value) { value = v }

        /// No collection with that name.
        public static let collectionNotFound = Code(.collectionNotFound)
        /// A collection with that name exists.
        public static let collectionAlreadyExists = Code(.collectionAlreadyExists)
        /// No database with that name.
        public static let databaseNotFound = Code(.databaseNotFound)
        /// A database with that name exists.
        public static let databaseAlreadyExists = Code(.databaseAlreadyExists)
        /// The database still holds collections (drop them first), or is `default`.
        public static let databaseNotEmpty = Code(.databaseNotEmpty)
        /// No alias with that name in the database.
        public static let aliasNotFound = Code(.aliasNotFound)
        /// The alias exists (and names another collection).
        public static let aliasAlreadyExists = Code(.aliasAlreadyExists)
        /// An alias and a collection would share a name, or an alias was used where only a
        /// collection's own name is accepted (drop, rename, the target of an alias).
        public static let aliasConflict = Code(.aliasConflict)
        /// The collection has aliases; drop or move them before dropping it.
        public static let collectionHasAliases = Code(.collectionHasAliases)
        /// The schema is invalid (names, types, dimensions, primary key).
        public static let invalidSchema = Code(.invalidSchema)
        /// A parameter is out of range or malformed.
        public static let invalidArgument = Code(.invalidArgument)
        /// A vector has the wrong number of dimensions.
        public static let dimensionMismatch = Code(.dimensionMismatch)
        /// A vector contains NaN or infinity, or is zero for COSINE.
        public static let invalidVector = Code(.invalidVector)
        /// A row or request names a field the schema does not have.
        public static let unknownField = Code(.unknownField)
        /// A row lacks a required field.
        public static let missingField = Code(.missingField)
        /// A value has the wrong type for its field.
        public static let typeMismatch = Code(.typeMismatch)
        /// The same primary key appears twice in one request.
        public static let duplicatePrimaryKey = Code(.duplicatePrimaryKey)
        /// `insert` of a primary key that is already stored.
        public static let primaryKeyExists = Code(.primaryKeyExists)
        /// A search request is malformed (top-k, field, metric).
        public static let invalidSearch = Code(.invalidSearch)
        /// A filter expression is malformed or ill-typed.
        public static let invalidFilter = Code(.invalidFilter)
        /// The collection exists but could not be opened (a corrupt or unreadable file); the message
        /// says why. Other collections are not affected; `vireo check` tells more.
        public static let collectionUnavailable = Code(.collectionUnavailable)
        /// No partition with that name in the collection.
        public static let partitionNotFound = Code(.partitionNotFound)
        /// A partition with that name exists.
        public static let partitionAlreadyExists = Code(.partitionAlreadyExists)
        /// A shard's storage map reached its ceiling (``Configuration/mapSize``).
        public static let storageFull = Code(.storageFull)
        /// The disk holding the data directory is full: writes that add data are refused until space
        /// is freed; reads, deletes and drops work (``Database/storageStatus``).
        public static let diskFull = Code(.diskFull)
        /// Stored data failed an integrity check.
        public static let corrupted = Code(.corrupted)
        /// An I/O or LMDB failure.
        public static let storageFailure = Code(.storageFailure)
        /// The database or collection was closed or dropped.
        public static let closed = Code(.closed)
        /// The request's deadline passed; its work stopped (``SearchRequest/deadline``).
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The calling task was cancelled (a client that went away); its work stopped.
        public static let cancelled = Code(.cancelled)
        /// Too many searches and queries are queued already; retry later (load shedding).
        public static let overloaded = Code(.overloaded)
        /// A write to a database opened read-only (``Configuration/readOnly``).
        public static let readOnly = Code(.readOnly)
        /// A result would pass the request's byte bound (``SearchRequest/maxResultBytes``).
        public static let resultTooLarge = Code(.resultTooLarge)

        public var description: String { value.rawValue }
    }

    /// How a caller (or a transport) should treat the error.
    public enum Kind: String, Sendable {
        case invalidInput, notFound, conflict, unavailable, `internal`
    }

    public let code: Code
    public let kind: Kind
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, kind: Kind, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.kind = kind
        self.message = message
        self.cause = cause
    }

    /// Whether retrying the same request later may succeed.
    public var isRetryable: Bool { kind == .unavailable }

    public var description: String {
        if let cause { return "\(code): \(message) (cause: \(cause))" }
        return "\(code): \(message)"
    }

    // MARK: Constructors used across the engine

    static func invalid(_ code: Code, _ message: String) -> VireoError {
        VireoError(code, kind: .invalidInput, message)
    }

    static let readOnlyDatabase = VireoError(.readOnly, kind: .invalidInput, "this database was opened read-only (Configuration.readOnly); open it without readOnly to write")

    static func resultTooLarge(_ limit: Int, _ what: String) -> VireoError {
        VireoError(.resultTooLarge, kind: .invalidInput, "the \(what) result would hold more than \(limit >> 20) MiB; ask for fewer rows or output fields, or page through it (offset/limit, or a primary-key cursor)")
    }

    static func collectionUnavailable(_ name: String, reason: String) -> VireoError {
        VireoError(.collectionUnavailable, kind: .unavailable,
                   "collection '\(name)' is unavailable: it failed to open (\(reason)); the other collections serve. Run `vireo check` on the data directory, restore the collection from a backup, or drop it")
    }

    static func collectionNotFound(_ name: String) -> VireoError {
        VireoError(.collectionNotFound, kind: .notFound, "collection not found[collection=\(name)]: can't find collection '\(name)'; create it first or check the name (list collections to see what exists)")
    }

    static func databaseNotFound(_ name: String) -> VireoError {
        VireoError(.databaseNotFound, kind: .notFound, "database not found[database=\(name)]: create it first or check the name (list databases to see what exists)")
    }

    static func aliasNotFound(_ alias: String, database: String) -> VireoError {
        VireoError(.aliasNotFound, kind: .notFound, "alias not found[database=\(database)][alias=\(alias)]: create it first (list aliases to see what exists)")
    }

    /// Wraps a storage-layer failure with what was being done.
    static func storage(_ error: any Error, _ doing: String) -> VireoError {
        if let v = error as? VireoError { return v }
        if let s = error as? any StorageErrorBridge { return s.vireoError(doing) }
        return VireoError(.storageFailure, kind: .internal, "\(doing): \(error)", cause: error)
    }
}

/// Lets storage errors become `VireoError`s without `Vireo`'s public API naming storage types.
protocol StorageErrorBridge {
    func vireoError(_ doing: String) -> VireoError
}
