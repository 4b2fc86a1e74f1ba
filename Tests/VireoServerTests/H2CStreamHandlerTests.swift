import GRPCCore
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing
@testable import VireoServer
import VireoKernels
import VireoTestSupport

/// ``H2CStreamHandler`` without sockets: HTTP/2 frame payloads in, parsed heads, messages and
/// errors out; response parts in, frames out. (swift-nio-http2 below it is exercised by the pymilvus
/// suite, Tests/e2e_pymilvus.)
@Suite struct H2CStreamHandlerTests {
    /// Records the inbound user events that reach the end of the stream pipeline.
    final class EventRecorder: ChannelInboundHandler {
        typealias InboundIn = [UInt8]
        var inputClosed = 0
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .inputClosed? = event as? ChannelEvent { inputClosed += 1 }
            context.fireUserInboundEventTriggered(event)
        }
    }

    struct Harness {
        let channel = EmbeddedChannel()
        let handler: H2CStreamHandler
        let recorder = EventRecorder()

        init(maxMessageBytes: Int = 1 << 20, budget: ByteBudget? = nil) throws {
            handler = H2CStreamHandler(maxMessageBytes: maxMessageBytes, eventLoop: channel.eventLoop, budget: budget)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.pipeline.syncOperations.addHandler(recorder)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50051)).wait()  // active, as a stream is
        }

        func send(_ payload: HTTP2Frame.FramePayload) throws { try channel.writeInbound(payload) }

        func sendHeaders(_ headers: HPACKHeaders = Harness.request(), endStream: Bool = false) throws {
            try send(.headers(.init(headers: headers, endStream: endStream)))
        }

        func sendData(_ bytes: [UInt8], endStream: Bool = false) throws {
            try send(.data(.init(data: .byteBuffer(ByteBuffer(bytes: bytes)), endStream: endStream)))
        }

        func messages() throws -> [[UInt8]] {
            var out: [[UInt8]] = []
            while let m = try channel.readInbound(as: [UInt8].self) { out.append(m) }
            return out
        }

        func frames() throws -> [HTTP2Frame.FramePayload] {
            var out: [HTTP2Frame.FramePayload] = []
            while let f = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { out.append(f) }
            return out
        }

        func head() throws -> H2CRequestHead? {
            var result: H2CRequestHead?
            handler.head.futureResult.whenSuccess { result = $0 }
            channel.embeddedEventLoop.run()
            return result
        }

        func end() -> H2CStreamEnd? {
            var result: H2CStreamEnd?
            handler.end.futureResult.whenSuccess { result = $0 }
            channel.embeddedEventLoop.run()
            return result
        }

        static func request(path: String = "/milvus.proto.milvus.MilvusService/Search", method: String = "POST",
                            contentType: String = "application/grpc", extra: [(String, String)] = []) -> HPACKHeaders {
            var h = HPACKHeaders([(":method", method), (":scheme", "http"), (":path", path), (":authority", "localhost"),
                                  ("content-type", contentType), ("te", "trailers")])
            for (k, v) in extra { h.add(name: k, value: v) }
            return h
        }
    }

    static func framed(_ payload: [UInt8], compressed: Bool = false) -> [UInt8] {
        let n = UInt32(payload.count)
        return [compressed ? 1 : 0, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    static func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    static func headers(_ payload: HTTP2Frame.FramePayload) -> (HPACKHeaders, Bool)? {
        if case let .headers(h) = payload { return (h.headers, h.endStream) }
        return nil
    }

    // MARK: Request head

    @Test("the request head becomes a method descriptor and metadata (transport headers dropped, -bin decoded)")
    func head() throws {
        let h = try Harness()
        try h.sendHeaders(Harness.request(extra: [("authorization", "Basic cm9vdDpNaWx2dXM="), ("dbname", "default"),
                                                  ("grpc-timeout", "5S"), ("trace-bin", "AAEC/w"), ("user-agent", "grpc-python/1.85")]))
        guard case let .rpc(descriptor, metadata)? = try h.head() else {
            Issue.record("expected an RPC head")
            return
        }
        #expect(descriptor == MethodDescriptor(fullyQualifiedService: "milvus.proto.milvus.MilvusService", method: "Search"))
        #expect(Array(metadata[stringValues: "authorization"]) == ["Basic cm9vdDpNaWx2dXM="])
        #expect(Array(metadata[stringValues: "dbname"]) == ["default"])
        #expect(Array(metadata[stringValues: "grpc-timeout"]) == ["5S"])
        #expect(Array(metadata[binaryValues: "trace-bin"]) == [[0, 1, 2, 255]])
        #expect(metadata[stringValues: "content-type"].first(where: { _ in true }) == nil)
        #expect(metadata[stringValues: "te"].first(where: { _ in true }) == nil)
        #expect(metadata[stringValues: ":path"].first(where: { _ in true }) == nil)
        #expect(try h.frames().isEmpty)
    }

    @Test("refused heads: HTTP 405/415 for non-gRPC requests, trailers-only statuses for gRPC ones", arguments: [
        (Harness.request(method: "GET"), "405", Status.Code.unimplemented),
        (Harness.request(contentType: "application/json"), "415", .internalError),
        (Harness.request(contentType: "application/grpc-web"), "415", .internalError),
        (Harness.request(path: "/nomethod"), "200", .unimplemented),
        (Harness.request(path: "noslash/Service/Method"), "200", .unimplemented),
        (Harness.request(extra: [("grpc-encoding", "gzip")]), "200", .unimplemented),
        (Harness.request(extra: [("x-bin", "!!!")]), "200", .invalidArgument),
    ])
    func refused(request: HPACKHeaders, httpStatus: String, code: Status.Code) throws {
        let h = try Harness()
        try h.sendHeaders(request)
        guard case .rejected? = try h.head() else {
            Issue.record("expected a refusal")
            return
        }
        // The answer, then RST_STREAM(NO_ERROR): the client had not ended its side.
        let frames = try h.frames()
        #expect(frames.count == 2)
        guard let (headers, endStream) = frames.first.flatMap(Self.headers) else {
            Issue.record("expected a HEADERS frame")
            return
        }
        guard case .rstStream(.noError)? = frames.last else {
            Issue.record("expected RST_STREAM(NO_ERROR) after the answer, got \(frames)")
            return
        }
        #expect(endStream)
        #expect(headers.first(name: ":status") == httpStatus)
        #expect(headers.first(name: "grpc-status") == String(code.rawValue))
        #expect(!(headers.first(name: "grpc-message") ?? "").isEmpty)
        #expect(h.end() == .responseWritten)
        // Whatever the client sends next is dropped.
        try h.sendData(Self.framed([1, 2, 3]), endStream: true)
        #expect(try h.messages().isEmpty)
    }

    @Test("content types gRPC allows", arguments: [
        ("application/grpc", true), ("application/grpc+proto", true), ("application/grpc;charset=utf-8", true),
        ("Application/GRPC", true), ("application/grpc-web", false), ("application/grpcx", false), ("text/plain", false), ("", false),
    ])
    func contentTypes(value: String, allowed: Bool) {
        #expect(GRPCWire.isGRPCContentType(value) == allowed)
    }

    // MARK: Messages

    @Test("messages are cut out of DATA frames whatever the frame boundaries")
    func deframing() throws {
        let seed: UInt64 = 7
        var g = SeededGenerator(seed: seed)
        let payloads = (0..<20).map { i in Self.randomBytes(Int.random(in: 0...3000, using: &g), seed: seed + UInt64(i)) }
        let stream = payloads.flatMap { Self.framed($0) }
        let h = try Harness()
        try h.sendHeaders()
        // Random split points, including 1-byte frames inside a 5-byte prefix.
        var offset = 0
        while offset < stream.count {
            let n = min(stream.count - offset, Int.random(in: 1...700, using: &g))
            try h.sendData(Array(stream[offset..<offset + n]), endStream: offset + n == stream.count)
            offset += n
        }
        #expect(try h.messages() == payloads, "seed \(seed)")
        #expect(h.recorder.inputClosed == 1)
    }

    @Test("incomplete messages are charged to a shared budget: a stream past it is RESOURCE_EXHAUSTED, bytes come back as messages complete or streams end")
    func sharedBudget() throws {
        let budget = ByteBudget(limit: 1000)
        let a = try Harness(budget: budget)
        let b = try Harness(budget: budget)
        try a.sendHeaders()
        try b.sendHeaders()
        // A sends 600 bytes of a 900-byte message.
        let big = Self.framed(Self.randomBytes(900, seed: 3))
        try a.sendData(Array(big.prefix(600)))
        #expect(budget.inUse == 600)
        #expect(try a.messages().isEmpty)
        // B's 500 pending bytes do not fit beside A's 600.
        let other = Self.framed(Self.randomBytes(800, seed: 4))
        #expect { try b.sendData(Array(other.prefix(500))) } throws: { error in
            (error as? RPCError)?.code == .resourceExhausted && (error as? RPCError)?.message.contains("too many large request messages") == true
        }
        #expect(budget.inUse == 600)
        // A completes its message: its bytes are released.
        try a.sendData(Array(big.dropFirst(600)))
        #expect(try a.messages() == [Self.randomBytes(900, seed: 3)])
        #expect(budget.inUse == 0)
        // A stream that ends with a partial message gives its bytes back too.
        try a.sendData(Array(big.prefix(300)))
        #expect(budget.inUse == 300)
        try a.channel.close().wait()
        #expect(budget.inUse == 0)
    }

    @Test("a connection's budget bounds its streams inside the server's: one connection cannot take it all")
    func perConnectionBudget() throws {
        let server = ByteBudget(limit: 10_000)
        let connection = ByteBudget(limit: 1000, parent: server)
        let other = ByteBudget(limit: 1000, parent: server)
        let a = try Harness(budget: connection)
        let b = try Harness(budget: connection)
        let c = try Harness(budget: other)
        for h in [a, b, c] { try h.sendHeaders() }
        let big = Self.framed(Self.randomBytes(900, seed: 5))
        try a.sendData(Array(big.prefix(700)))
        #expect(connection.inUse == 700 && server.inUse == 700)
        #expect { try b.sendData(Array(big.prefix(400))) } throws: { error in (error as? RPCError)?.code == .resourceExhausted }
        try c.sendData(Array(big.prefix(400)))  // another connection still has room
        #expect(other.inUse == 400 && server.inUse == 1100)
        try a.sendData(Array(big.dropFirst(700)))
        #expect(try a.messages().count == 1)
        #expect(connection.inUse == 0 && server.inUse == 400)
    }

    @Test("a declared length is not reserved before its bytes arrive")
    func noReservationForDeclaredLength() throws {
        let h = try Harness(maxMessageBytes: 64 << 20, budget: ByteBudget(limit: 1 << 30))
        try h.sendHeaders()
        // A 64 MiB message announced, 10 bytes sent: what the stream holds is those bytes, and its buffer
        // grows with what arrives (at most 1 MiB ahead), not to the announced size.
        var prefix: [UInt8] = [0]
        withUnsafeBytes(of: UInt32(64 << 20).bigEndian) { prefix += $0 }
        try h.sendData(prefix + [UInt8](repeating: 7, count: 10))
        #expect(h.handler.pendingCapacityForTesting <= 2 << 20)  // 1 MiB ahead, rounded up to a power of two
        #expect(try h.messages().isEmpty)
    }

    @Test("END_STREAM on the headers ends the messages at once")
    func headersOnly() throws {
        let h = try Harness()
        try h.sendHeaders(endStream: true)
        #expect(try h.messages().isEmpty)
        #expect(h.recorder.inputClosed == 1)
    }

    @Test("a message over the limit is RESOURCE_EXHAUSTED from its prefix alone")
    func tooLarge() throws {
        let h = try Harness(maxMessageBytes: 1000)
        try h.sendHeaders()
        try h.sendData(Self.framed(Self.randomBytes(1000, seed: 1)))  // exactly the limit: accepted
        #expect(try h.messages().count == 1)
        let prefixOnly = Array(Self.framed(Self.randomBytes(1001, seed: 2)).prefix(5))
        #expect { try h.sendData(prefixOnly) } throws: { error in
            (error as? RPCError)?.code == .resourceExhausted && (error as? RPCError)?.message.contains("1001") == true
        }
        // GRPCCore answers with the error while the client is still sending: the status, then
        // RST_STREAM(NO_ERROR) so the client stops (and keeps the status).
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.status(Status(code: .resourceExhausted, message: "too large"), [:]))
        let frames = try h.frames()
        guard frames.count == 2, let (headers, endStream) = Self.headers(frames[0]), case .rstStream(.noError) = frames[1] else {
            Issue.record("expected a trailers-only answer and RST_STREAM(NO_ERROR), got \(frames)")
            return
        }
        #expect(endStream && headers.first(name: "grpc-status") == "8")
        // The rest of that message and anything after it is dropped.
        try h.sendData(Self.randomBytes(1001, seed: 2) + Self.framed([1]), endStream: true)
        #expect(try h.messages().isEmpty)
        #expect(h.recorder.inputClosed == 0)
    }

    @Test("a compressed message is INTERNAL (no encoding was negotiated)")
    func compressed() throws {
        let h = try Harness()
        try h.sendHeaders()
        #expect { try h.sendData(Self.framed([1, 2, 3], compressed: true)) } throws: { error in
            (error as? RPCError)?.code == .internalError
        }
        #expect(try h.messages().isEmpty)
    }

    @Test("a stream that ends inside a message is INTERNAL")
    func truncated() throws {
        let h = try Harness()
        try h.sendHeaders()
        #expect { try h.sendData(Array(Self.framed(Self.randomBytes(100, seed: 3)).prefix(50)), endStream: true) } throws: { error in
            (error as? RPCError)?.code == .internalError
        }
        #expect(h.recorder.inputClosed == 0)
    }

    // MARK: Responses

    @Test("headers, messages and trailers; grpc-message percent-encoded; the end reported once written")
    func response() throws {
        let h = try Harness()
        try h.sendHeaders()
        try h.sendData(Self.framed([8, 1]), endStream: true)  // a unary request: the client's side is over
        #expect(try h.messages() == [[8, 1]])
        let payload = Self.randomBytes(300, seed: 4)
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.metadata(["x-server": "vireo", "blob-bin": .binary([0, 255])]))
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.message(payload))
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.status(Status(code: .notFound, message: "no collection «x»\n100%"), [:]))
        let frames = try h.frames()
        #expect(frames.count == 3)
        guard frames.count == 3, let (first, firstEnd) = Self.headers(frames[0]), let (trailers, trailersEnd) = Self.headers(frames[2]),
              case let .data(data) = frames[1], case let .byteBuffer(body) = data.data else {
            Issue.record("expected HEADERS, DATA, HEADERS")
            return
        }
        #expect(first.first(name: ":status") == "200")
        #expect(first.first(name: "content-type") == "application/grpc")
        #expect(first.first(name: "grpc-accept-encoding") == "identity")
        #expect(first.first(name: "x-server") == "vireo")
        #expect(first.first(name: "blob-bin") == "AP8=")
        #expect(!firstEnd)
        #expect(Array(body.readableBytesView) == Self.framed(payload))
        #expect(!data.endStream)
        #expect(trailersEnd)
        #expect(trailers.first(name: ":status") == nil)
        #expect(trailers.first(name: "grpc-status") == "5")
        #expect(trailers.first(name: "grpc-message") == "no collection %C2%ABx%C2%BB%0A100%25")
        #expect(h.end() == .responseWritten)
    }

    @Test("a status with nothing before it is a trailers-only response")
    func trailersOnly() throws {
        let h = try Harness()
        try h.sendHeaders(endStream: true)
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.status(Status(code: .unauthenticated, message: "token"), [:]))
        let frames = try h.frames()
        guard frames.count == 1, let (headers, endStream) = Self.headers(frames[0]) else {
            Issue.record("expected one HEADERS frame and no reset (the client had ended its side)")
            return
        }
        #expect(endStream)
        #expect(headers.first(name: ":status") == "200")
        #expect(headers.first(name: "content-type") == "application/grpc")
        #expect(headers.first(name: "grpc-status") == "16")
    }

    @Test("the writer finishing without a status sends INTERNAL")
    func finishWithoutStatus() throws {
        let h = try Harness()
        try h.sendHeaders()
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.metadata([:]))
        try h.channel.close(mode: .output).wait()
        let frames = try h.frames()
        guard frames.count == 3, let (trailers, endStream) = Self.headers(frames[1]), case .rstStream(.noError) = frames[2] else {
            Issue.record("expected headers, trailers, RST_STREAM(NO_ERROR); got \(frames)")
            return
        }
        #expect(endStream)
        #expect(trailers.first(name: "grpc-status") == String(Status.Code.internalError.rawValue))
    }

    @Test("a passed deadline ends the response with DEADLINE_EXCEEDED, once", arguments: [0, 1, 2])
    func deadline(partsBefore: Int) throws {
        let h = try Harness()
        try h.sendHeaders(endStream: true)
        if partsBefore >= 1 { try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.metadata([:])) }
        if partsBefore >= 2 { try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.status(Status(code: .ok, message: ""), [:])) }
        h.handler.deadlineExceeded()
        let frames = try h.frames()
        #expect(frames.count == (partsBefore == 0 ? 1 : 2))
        guard let (last, endStream) = frames.last.flatMap(Self.headers) else {
            Issue.record("expected HEADERS last")
            return
        }
        #expect(endStream)
        #expect(last.first(name: "grpc-status") == (partsBefore == 2 ? "0" : "4"))
        #expect((last.first(name: ":status") != nil) == (partsBefore == 0))  // trailers-only when nothing was sent
        // The handler's own late status is dropped.
        if partsBefore < 2 {
            #expect(throws: RPCError.self) {
                try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.status(Status(code: .ok, message: ""), [:]))
            }
            #expect(try h.frames().isEmpty)
        }
        #expect(h.end() == .responseWritten)
    }

    @Test("a stream that closes before its response (client RST_STREAM) reports a reset")
    func reset() throws {
        let h = try Harness()
        try h.sendHeaders()
        try h.channel.writeOutbound(RPCResponsePart<[UInt8]>.metadata([:]))
        try h.channel.close().wait()
        #expect(h.end() == .reset)
    }

    // MARK: Wire helpers

    @Test("grpc-message percent-encoding", arguments: [
        ("plain text", "plain text"), ("100%", "100%25"), ("tab\there", "tab%09here"), ("é", "%C3%A9"), ("~", "~"), ("", ""),
    ])
    func percentEncoding(input: String, encoded: String) {
        #expect(GRPCWire.percentEncode(input) == encoded)
    }

    @Test("base64 metadata with or without padding", arguments: [
        ("AA", [UInt8(0)]), ("AA==", [0]), ("AAE", [0, 1]), ("AAEC", [0, 1, 2]), ("", []),
    ])
    func base64(input: String, bytes: [UInt8]) {
        #expect(GRPCWire.decodeBase64(input) == bytes)
    }

    @Test("bad base64 is refused", arguments: ["A", "!!!!", "AAAAA"])
    func badBase64(input: String) {
        #expect(GRPCWire.decodeBase64(input) == nil)
    }

    @Test(":path parsing", arguments: [
        ("/a.B/C", "a.B", "C"), ("/a/b/c", nil, nil), ("/a.B/", nil, nil), ("//C", nil, nil), ("a.B/C", nil, nil), ("", nil, nil),
    ])
    func path(path: String, service: String?, method: String?) {
        let d = GRPCWire.methodDescriptor(path: path)
        #expect(d?.service.fullyQualifiedService == service)
        #expect(d?.method == method)
    }
}
