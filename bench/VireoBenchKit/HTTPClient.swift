import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The REST benchmark's HTTP/1.1 client: keep-alive connections over SwiftNIO (its HTTP/1 codec
/// does the framing), pooled, one request at a time per connection.
///
/// Why not `URLSession`: on Linux it is libcurl, and linking FoundationNetworking put curl, GnuTLS,
/// Kerberos, LDAP and their kin into every vireo-bench process — 5.6 MiB of resident pages in runs
/// that never speak HTTP, counted in the peak RSS compared with the peers' (measured with smaps).
/// Why not AsyncHTTPClient (the library for this): it brings swift-nio-ssl's BoringSSL into every
/// CI build for a plain-HTTP benchmark client. Switch to it if the benchmark ever needs TLS,
/// redirects or HTTP/2.
final class HTTPClientPool: Sendable {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    private struct Request: Sendable {
        var head: HTTPRequestHead
        var body: [UInt8]
    }

    private struct Job: Sendable {
        var request: Request
        var done: CheckedContinuation<Response, any Error>
    }

    /// One connection, serving the jobs sent to it in order (the pool lends it to one caller at a time).
    private final class Connection: Sendable {
        let jobs: AsyncStream<Job>.Continuation
        init(jobs: AsyncStream<Job>.Continuation) { self.jobs = jobs }
    }

    let host: String
    let port: Int
    /// A request without a whole answer by then fails (its connection is closed), rather than
    /// waiting for ever on a server that read it and never answers.
    let requestTimeout: Duration
    private let idle = Mutex<[Connection]>([])

    init(host: String, port: Int, requestTimeout: Duration = .seconds(600)) {
        self.host = host
        self.port = port
        self.requestTimeout = requestTimeout
    }

    deinit { shutdown() }

    /// Closes the idle connections (a connection in use closes when its caller returns it).
    func shutdown() {
        for c in idle.withLock({ c in defer { c.removeAll() }; return c }) { c.jobs.finish() }
    }

    /// POSTs `body` to `path` with `headers` (Host and Content-Length are added) and returns the
    /// status and the whole body.
    func post(_ path: String, headers: [(String, String)], body: [UInt8]) async throws -> Response {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = Request(head: head, body: body)
        if let reused = idle.withLock({ $0.popLast() }) {
            do {
                return try await send(request, on: reused)
            } catch HTTPClientError.closedBeforeResponse {
                // The server closed the idle connection (`vireo serve` does after 5 minutes): it read
                // nothing of this request, so sending it again on a new connection is safe.
            }
        }
        return try await send(request, on: try await connect())
    }

    /// Sends one request on `connection` and returns it to the pool after a whole response.
    private func send(_ request: Request, on connection: Connection) async throws -> Response {
        do {
            let response = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Response, any Error>) in
                if case .terminated = connection.jobs.yield(Job(request: request, done: done)) {
                    done.resume(throwing: HTTPClientError.closedBeforeResponse)
                }
            }
            idle.withLock { $0.append(connection) }
            return response
        } catch {
            connection.jobs.finish()
            throw error
        }
    }

    enum HTTPClientError: Error {
        /// The connection ended before any of the response arrived.
        case closedBeforeResponse
        /// The connection ended inside a response.
        case truncated
        /// No whole answer within `requestTimeout`.
        case timedOut
    }

    private final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Errors with which NIO fails a write because the channel is closed or closing (a socket
    /// channel whose write fails is closed), so that its inbound stream ends.
    private static func closesChannel(_ error: any Error) -> Bool {
        if error is IOError { return true }
        guard let e = error as? ChannelError else { return false }
        return e == .ioOnClosedChannel || e == .alreadyClosed || e == .eof
    }

    private func connect() async throws -> Connection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let (jobs, continuation) = AsyncStream<Job>.makeStream()
        let (seconds, attoseconds) = requestTimeout.components
        let timeout = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var parts = inbound.makeAsyncIterator()
                    for await job in jobs {
                        var started = false
                        let timedOut = Flag()
                        let deadline = channel.channel.eventLoop.scheduleTask(in: timeout) {
                            timedOut.set()
                            channel.channel.close(promise: nil)
                        }
                        defer { deadline.cancel() }
                        do {
                            // A write failing is not yet the end of this request: a server that
                            // answers and closes at once (after its last keep-alive request) may do so
                            // before the request's end part is written — the bytes it read were the
                            // whole request, but NIO has closed the channel on the FIN and fails the
                            // write — and its answer is already in the inbound buffer. A write fails
                            // only with the channel closing, so the read below ends either way.
                            var writeFailed = false
                            do {
                                try await outbound.write(.head(job.request.head))
                                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: job.request.body))))
                                try await outbound.write(.end(nil))
                            } catch where Self.closesChannel(error) {
                                writeFailed = true
                            }
                            var response = Response(status: 0, body: [])
                            read: while true {
                                switch try await parts.next() {
                                case let .head(h)?:
                                    started = true
                                    response.status = Int(h.status.code)
                                case let .body(b)?: response.body.append(contentsOf: b.readableBytesView)
                                case .end?: break read
                                case nil: throw started ? HTTPClientError.truncated : HTTPClientError.closedBeforeResponse
                                }
                            }
                            job.done.resume(returning: response)
                            if writeFailed { return }
                        } catch {
                            // The connection ended or failed before a whole response: timed out (the
                            // server may have read the request, so it is not sent again), inside a
                            // response, or before one began — the request was not answered and, on a
                            // connection the server had closed, not read.
                            let reported: any Error =
                                timedOut.isSet ? HTTPClientError.timedOut
                                : error is HTTPClientError ? error
                                : started ? error : HTTPClientError.closedBeforeResponse
                            job.done.resume(throwing: reported)
                            return
                        }
                    }
                }
            } catch {}
            // Whatever is still queued (nothing, with one caller at a time) fails rather than hangs.
            for await job in jobs { job.done.resume(throwing: HTTPClientError.closedBeforeResponse) }
        }
        return Connection(jobs: continuation)
    }
}
