import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on stderr for long steps (ingest, build, ground truth, sweeps). On a terminal it
/// redraws one line at most 10 times a second; otherwise it prints one line when a step ends.
public final class ProgressBar: Sendable {
    private struct State {
        var label = ""
        var total = 0
        var done = 0
        var started: UInt64 = 0
        var lastDraw: UInt64 = 0
    }

    private let state = Mutex(State())
    private let enabled: Bool
    private let isTerminal: Bool

    public init(enabled: Bool = true) {
        self.enabled = enabled
        #if canImport(Glibc)
        isTerminal = isatty(2) != 0
        #else
        isTerminal = false
        #endif
    }

    /// Starts a step of `total` units.
    public func start(_ label: String, total: Int) {
        state.withLock {
            $0 = State(label: label, total: max(total, 1), done: 0, started: DispatchTime.now().uptimeNanoseconds, lastDraw: 0)
        }
        draw(force: true)
    }

    /// Adds `units` done.
    public func advance(_ units: Int = 1) {
        state.withLock { $0.done = min($0.total, $0.done + units) }
        draw(force: false)
    }

    /// Sets the units done.
    public func set(_ done: Int) {
        state.withLock { $0.done = min($0.total, max($0.done, done)) }
        draw(force: false)
    }

    /// Ends the step, printing its duration.
    public func finish(_ note: String = "") {
        let line = state.withLock { s -> String in
            s.done = s.total
            return render(s, final: true) + (note.isEmpty ? "" : "  \(note)")
        }
        guard enabled else { return }
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + "\n").utf8))
    }

    /// A message on its own line.
    public func log(_ message: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + message + "\n").utf8))
    }

    private func draw(force: Bool) {
        guard enabled, isTerminal else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let line: String? = state.withLock { s in
            guard force || now - s.lastDraw > 100_000_000 else { return nil }
            s.lastDraw = now
            return render(s, final: false)
        }
        if let line { FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8)) }
    }

    private func render(_ s: State, final: Bool) -> String {
        let width = 30
        let frac = Double(s.done) / Double(s.total)
        let filled = Int((frac * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - s.started) / 1e9
        var text = String(format: "%@ [%@] %3.0f%% %d/%d %.1fs", s.label, bar, frac * 100, s.done, s.total, elapsed)
        if !final, frac > 0.02, frac < 1 { text += String(format: " (eta %.0fs)", elapsed / frac - elapsed) }
        return text
    }
}
