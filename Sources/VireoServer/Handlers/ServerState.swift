import Foundation
import Synchronization
import Vireo

/// Milvus' load states.
public enum LoadState: String, Sendable {
    case loaded = "LoadStateLoaded"
    case notLoaded = "LoadStateNotLoad"
    case loading = "LoadStateLoading"
}

/// Which collections (and partitions) are loaded, as Milvus clients see it.
///
/// Vireo has no load phase: sealed segments are used in place from the memory map, so "loading" is
/// only a flag that gates search and query the way Milvus does (code 101 on a released collection).
/// The flags live here, in the server, and are **not persisted**: a restarted server treats every
/// collection as loaded (Milvus reloads what was loaded before a restart; a collection released
/// before a restart comes back loaded here — the one observable difference).
///
/// States are keyed by the collection's catalog id: unique across databases, kept by a rename, and
/// never reused, so a collection re-created under a dropped one's name starts loaded.
final class LoadStates: Sendable {
    private struct State {
        var loaded = true
        var releasedPartitions: Set<String> = []
    }
    private let states = Mutex<[UInt64: State]>([:])

    func isLoaded(_ c: Collection) -> Bool { states.withLock { $0[c.id]?.loaded ?? true } }

    func set(_ c: Collection, loaded: Bool) {
        states.withLock { s in
            var st = s[c.id] ?? State()
            st.loaded = loaded
            if loaded { st.releasedPartitions = [] }
            s[c.id] = st
        }
    }

    func releasedPartitions(_ c: Collection) -> Set<String> {
        states.withLock { $0[c.id]?.releasedPartitions ?? [] }
    }

    func setPartitions(_ c: Collection, _ partitions: [String], loaded: Bool) {
        states.withLock { s in
            var st = s[c.id] ?? State()
            if loaded {
                st.releasedPartitions.subtract(partitions)
                st.loaded = true
            } else {
                st.releasedPartitions.formUnion(partitions)
            }
            s[c.id] = st
        }
    }

    func forget(_ c: Collection) { states.withLock { _ = $0.removeValue(forKey: c.id) } }
}

/// Index names as servers before 0.3 kept them: `<data>/server/index-names.json`, beside the
/// catalog. They now live in each index's catalog record (``IndexSpec/name``); a file found at
/// start is moved into the catalog once and removed (a name whose index is gone is dropped).
enum LegacyIndexNames {
    static func migrate(directory: String, into database: Database) {
        let file = directory + "/index-names.json"
        guard let data = FileManager.default.contents(atPath: file),
              let names = try? JSONDecoder().decode([String: [String: String]].self, from: data) else { return }
        for (collection, fields) in names {
            guard let c = try? database.collection(collection) else { continue }
            for (field, name) in fields where c.indexes.contains(where: { $0.field == field && $0.name == nil }) {
                // A clash with another index's name leaves the field's default name.
                try? c.renameIndex(field: field, to: name)
            }
        }
        try? FileManager.default.removeItem(atPath: file)
    }
}
