import Foundation
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// What the request headers of one HTTP/2 stream asked for.
enum H2CRequestHead: Sendable {
    /// A gRPC call: the method from `:path` and the metadata from the other headers.
    case rpc(MethodDescriptor, Metadata)
    /// Not a call this server takes (wrong method, content type, path, encoding or metadata); the handler
    /// already wrote the answer.
    case rejected
}

/// How one HTTP/2 stream ended, seen from the response side.
enum H2CStreamEnd: Sendable, Equatable {
    /// The final HEADERS frame (trailers, or a trailers-only answer) was written to the connection.
    case responseWritten
    /// The stream closed before that: the client reset it (RST_STREAM), the connection went away, or
    /// writing failed. The RPC is cancelled.
    case reset
}

/// gRPC over one HTTP/2 stream, on the stream's event loop: the half of ``H2CServerTransport`` that
/// turns frames into request parts and response parts into frames. Everything here is synchronous
/// and unlocked; the async side (``H2CServerTransport``) sees parsed messages through a
/// `NIOAsyncChannel` placed after this handler, and response parts it writes come through here.
///
/// Inbound (`HTTP2Frame.FramePayload` → message bytes):
/// - The first HEADERS frame is checked and parsed once, and the result completes ``head``
///   (see ``H2CRequestHead``). `:method` must be `POST` (else HTTP 405), `content-type` must be
///   `application/grpc` or `application/grpc+…`/`;…` (else HTTP 415); `:path` must be
///   `/package.Service/Method` (else `UNIMPLEMENTED`); `grpc-encoding`, if sent, must be `identity`
///   (else `UNIMPLEMENTED`, with `grpc-accept-encoding: identity`). The other headers become
///   metadata: pseudo-headers and transport headers (`content-type`, `te`, `grpc-encoding`,
///   `grpc-accept-encoding`, `content-length`) are dropped, `-bin` values are base64-decoded (padded
///   or not; bad base64 is `INVALID_ARGUMENT`). `grpc-timeout` stays in the metadata: GRPCCore reads
///   it and cancels the RPC when it passes.
/// - DATA frames are cut into gRPC messages (1 flag byte, 4 length bytes big-endian, payload). A
///   message with the compressed flag set is `INTERNAL` (no encoding was negotiated; this server
///   implements none); one whose declared length passes ``maxMessageBytes`` is `RESOURCE_EXHAUSTED`,
///   decided from the 5-byte prefix, before its payload is buffered. A stream that ends inside a
///   message is `INTERNAL`. Errors travel as `RPCError`s thrown by the request message sequence,
///   so GRPCCore answers them as statuses; anything the client sends after an error is dropped.
/// - END_STREAM (on DATA or HEADERS) finishes the message sequence (`ChannelEvent.inputClosed`).
///
/// Outbound (`RPCResponsePart` → frames):
/// - `.metadata` → HEADERS `:status 200`, `content-type: application/grpc`,
///   `grpc-accept-encoding: identity` and the metadata (`-bin` keys base64-encoded).
/// - `.message` → one DATA frame with the 5-byte prefix (the HTTP/2 layer splits it by the peer's
///   frame size and flow-control window); headers go first if none were sent.
/// - `.status` → trailers (`grpc-status`, `grpc-message` percent-encoded, metadata) with END_STREAM,
///   or a trailers-only response if no headers were sent. Its write completing (after flow control
///   let everything before it out) completes ``end`` with `.responseWritten`; if the client had not
///   finished sending, a RST_STREAM(NO_ERROR) follows.
/// - The async writer finishing (`close(mode: .output)`) without a status writes an `INTERNAL` one,
///   so every stream ends with a status. ``deadlineExceeded()`` ends it with `DEADLINE_EXCEEDED`.
///
/// Backpressure: this handler never calls `read()` itself; the `NIOAsyncChannel` after it asks for
/// reads only while its buffer is below the high watermark, and the HTTP/2 layer sends
/// WINDOW_UPDATEs only as frames are read, so a slow handler slows the client down.
final class H2CStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = [UInt8]
    typealias OutboundIn = RPCResponsePart<[UInt8]>
    typealias OutboundOut = HTTP2Frame.FramePayload

    /// The largest request message payload accepted, in bytes.
    let maxMessageBytes: Int
    /// Completed by the first HEADERS frame (or failed if the stream closes before one).
    let head: EventLoopPromise<H2CRequestHead>
    /// Completed once, when the response's last frame is written or the stream closes first.
    let end: EventLoopPromise<H2CStreamEnd>

    private enum InboundState { case awaitingHeaders, messages, finished }
    private enum OutboundState { case idle, headersSent, done }
    private var inbound = InboundState.awaitingHeaders
    private var outbound = OutboundState.idle
    private var headReported = false
    private var endReported = false
    /// Whether the client ended its side of the stream (END_STREAM), whatever we did with its frames.
    private var clientEnded = false
    /// Bytes of a message not yet complete (nil when none are pending).
    private var pending: ByteBuffer? {
        didSet { charge() }
    }
    private var context: ChannelHandlerContext?
    /// The server-wide budget of incomplete-message bytes, and what this stream holds of it.
    private let budget: ByteBudget?
    private var charged = 0
    /// Set when the budget refused this stream's bytes (reported once, after the frame).
    private var overBudget = false

    init(maxMessageBytes: Int, eventLoop: any EventLoop, budget: ByteBudget? = nil) {
        self.budget = budget
        self.maxMessageBytes = maxMessageBytes
        self.head = eventLoop.makePromise(of: H2CRequestHead.self)
        self.end = eventLoop.makePromise(of: H2CStreamEnd.self)
    }

    /// The capacity of the incomplete-message buffer (tests: a declared length is not reserved).
    var pendingCapacityForTesting: Int { pending?.capacity ?? 0 }

    // MARK: Inbound

    /// Keeps this stream's share of the server-wide budget equal to its pending bytes; a growth the
    /// budget cannot take marks the stream over budget (its input is failed by the caller).
    private func charge() {
        guard let budget else { return }
        let now = pending?.readableBytes ?? 0
        if now > charged {
            if budget.acquire(now - charged) { charged = now } else { overBudget = true }
        } else if now < charged {
            budget.release(charged - now)
            charged = now
        }
    }

    private func releaseBudget() {
        budget?.release(charged)
        charged = 0
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        switch payload {
        case let .headers(h) where h.endStream: clientEnded = true
        case let .data(d) where d.endStream: clientEnded = true
        default: break
        }
        switch (payload, inbound) {
        case let (.headers(headers), .awaitingHeaders):
            receivedHead(headers.headers, endStream: headers.endStream, context: context)
        case let (.headers(trailers), .messages):
            // gRPC clients send no trailers; tolerate an empty HEADERS frame that only ends the stream.
            if trailers.endStream { endOfInput(context: context) }
        case let (.data(frame), .messages):
            if case var .byteBuffer(bytes) = frame.data {
                if pending == nil { pending = bytes } else { pending!.writeBuffer(&bytes) }
                if overBudget {
                    pending = nil
                    failInput(RPCError(code: .resourceExhausted, message: """
                        the server is receiving too many large request messages at once (over \(budget?.limit ?? 0) bytes \
                        buffered across streams); retry shortly, or send smaller messages
                        """), context: context)
                    return
                }
                deframe(context: context)
            }
            if frame.endStream, inbound == .messages { endOfInput(context: context) }
        default:
            // DATA before HEADERS cannot happen (the HTTP/2 layer rejects it); frames after an error or
            // after END_STREAM are dropped; RST_STREAM, WINDOW_UPDATE and PRIORITY need nothing here.
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The HTTP/2 layer may close the stream (both sides sent END_STREAM) before the write promise of
        // our trailers completes; once they were handed on, the response is complete.
        reportEnd(outbound == .done ? .responseWritten : .reset)
        if !headReported {
            headReported = true
            head.fail(ChannelError.ioOnClosedChannel)
        }
        pending = nil
        releaseBudget()
        context.fireChannelInactive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        releaseBudget()
        // Promises must not leak unfulfilled (the stream may be torn down without channelInactive).
        reportEnd(.reset)
        if !headReported {
            headReported = true
            head.fail(ChannelError.ioOnClosedChannel)
        }
    }

    private func receivedHead(_ headers: HPACKHeaders, endStream: Bool, context: ChannelHandlerContext) {
        headReported = true
        switch GRPCWire.parseRequestHead(headers) {
        case let .success((descriptor, metadata)):
            inbound = .messages
            head.succeed(.rpc(descriptor, metadata))
            if endStream { endOfInput(context: context) }
        case let .failure(rejection):
            inbound = .finished
            outbound = .done
            head.succeed(.rejected)
            writeFinal(GRPCWire.rejectionHeaders(rejection), context: context, promise: nil)
            context.flush()
        }
    }

    /// Cuts complete messages off `pending` and passes them on.
    private func deframe(context: ChannelHandlerContext) {
        while inbound == .messages, var buffer = pending, buffer.readableBytes >= 5 {
            let start = buffer.readerIndex
            guard let flags = buffer.getInteger(at: start, as: UInt8.self),
                  let declared = buffer.getInteger(at: start + 1, as: UInt32.self) else { return }
            let length = Int(declared)
            if flags & 0x01 != 0 {
                failInput(RPCError(code: .internalError, message: """
                    received a compressed message but no grpc-encoding was negotiated: this server accepts \
                    uncompressed messages only (grpc-accept-encoding: identity)
                    """), context: context)
                return
            }
            if length > maxMessageBytes {
                failInput(RPCError(code: .resourceExhausted, message: """
                    request message of \(length) bytes is larger than this server's limit of \(maxMessageBytes) \
                    bytes: send smaller batches, or raise the limit (vireo serve --max-body-mib)
                    """), context: context)
                return
            }
            guard buffer.readableBytes >= 5 + length else {
                // Wait for the rest. Room is made for at most 1 MiB more at a time: the declared
                // length is a claim, not bytes, and must not allocate before the bytes arrive.
                pending = nil  // drop this reference first so the reservation below does not copy
                buffer.reserveCapacity(minimumWritableBytes: min(5 + length - buffer.readableBytes, 1 << 20))
                pending = buffer
                return
            }
            buffer.moveReaderIndex(forwardBy: 5)
            let message = buffer.readBytes(length: length) ?? []
            pending = buffer.readableBytes == 0 ? nil : buffer
            context.fireChannelRead(wrapInboundOut(message))
        }
    }

    private func endOfInput(context: ChannelHandlerContext) {
        guard inbound == .messages else { return }
        if let pending, pending.readableBytes > 0 {
            failInput(RPCError(code: .internalError, message: """
                the request stream ended inside a message (\(pending.readableBytes) bytes of an incomplete \
                length-prefixed message)
                """), context: context)
            return
        }
        inbound = .finished
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// Ends the request messages with an error; GRPCCore turns it into the response status.
    private func failInput(_ error: RPCError, context: ChannelHandlerContext) {
        inbound = .finished
        pending = nil
        context.fireErrorCaught(error)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case let .metadata(metadata):
            guard outbound == .idle else {
                promise?.fail(RPCError(code: .internalError, message: "response headers were already sent"))
                return
            }
            outbound = .headersSent
            context.write(wrapOutboundOut(.headers(.init(headers: GRPCWire.responseHeaders(metadata)))), promise: promise)

        case let .message(bytes):
            if outbound == .idle {
                outbound = .headersSent
                context.write(wrapOutboundOut(.headers(.init(headers: GRPCWire.responseHeaders([:])))), promise: nil)
            }
            guard outbound == .headersSent else {
                promise?.fail(RPCError(code: .internalError, message: "the response already ended"))
                return
            }
            var buffer = context.channel.allocator.buffer(capacity: 5 + bytes.count)
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(UInt32(bytes.count))
            buffer.writeBytes(bytes)
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(buffer)))), promise: promise)

        case let .status(status, metadata):
            let headers: HPACKHeaders
            switch outbound {
            case .idle: headers = GRPCWire.trailersOnly(status, metadata)
            case .headersSent: headers = GRPCWire.trailers(status, metadata)
            case .done:
                promise?.fail(RPCError(code: .internalError, message: "the response already ended"))
                return
            }
            outbound = .done
            writeFinal(headers, context: context, promise: promise)
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        // The async writer finished. gRPC ends a response with its trailers, never with an empty
        // END_STREAM DATA frame, so half-closure is only a cue that the response is over.
        if outbound != .done {
            let status = Status(code: .internalError, message: "the server ended the call without a status")
            let headers = outbound == .idle ? GRPCWire.trailersOnly(status, [:]) : GRPCWire.trailers(status, [:])
            outbound = .done
            writeFinal(headers, context: context, promise: nil)
            context.flush()
        }
        promise?.succeed()
    }

    /// The RPC was cancelled while its stream is still open, which (with no service cancelling its own
    /// calls) means its `grpc-timeout` passed: answer `DEADLINE_EXCEEDED` now, as gRPC servers do,
    /// unless the response already ended. The handler's task is cancelled at the same time, so its
    /// own status may never come, or comes too late and is dropped.
    func deadlineExceeded() {
        guard let context, context.channel.isActive, outbound != .done else { return }
        let status = Status(code: .deadlineExceeded, message: "the call's deadline (grpc-timeout) passed before the server answered")
        let headers = outbound == .idle ? GRPCWire.trailersOnly(status, [:]) : GRPCWire.trailers(status, [:])
        outbound = .done
        writeFinal(headers, context: context, promise: nil)
        context.flush()
    }

    /// Writes the last HEADERS frame of the response (END_STREAM) and reports ``end`` when it is out.
    ///
    /// If the client is still sending (the response ended early: an error, a refusal), the stream is
    /// then reset with NO_ERROR, as HTTP/2 (RFC 9113 §8.1) and gRPC ask: the client keeps the status it
    /// received and stops sending. (Closing the stream channel instead would reset it with CANCEL,
    /// which clients report as CANCELLED.) The reset waits for the trailers to be written, since a
    /// RST_STREAM would overtake frames still held by flow control.
    private func writeFinal(_ headers: HPACKHeaders, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                self.reportEnd(.responseWritten)
                if !self.clientEnded, context.channel.isActive {
                    context.writeAndFlush(self.wrapOutboundOut(.rstStream(.noError)), promise: nil)
                }
            case .failure:
                self.reportEnd(.reset)
            }
        }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: written)
    }

    private func reportEnd(_ how: H2CStreamEnd) {
        guard !endReported else { return }
        endReported = true
        end.succeed(how)
    }
}

/// The gRPC-over-HTTP/2 header conventions ("PROTOCOL-HTTP2" in the gRPC repository): request
/// parsing, response headers and trailers, `grpc-message` percent-encoding and `-bin` base64.
enum GRPCWire {
    /// Why a request is refused before it reaches GRPCCore.
    enum Rejection: Error, Equatable {
        /// Not gRPC: answered with this HTTP status (and a gRPC status for gRPC-aware clients).
        case http(status: Int, code: Status.Code, message: String)
        /// gRPC, but not servable: a trailers-only response with this status.
        case grpc(code: Status.Code, message: String)
    }

    /// Request headers this transport consumes; they do not become metadata.
    static let transportHeaders: Set<String> = ["content-type", "te", "grpc-encoding", "grpc-accept-encoding", "content-length"]

    static func parseRequestHead(_ headers: HPACKHeaders) -> Result<(MethodDescriptor, Metadata), Rejection> {
        let method = headers.first(name: ":method") ?? ""
        guard method == "POST" else {
            return .failure(.http(status: 405, code: .unimplemented,
                                  message: "gRPC calls use POST, not \(method.isEmpty ? "no method" : method)"))
        }
        let contentType = headers.first(name: "content-type") ?? ""
        guard isGRPCContentType(contentType) else {
            return .failure(.http(status: 415, code: .internalError, message: """
                content-type must be application/grpc, not \(contentType.isEmpty ? "none" : contentType)
                """))
        }
        let path = headers.first(name: ":path") ?? ""
        guard let descriptor = methodDescriptor(path: path) else {
            return .failure(.grpc(code: .unimplemented, message: """
                :path must be /package.Service/Method, not \(path.isEmpty ? "empty" : path)
                """))
        }
        if let encoding = headers.first(name: "grpc-encoding"), encoding != "identity" {
            return .failure(.grpc(code: .unimplemented, message: """
                grpc-encoding \(encoding) is not supported: this server accepts identity only (send uncompressed)
                """))
        }
        var metadata = Metadata()
        metadata.reserveCapacity(headers.count)
        for (name, value, _) in headers {
            if name.hasPrefix(":") || transportHeaders.contains(name) { continue }
            if name.hasSuffix("-bin") {
                guard let bytes = decodeBase64(value) else {
                    return .failure(.grpc(code: .invalidArgument, message: "metadata \(name) is not valid base64"))
                }
                metadata.addBinary(bytes, forKey: name)
            } else {
                metadata.addString(value, forKey: name)
            }
        }
        return .success((descriptor, metadata))
    }

    static func isGRPCContentType(_ value: String) -> Bool {
        let lowered = value.lowercased()
        guard lowered.hasPrefix("application/grpc") else { return false }
        let rest = lowered.dropFirst("application/grpc".count)
        return rest.isEmpty || rest.hasPrefix("+") || rest.hasPrefix(";")
    }

    /// `/package.Service/Method` → descriptor; nil for anything else.
    static func methodDescriptor(path: String) -> MethodDescriptor? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
    }

    static func responseHeaders(_ metadata: Metadata) -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc", "grpc-accept-encoding": "identity"]
        append(metadata, to: &headers)
        return headers
    }

    static func trailers(_ status: Status, _ metadata: Metadata) -> HPACKHeaders {
        var headers = HPACKHeaders()
        appendStatus(status, to: &headers)
        append(metadata, to: &headers)
        return headers
    }

    static func trailersOnly(_ status: Status, _ metadata: Metadata) -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc", "grpc-accept-encoding": "identity"]
        appendStatus(status, to: &headers)
        append(metadata, to: &headers)
        return headers
    }

    static func rejectionHeaders(_ rejection: Rejection) -> HPACKHeaders {
        switch rejection {
        case let .http(status, code, message):
            var headers: HPACKHeaders = [":status": String(status), "content-type": "application/grpc"]
            appendStatus(Status(code: code, message: message), to: &headers)
            return headers
        case let .grpc(code, message):
            return trailersOnly(Status(code: code, message: message), [:])
        }
    }

    private static func appendStatus(_ status: Status, to headers: inout HPACKHeaders) {
        headers.add(name: "grpc-status", value: String(status.code.rawValue))
        if !status.message.isEmpty {
            headers.add(name: "grpc-message", value: percentEncode(status.message))
        }
    }

    /// Response metadata keys this transport writes itself; metadata cannot override them.
    static let reservedResponseKeys: Set<String> = ["content-type", "grpc-status", "grpc-message", "grpc-accept-encoding",
                                                    "grpc-encoding", "te", "content-length"]

    private static func append(_ metadata: Metadata, to headers: inout HPACKHeaders) {
        for (key, value) in metadata {
            let name = key.lowercased()
            if name.hasPrefix(":") || reservedResponseKeys.contains(name) { continue }
            switch value {
            case let .string(string):
                headers.add(name: name, value: string)
            case let .binary(bytes):
                headers.add(name: name.hasSuffix("-bin") ? name : name + "-bin", value: Data(bytes).base64EncodedString())
            }
        }
    }

    /// `grpc-message`: bytes outside printable ASCII, and `%`, as `%XX` of their UTF-8.
    static func percentEncode(_ message: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(message.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in message.utf8 {
            if byte >= 0x20, byte <= 0x7E, byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Base64 with or without padding (gRPC senders may omit it); nil if not base64.
    static func decodeBase64(_ value: String) -> [UInt8]? {
        var padded = value
        let remainder = padded.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { padded += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
