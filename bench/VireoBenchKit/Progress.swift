import Dispatch
import Foundation
import Synchronization
import Vireo

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

/// CPU use of other processes, as `bench_peers.py` measures it, so Vireo runs start on a machine as
/// quiet as the peers' runs do.
public enum MachineLoad {
    private static func snapshot() -> (time: Double, busy: Double, own: Double)? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let own = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 7 else { return nil }
        let busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v.count > 7 ? v[7] : 0)
        let w = own.split(separator: ")").last?.split(separator: " ") ?? []
        let mine = w.count > 12 ? (Double(w[11]) ?? 0) + (Double(w[12]) ?? 0) : 0
        return (Double(DispatchTime.now().uptimeNanoseconds) / 1e9, busy, mine)
    }

    /// Percent of the machine's CPU capacity used by other processes over `seconds`.
    public static func othersPercent(over seconds: Double = 2) -> Double? {
        guard let a = snapshot() else { return nil }
        Thread.sleep(forTimeInterval: seconds)
        guard let b = snapshot() else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK))), cores = Double(System.coreCount)
        return max(0, 100 * ((b.busy - a.busy) - (b.own - a.own)) / ((b.time - a.time) * ticks * cores))
    }

    /// Waits until other processes use at most `maxPercent` of the machine, or `maxWait` seconds
    /// passed (bench_peers.py's `wait_quiet`); returns the last reading.
    public static func waitQuiet(maxPercent: Double = 10, maxWait: Double = 120) -> Double? {
        let start = Date()
        while true {
            let p = othersPercent()
            if p == nil || p! <= maxPercent || Date().timeIntervalSince(start) > maxWait { return p }
        }
    }
}
