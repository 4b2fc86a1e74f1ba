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
final class LoadStates: Sendable {
    private struct State {
        var loaded = true
        var releasedPartitions: Set<String> = []
    }
    private let states = Mutex<[String: State]>([:])

    func isLoaded(_ collection: String) -> Bool { states.withLock { $0[collection]?.loaded ?? true } }

    func set(_ collection: String, loaded: Bool) {
        states.withLock { s in
            var st = s[collection] ?? State()
            st.loaded = loaded
            if loaded { st.releasedPartitions = [] }
            s[collection] = st
        }
    }

    func releasedPartitions(_ collection: String) -> Set<String> {
        states.withLock { $0[collection]?.releasedPartitions ?? [] }
    }

    func setPartitions(_ collection: String, _ partitions: [String], loaded: Bool) {
        states.withLock { s in
            var st = s[collection] ?? State()
            if loaded {
                st.releasedPartitions.subtract(partitions)
                st.loaded = true
            } else {
                st.releasedPartitions.formUnion(partitions)
            }
            s[collection] = st
        }
    }

    func forget(_ collection: String) { states.withLock { _ = $0.removeValue(forKey: collection) } }

    func rename(_ from: String, to: String) {
        states.withLock { s in
            if let st = s.removeValue(forKey: from) { s[to] = st }
        }
    }
}

/// Index names per collection and field (Milvus names indexes; the engine keys them by field).
///
/// Stored in `<data>/server/index-names.json` (written atomically: temporary file + rename) so
/// names survive restarts; a field without an entry has an index named after the field, Milvus'
/// default.
final class IndexNames: Sendable {
    private let file: String?
    private let names: Mutex<[String: [String: String]]>

    init(directory: String?) {
        if let directory {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            file = directory + "/index-names.json"
        } else {
            file = nil
        }
        let loaded = file.flatMap { FileManager.default.contents(atPath: $0) }
            .flatMap { try? JSONDecoder().decode([String: [String: String]].self, from: $0) } ?? [:]
        names = Mutex(loaded)
    }

    func name(collection: String, field: String) -> String {
        names.withLock { $0[collection]?[field] } ?? field
    }

    func field(collection: String, indexName: String, among fields: [String]) -> String? {
        fields.first { name(collection: collection, field: $0) == indexName }
    }

    func set(collection: String, field: String, name: String?) {
        update { n in
            if let name, name != field { n[collection, default: [:]][field] = name } else { n[collection]?[field] = nil }
        }
    }

    func forget(collection: String) { update { $0[collection] = nil } }

    func rename(collection: String, to newName: String) {
        update { n in n[newName] = n.removeValue(forKey: collection) }
    }

    private func update(_ change: (inout [String: [String: String]]) -> Void) {
        names.withLock { n in
            change(&n)
            n = n.filter { !$0.value.isEmpty }
            guard let file, let data = try? JSONEncoder().encode(n) else { return }
            try? data.write(to: URL(fileURLWithPath: file), options: .atomic)
        }
    }
}
