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

    private struct Job: Sendable {
        struct Request: Sendable {
            var head: HTTPRequestHead
            var body: [UInt8]
        }
        var head: HTTPRequestHead
        var body: [UInt8]
        var done: CheckedContinuation<Response, any Error>
    }

    /// One connection, serving the jobs sent to it in order (the pool lends it to one caller at a time).
    private final class Connection: Sendable {
        let jobs: AsyncStream<Job>.Continuation
        init(jobs: AsyncStream<Job>.Continuation) { self.jobs = jobs }
    }

    let host: String
    let port: Int
    private let idle = Mutex<[Connection]>([])

    init(host: String, port: Int) {
        self.host = host
        self.port = port
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
        if let reused = idle.withLock({ $0.popLast() }) {
            do {
                return try await send(Job.Request(head: head, body: body), on: reused)
            } catch HTTPClientError.closedBeforeResponse {
                // The server closed the idle connection (`vireo serve` does after 5 minutes): it read
                // nothing of this request, so sending it again on a new connection is safe.
            }
        }
        return try await send(Job.Request(head: head, body: body), on: try await connect())
    }

    /// Sends one request on `connection` and returns it to the pool after a whole response.
    private func send(_ request: Job.Request, on connection: Connection) async throws -> Response {
        do {
            let response = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Response, any Error>) in
                if case .terminated = connection.jobs.yield(Job(head: request.head, body: request.body, done: done)) {
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
        Task {
            do {
                try await channel.executeThenClose { inbound, outbound in
                    var parts = inbound.makeAsyncIterator()
                    for await job in jobs {
                        var started = false
                        do {
                            try await outbound.write(.head(job.head))
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: job.body))))
                            try await outbound.write(.end(nil))
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
                        } catch let error as HTTPClientError {
                            job.done.resume(throwing: error)
                            return
                        } catch {
                            // A write or read failing before the response began: the request was not
                            // answered (and, on a connection the server closed, not read).
                            job.done.resume(throwing: started ? error : HTTPClientError.closedBeforeResponse)
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
