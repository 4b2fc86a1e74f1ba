import Synchronization

/// A shared count of bytes against a limit: request bodies being read (REST) and incomplete request
/// messages (gRPC streams), each across the whole server.
final class ByteBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Takes `n` bytes if they fit.
    func acquire(_ n: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + n <= limit else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + n, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ n: Int) { if n > 0 { used.wrappingSubtract(n, ordering: .relaxed) } }

    var inUse: Int { used.load(ordering: .relaxed) }
}
