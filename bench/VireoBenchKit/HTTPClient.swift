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
        let connection: Connection
        if let c = idle.withLock({ $0.popLast() }) { connection = c } else { connection = try await connect() }
        do {
            let response = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Response, any Error>) in
                if case .terminated = connection.jobs.yield(Job(head: head, body: body, done: done)) {
                    done.resume(throwing: HTTPClientError.closed)
                }
            }
            idle.withLock { $0.append(connection) }
            return response
        } catch {
            connection.jobs.finish()
            throw error
        }
    }

    enum HTTPClientError: Error { case closed, truncated }

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
                        do {
                            try await outbound.write(.head(job.head))
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: job.body))))
                            try await outbound.write(.end(nil))
                            var response = Response(status: 0, body: [])
                            read: while true {
                                switch try await parts.next() {
                                case let .head(h)?: response.status = Int(h.status.code)
                                case let .body(b)?: response.body.append(contentsOf: b.readableBytesView)
                                case .end?: break read
                                case nil: throw HTTPClientError.truncated
                                }
                            }
                            job.done.resume(returning: response)
                        } catch {
                            job.done.resume(throwing: error)
                            return
                        }
                    }
                }
            } catch {}
            // Whatever is still queued (nothing, with one caller at a time) fails rather than hangs.
            for await job in jobs { job.done.resume(throwing: HTTPClientError.closed) }
        }
        return Connection(jobs: continuation)
    }
}
