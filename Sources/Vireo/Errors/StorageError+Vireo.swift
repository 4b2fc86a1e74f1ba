import VireoStorage

extension StorageError: StorageErrorBridge {
    func vireoError(_ doing: String) -> VireoError {
        switch self {
        case let .lmdb(code, _) where code == .mapFull:
            return VireoError(.storageFull, kind: .unavailable,
                              "\(doing): the storage map reached its ceiling (\(description)); reopen the database with a larger ceiling, Configuration.mapSize (CLI: --map-size-gib). Nothing from this request was written",
                              cause: self)
        case _ where isNoSpace:
            return VireoError(.diskFull, kind: .unavailable,
                              "\(doing): \(description). Nothing from this request was written", cause: self)
        case .corrupted:
            return VireoError(.corrupted, kind: .internal, "\(doing): \(description)", cause: self)
        case .alreadyOpen, .lockedByAnotherProcess:
            return VireoError(.storageFailure, kind: .conflict, "\(doing): \(description)", cause: self)
        default:
            return VireoError(.storageFailure, kind: .internal, "\(doing): \(description)", cause: self)
        }
    }
}
