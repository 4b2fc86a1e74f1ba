import Dispatch
import Foundation
import Synchronization

/// When foreground work (a write or a read of any collection) last started, process-wide: background
/// work such as compaction yields to it.
enum ForegroundActivity {
    private static let last = Atomic<UInt64>(0)

    /// Records that a foreground request is running now.
    @inline(__always)
    static func mark() { last.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }

    /// Whether a foreground request started within `window` nanoseconds of `now`.
    static func recent(now: UInt64, window: UInt64) -> Bool {
        let t = last.load(ordering: .relaxed)
        return t != 0 && now &- t < window
    }
}

/// Paces a compaction's index build: while foreground requests run, the build works at most
/// `dutyCycle` of the time (it sleeps `ran × (1 − d) / d` after each slice of a few milliseconds);
/// when the machine is otherwise idle it runs flat out.
///
/// Why: on a small machine, a background build raises the tail latency of foreground work even at the
/// lowest CPU priority (measured: inserts' p99 goes from 3 to 6 ms with the build at nice 10, at
/// `SCHED_IDLE`, or with an unrelated nice-19 memory-bound process). What shares badly is memory
/// bandwidth and caches, which no scheduler class divides; only running less while others run does.
final class CompactionPacer: Sendable {
    let dutyCycle: Double
    private let sliceStart = Mutex<UInt64>(DispatchTime.now().uptimeNanoseconds)
    /// Requests this recent count as foreground activity.
    static let window: UInt64 = 200_000_000

    init(dutyCycle: Double) { self.dutyCycle = min(1, max(0.01, dutyCycle)) }

    /// Called between slices of the build.
    func pace() {
        guard dutyCycle < 1 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let ran = sliceStart.withLock { start -> UInt64 in
            defer { start = now }
            return now &- start
        }
        guard ForegroundActivity.recent(now: now, window: CompactionPacer.window) else { return }
        let pause = min(Double(ran) * (1 - dutyCycle) / dutyCycle, 500_000_000)
        if pause > 0 { usleep(UInt32(pause / 1000)) }
        sliceStart.withLock { $0 = DispatchTime.now().uptimeNanoseconds }
    }
}
