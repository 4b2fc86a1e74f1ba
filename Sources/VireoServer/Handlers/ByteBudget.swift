import Synchronization

/// A shared count of bytes against a limit: request bodies being read (REST) and incomplete request
/// messages (gRPC: per connection, inside a server-wide parent).
///
/// With a `parent`, bytes are taken from both (this budget first), and given back to both: a child
/// bounds one connection, the parent the whole server.
final class ByteBudget: Sendable {
    let limit: Int
    let parent: ByteBudget?
    private let used = Atomic<Int>(0)

    init(limit: Int, parent: ByteBudget? = nil) {
        self.limit = limit
        self.parent = parent
    }

    /// Takes `n` bytes if they fit here and in every parent.
    func acquire(_ n: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + n <= limit else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + n, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
        if let parent, !parent.acquire(n) {
            used.wrappingSubtract(n, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ n: Int) {
        guard n > 0 else { return }
        used.wrappingSubtract(n, ordering: .relaxed)
        parent?.release(n)
    }

    var inUse: Int { used.load(ordering: .relaxed) }
}
