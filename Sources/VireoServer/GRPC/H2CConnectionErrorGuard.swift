import NIOCore
import NIOHTTP2

/// Closes an HTTP/2 connection after swift-nio-http2 has declared a connection error, once the
/// streams the server knows about have ended.
///
/// ## Why
/// On a connection error `NIOHTTP2Handler` writes GOAWAY with the error code, fires the error down
/// the pipeline and stops decoding the bytes it has buffered; decoding resumes only when the next
/// bytes arrive, and the connection stays open. RFC 9113 §5.4.1 requires the endpoint to close it,
/// and swift-nio-http2 leaves that to its user. Left open, streams that the client opened behind the
/// offending frame are never seen by the server and never answered: the client waits for its
/// deadline.
///
/// swift-nio-http2 1.46 raises such an error in a race every graceful GOAWAY can hit (shutdown,
/// `maxAge`, `maxIdleTime`): once the server has sent GOAWAY, HEADERS opening a new stream are
/// refused (RST_STREAM REFUSED_STREAM) but the stream is not remembered as reset, so the DATA frame
/// that follows it is a "no such stream" connection error (apple/swift-nio-http2 #466 and #481).
/// gRPC clients always send HEADERS then DATA, so a client that opens a stream while the GOAWAY is
/// on the wire trips it, and the streams it opened after that one hang.
///
/// ## What it does
/// It is the HTTP/2 handler's frame delegate (it sees every frame written, including the error
/// GOAWAY) and its stream delegate (it counts open streams and forwards the events to the connection
/// manager, which needs them). After an error GOAWAY it closes the connection when no stream is
/// open, or `grace` later at the latest. Responses to streams already running are still written;
/// clients see the unanswered streams fail with UNAVAILABLE and may retry them elsewhere.
///
/// What would make us drop it: a swift-nio-http2 release that ignores frames of streams it refused
/// while quiescing, or closes connections on connection errors itself.
final class H2CConnectionErrorGuard: NIOHTTP2FrameDelegate, NIOHTTP2StreamDelegate, Sendable {
    private struct State {
        var openStreams = 0
        var failed = false
        var forcedClose: Scheduled<Void>?
    }

    private let channel: any Channel
    private let manager: NIOHTTP2ServerConnectionManagementHandler.HTTP2StreamDelegate
    private let grace: TimeAmount
    private let state: NIOLoopBoundBox<State>

    /// Made on the channel's event loop; every callback arrives there too.
    init(channel: any Channel, manager: NIOHTTP2ServerConnectionManagementHandler.HTTP2StreamDelegate, grace: TimeAmount) {
        self.channel = channel
        self.manager = manager
        self.grace = grace
        self.state = NIOLoopBoundBox(State(), eventLoop: channel.eventLoop)
    }

    func wroteFrame(_ frame: HTTP2Frame) {
        guard case let .goAway(_, errorCode, _) = frame.payload, errorCode != .noError, !state.value.failed else { return }
        state.value.failed = true
        if state.value.openStreams == 0 {
            closeSoon()
        } else {
            let channel = channel
            state.value.forcedClose = channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
        }
    }

    func streamCreated(_ id: HTTP2StreamID, channel: any Channel) {
        manager.streamCreated(id, channel: channel)
        state.value.openStreams += 1
    }

    func streamClosed(_ id: HTTP2StreamID, channel: any Channel) {
        manager.streamClosed(id, channel: channel)
        state.value.openStreams -= 1
        if state.value.failed, state.value.openStreams == 0 {
            state.value.forcedClose?.cancel()
            closeSoon()
        }
    }

    /// Closes on the next turn of the event loop: the callbacks run inside the HTTP/2 handler's
    /// write path, and the GOAWAY it is writing is flushed by then.
    private func closeSoon() {
        let channel = channel
        channel.eventLoop.execute {
            channel.flush()
            channel.close(promise: nil)
        }
    }
}
