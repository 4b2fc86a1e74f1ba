"""Vireo's own gRPC transport (Sources/VireoServer/GRPC/H2CServerTransport.swift) seen from real clients: pymilvus
and raw grpcio (pymilvus' generated stubs) on HTTP/2 channels. Vireo only: these check the transport, which
Milvus Lite does not share. Expected values come from numpy over the inserted rows."""
import concurrent.futures
import signal
import threading
import time

import grpc
import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc, schema_pb2

from conftest import TARGET, VireoServer

pytestmark = pytest.mark.skipif(TARGET == "lite", reason="Vireo's own transport; Milvus Lite has another")

SERVICE = "/milvus.proto.milvus.MilvusService/"
INT64, FLOAT_VECTOR = 5, 101  # schema.proto DataType


def target(server):
    return server.uri.removeprefix("http://")


def insert_request(collection, vectors, first_id=0):
    """An InsertRequest from the proto types: an INT64 `id` column and a FLOAT_VECTOR `vector` column."""
    n, dim = vectors.shape
    ids = schema_pb2.FieldData(field_name="id", type=INT64, scalars=schema_pb2.ScalarField(
        long_data=schema_pb2.LongArray(data=list(range(first_id, first_id + n)))))
    vecs = schema_pb2.FieldData(field_name="vector", type=FLOAT_VECTOR, vectors=schema_pb2.VectorField(
        dim=dim, float_vector=schema_pb2.FloatArray(data=vectors.ravel().tolist())))
    return milvus_pb2.InsertRequest(collection_name=collection, fields_data=[ids, vecs], num_rows=n)


def query_ids(stub, collection, below, timeout):
    """Raw Query `id < below`: the ids it returns, sorted."""
    resp = stub.Query(milvus_pb2.QueryRequest(collection_name=collection, expr=f"id < {below}", output_fields=["id"]),
                      timeout=timeout)
    assert resp.status.code == 0, resp.status
    column = next(f for f in resp.fields_data if f.field_name == "id")
    return sorted(column.scalars.long_data.data)


def create_flat(client, name, dataset, n):
    """`id` + `vector` with a FLAT index (exact search), rows 0..n-1."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dataset.dim)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")
    assert client.describe_index(name, "vector")["index_type"] == "FLAT"
    for start in range(0, n, 1000):
        client.insert(name, [{"id": i, "vector": dataset.base[i].tolist()} for i in range(start, min(n, start + 1000))])
    client.flush(name)


@pytest.fixture(scope="module")
def flat(client, dataset):
    """All rows under a FLAT index (exact search: results must equal numpy's)."""
    name = "transport_flat"
    create_flat(client, name, dataset, dataset.n)
    yield name
    client.drop_collection(name)


def test_message_over_the_limit_is_resource_exhausted(tmp_path, dataset):
    server = VireoServer(tmp_path / "data", "--max-body-mib", "1")
    try:
        name = "over_limit"
        c = MilvusClient(uri=server.uri)
        c.create_collection(name, dimension=dataset.dim, metric_type="IP", consistency_level="Strong")
        channel = grpc.insecure_channel(target(server), options=[("grpc.max_send_message_length", -1)])
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        big = insert_request(name, dataset.base[:1000])  # 1,000 x 384 floats: ~1.5 MB > 1 MiB
        assert big.ByteSize() > 1 << 20
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stub.Insert(big, timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value
        assert str(big.ByteSize()) in err.value.details() and "max-body-mib" in err.value.details()
        assert time.monotonic() - started < 10, "the refusal must come at once, not after the deadline"
        # 20 MB: refused the same way, from its length prefix, without the server reading it all first.
        with pytest.raises(grpc.RpcError) as err:
            stub.Insert(insert_request(name, np.tile(dataset.base[:1000], (13, 1))), timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # The same channel (HTTP/2 connection) still serves calls under the limit.
        ok = stub.Insert(insert_request(name, dataset.base[:500]), timeout=30)
        assert ok.status.code == 0 and ok.insert_cnt == 500
        # pymilvus raises too (it does not retry RESOURCE_EXHAUSTED).
        with pytest.raises(grpc.RpcError) as err:
            c.insert(name, [{"id": 10_000 + i, "vector": dataset.base[i].tolist()} for i in range(1000)])
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Only the accepted insert landed.
        assert query_ids(stub, name, 1 << 40, timeout=30) == list(range(500))
        c.close()
        channel.close()
    finally:
        server.stop()


def test_unknown_method_is_unimplemented(server, client):
    channel = grpc.insecure_channel(target(server))
    for method in (SERVICE + "NoSuchMethod", "/no.such.Service/Search"):
        call = channel.unary_unary(method)
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, (method, err.value)
    # A real method on the same channel still answers.
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    assert stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), timeout=10).status.code == 0
    channel.close()


def test_client_deadlines_expire_cleanly(server, client, flat, dataset):
    """Deadlines from 1 ms to 100 ms cross calls at every stage (before sending, in the handler, while answering):
    each call answers exactly or fails with DEADLINE_EXCEEDED, promptly, and the channel stays usable."""
    channel = grpc.insecure_channel(target(server))
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    rng = np.random.default_rng(11)
    outcomes = {"ok": 0, "deadline": 0}
    for timeout in [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1] * 3:
        q = int(rng.integers(len(dataset.queries)))
        started = time.monotonic()
        try:
            hits = client.search(flat, [dataset.queries[q].tolist()], limit=10, timeout=timeout)
            assert [h["id"] for h in hits[0]] == dataset.exact(dataset.queries[q], 10)[0]
            outcomes["ok"] += 1
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
            outcomes["deadline"] += 1
        except MilvusException as e:  # pymilvus' own retry budget (the same timeout) ran out
            assert "timeout" in str(e).lower(), e
            outcomes["deadline"] += 1
        assert time.monotonic() - started < 5
        # Raw grpcio, a 3,000-row answer under the same deadline.
        try:
            assert query_ids(stub, flat, dataset.n, timeout=timeout) == list(range(dataset.n))
            outcomes["ok"] += 1
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
            outcomes["deadline"] += 1
    assert outcomes["deadline"] > 0, outcomes  # 1 ms is not enough for a gRPC call here
    assert query_ids(stub, flat, 10, timeout=10) == list(range(10))
    hits = client.search(flat, [dataset.queries[0].tolist()], limit=10)
    assert [h["id"] for h in hits[0]] == dataset.exact(dataset.queries[0], 10)[0]
    channel.close()


def test_32_threads_of_searches_on_one_channel(client, flat, dataset):
    """One MilvusClient (one gRPC channel, one HTTP/2 connection), 32 threads searching at once: every answer is
    numpy's exact top 10 for its own query (no crossed streams)."""
    rng = np.random.default_rng(32)
    queries = rng.integers(len(dataset.queries), size=32 * 8)
    want = {int(q): dataset.exact(dataset.queries[q], 10)[0] for q in set(queries.tolist())}
    barrier = threading.Barrier(32)

    def worker(t):
        barrier.wait()
        got = []
        for q in queries[t * 8:(t + 1) * 8]:
            hits = client.search(flat, [dataset.queries[q].tolist()], limit=10)
            got.append((int(q), [h["id"] for h in hits[0]]))
        return got

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = [r for rs in pool.map(worker, range(32)) for r in rs]
    assert len(results) == 32 * 8
    for q, ids in results:
        assert ids == want[q], f"query {q}"


def test_large_response_beyond_the_flow_control_window(client, flat, dataset):
    """A ~4.6 MB answer (every row with its vector) is far beyond HTTP/2's initial 64 KiB window: it arrives whole
    and equal to the inserted rows."""
    rows = client.query(flat, filter="id >= 0", output_fields=["id", "vector"], limit=dataset.n)
    assert len(rows) == dataset.n
    by_id = {r["id"]: r["vector"] for r in rows}
    assert sorted(by_id) == list(range(dataset.n))
    got = np.array([by_id[i] for i in range(dataset.n)], dtype=np.float32)
    assert np.array_equal(got, dataset.base[:dataset.n])


def test_keepalive_pings_are_answered(server, client):
    """grpcio pings the idle connection (asked every 100 ms; grpcio sends at most one a second) and drops it if a
    ping is not acknowledged within 500 ms: the connection must stay READY throughout (GRPC_TRACE=http_keepalive
    shows the pings and their acks)."""
    states = []
    record = states.append
    channel = grpc.insecure_channel(target(server), options=[
        ("grpc.keepalive_time_ms", 100), ("grpc.keepalive_timeout_ms", 500),
        ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)])
    try:
        channel.subscribe(record, try_to_connect=True)
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        assert stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), timeout=10).status.code == 0
        deadline = time.monotonic() + 5  # connectivity callbacks arrive on grpcio's own thread
        while (not states or states[-1] != grpc.ChannelConnectivity.READY) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert states[-1] == grpc.ChannelConnectivity.READY, states
        seen = len(states)
        time.sleep(3.0)  # about 3 pings without a call
        assert stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), timeout=10).status.code == 0
        assert states[seen:] == [], f"the connection left READY: {states}"
    finally:
        channel.unsubscribe(record)
        channel.close()


def test_graceful_shutdown_finishes_in_flight_calls(tmp_path, dataset):
    """SIGTERM while 8 threads query in a loop on one channel: every call answers exactly or fails with
    UNAVAILABLE (refused after GOAWAY, or no server); none hangs or errs otherwise, and the server exits 0."""
    server = VireoServer(tmp_path / "data")
    try:
        c = MilvusClient(uri=server.uri)
        create_flat(c, "shutdown", dataset, 1000)
        c.close()
        channel = grpc.insecure_channel(target(server))
        stub = milvus_pb2_grpc.MilvusServiceStub(channel)
        counts = {"ok": 0, "unavailable": 0}
        errors = []
        lock = threading.Lock()

        def worker(seed):
            rng = np.random.default_rng(seed)
            while True:
                below = int(rng.integers(1, 1000))
                try:
                    got = query_ids(stub, "shutdown", below, timeout=20)
                    kind = "ok" if got == list(range(below)) else f"wrong answer for id < {below}"
                except grpc.RpcError as e:
                    kind = "unavailable" if e.code() == grpc.StatusCode.UNAVAILABLE else f"{e.code()}: {e.details()}"
                with lock:
                    if kind in counts:
                        counts[kind] += 1
                    else:
                        errors.append(kind)
                if kind != "ok":
                    return

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while counts["ok"] < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive()
        assert errors == []
        assert counts["ok"] >= 200 and counts["unavailable"] == 8, counts
        channel.close()
    finally:
        if server.proc.poll() is None:
            server.stop()


def _frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _literal_headers(pairs):
    """An HPACK block of literal fields without indexing (RFC 7541 §6.2.2), names and values under 127 bytes."""
    out = b""
    for name, value in pairs:
        out += b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()
    return out


def _read_frame(sock):
    """The next frame as (type, flags, stream, payload); None once the server closed the connection."""
    def exactly(n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except ConnectionResetError:  # closed with our frames unread: the kernel answers with RST
                return None
            if not chunk:
                return None
            buf += chunk
        return buf
    head = exactly(9)
    if head is None:
        return None
    payload = exactly(int.from_bytes(head[:3], "big"))
    if payload is None:
        return None
    return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload


def test_streams_opened_while_the_goaway_is_on_the_wire_do_not_hang(tmp_path):
    """A raw HTTP/2 client opens two gRPC streams after the server's graceful-shutdown GOAWAY was sent and before
    acknowledging its PING, as a client whose calls cross the GOAWAY does. swift-nio-http2 refuses the first stream
    and takes its DATA frame for a connection error; the second stream is never seen. A call opened before the
    SIGTERM (stream 1, whose request message is sent only then) keeps the server from exiting early. The connection
    must close once that call is answered (the client fails the unseen streams with UNAVAILABLE) and the server
    exit, not wait for its 40 s forced close."""
    import socket
    GOAWAY, PING, SETTINGS, HEADERS, DATA = 7, 6, 4, 1, 0
    server = VireoServer(tmp_path / "data")
    try:
        host, port = target(server).rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(SETTINGS, 0, 0))
        while True:  # the server's SETTINGS: the connection is served by the gRPC transport
            kind, flags, _, _ = _read_frame(sock)
            if kind == SETTINGS and not flags & 1:
                sock.sendall(_frame(SETTINGS, 1, 0))
                break
        call = _literal_headers([(":method", "POST"), (":scheme", "http"), (":path", SERVICE + "GetVersion"),
                                 (":authority", "vireo"), ("content-type", "application/grpc"), ("te", "trailers")])
        empty_message = b"\x00\x00\x00\x00\x00"
        sock.sendall(_frame(HEADERS, 4, 1, call))  # stream 1 open, its request not sent yet
        time.sleep(0.2)  # let the server open stream 1 before the signal (its handler waits for the message)
        server.proc.send_signal(signal.SIGTERM)
        goaway = ping = None
        while goaway is None or ping is None:
            frame = _read_frame(sock)
            assert frame is not None, "the connection closed before the graceful GOAWAY, with stream 1 open"
            kind, flags, _, payload = frame
            if kind == GOAWAY:
                goaway = payload
            elif kind == PING and not flags & 1:
                ping = payload
        assert int.from_bytes(goaway[4:8], "big") == 0, "the first GOAWAY of a graceful shutdown carries NO_ERROR"
        sock.sendall(_frame(DATA, 1, 1, empty_message) +
                     _frame(HEADERS, 4, 3, call) + _frame(DATA, 1, 3, empty_message) +
                     _frame(HEADERS, 4, 5, call) + _frame(DATA, 1, 5, empty_message) + _frame(PING, 1, 0, ping))
        sock.settimeout(10)
        started = time.monotonic()
        answered = False
        while (frame := _read_frame(sock)) is not None:
            kind, flags, stream, payload = frame
            answered |= stream == 1 and kind == HEADERS and bool(flags & 1)  # stream 1's trailers
        assert time.monotonic() - started < 10
        assert answered, "the call opened before the GOAWAY is answered"
        assert server.proc.wait(timeout=10) == 0
        sock.close()
    finally:
        if server.proc.poll() is None:
            server.stop()


def _raw_connection(server):
    """A raw HTTP/2 connection to the gRPC transport, past the SETTINGS exchange."""
    import socket
    host, port = target(server).rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0))
    while True:
        kind, flags, _, _ = _read_frame(sock)
        if kind == 4 and not flags & 1:
            sock.sendall(_frame(4, 1, 0))
            return sock


def test_a_ping_with_every_call_is_not_a_flood(server):
    """grpc-go and grpc-java tune their flow-control windows by BDP estimation: a PING whenever DATA arrives and
    none is outstanding, so a busy client sends about one PING per call. swift-nio-http2's flood limit (200
    PING/SETTINGS frames in 30 s by default) took that for an attack and closed such a connection with GOAWAY
    ENHANCE_YOUR_CALM (Tests/e2e_go found it). 400 calls, each followed by a PING, on one connection: every call
    answered, every PING acknowledged, no GOAWAY."""
    GOAWAY, PING, HEADERS, DATA = 7, 6, 1, 0
    sock = _raw_connection(server)
    call = _literal_headers([(":method", "POST"), (":scheme", "http"), (":path", SERVICE + "GetVersion"),
                             (":authority", "vireo"), ("content-type", "application/grpc"), ("te", "trailers")])
    for i in range(400):
        sid, opaque = 1 + 2 * i, (0xB0B0_0000 + i).to_bytes(8, "big")
        sock.sendall(_frame(HEADERS, 4, sid, call) + _frame(DATA, 1, sid, b"\x00\x00\x00\x00\x00") + _frame(PING, 0, 0, opaque))
        answered = acked = False
        while not (answered and acked):
            frame = _read_frame(sock)
            assert frame is not None, f"the server closed the connection after {i} calls with a PING each"
            kind, flags, stream, payload = frame
            assert kind != GOAWAY, f"GOAWAY (error {int.from_bytes(payload[4:8], 'big')}) after {i} calls with a PING each"
            if kind == PING and flags & 1:
                assert payload == opaque
                acked = True
            elif kind == PING:
                sock.sendall(_frame(PING, 1, 0, payload))
            elif kind == HEADERS and stream == sid and flags & 1:  # the trailers: the call is answered
                answered = True
    sock.close()


def test_a_ping_flood_still_ends_the_connection(server):
    """The flood protection is still there: 20,000 PINGs at once get GOAWAY ENHANCE_YOUR_CALM (11), and the
    connection is closed."""
    GOAWAY, PING = 7, 6
    sock = _raw_connection(server)
    flood = b"".join(_frame(PING, 0, 0, i.to_bytes(8, "big")) for i in range(20_000))
    sender = threading.Thread(target=lambda: sock.sendall(flood), daemon=True)  # the server stops reading at the GOAWAY
    sender.start()
    codes = []
    try:
        while (frame := _read_frame(sock)) is not None:
            if frame[0] == GOAWAY:
                codes.append(int.from_bytes(frame[3][4:8], "big"))
    except ConnectionResetError:  # closed with PINGs still unread: the kernel resets it
        pass
    assert codes and codes[0] == 11, f"GOAWAY codes {codes}"
    sock.close()


@pytest.mark.skipif(TARGET != "vireo", reason="raw hostile requests against Vireo's gRPC server (Milvus Lite is in-process)")
def test_hostile_grpc_requests_get_a_status_not_a_crash(server, client, flat, dataset):
    """Windows anywhere in Int64, an nq × topK memory bomb, a wrong num_rows and a bad placeholder group, sent raw:
    each gets a Milvus error in the response Status, and the server keeps answering."""
    from pymilvus.grpc_gen import common_pb2

    channel = grpc.insecure_channel(target(server))
    stub = milvus_pb2_grpc.MilvusServiceStub(channel)
    q = np.asarray(dataset.queries[0], dtype=np.float32)

    def placeholder(vectors):
        ph = common_pb2.PlaceholderValue(tag="$0", type=common_pb2.PlaceholderType.FloatVector,
                                         values=[np.asarray(v, dtype=np.float32).tobytes() for v in vectors])
        return common_pb2.PlaceholderGroup(placeholders=[ph]).SerializeToString()

    def search(vectors, topk, offset=0):
        params = [common_pb2.KeyValuePair(key="topk", value=str(topk)), common_pb2.KeyValuePair(key="offset", value=str(offset)),
                  common_pb2.KeyValuePair(key="anns_field", value="vector"), common_pb2.KeyValuePair(key="params", value="{}")]
        req = milvus_pb2.SearchRequest(collection_name=flat, placeholder_group=placeholder(vectors), dsl_type=common_pb2.DslType.BoolExprV1,
                                       search_params=params, nq=len(vectors))
        return stub.Search(req, timeout=60)

    for topk, offset in [(2**63 - 1, 1), (1, 2**63 - 1), (-(2**63), 0), (16_384, 16_384)]:
        r = search([q], topk, offset)
        assert r.status.code != 0, (topk, offset)
    bomb = search(np.tile(q, (16_384, 1)), 16_384)
    assert bomb.status.code == 1100 and "hits" in bomb.status.reason, bomb.status
    for limit, offset in [(2**63 - 1, 1), (5, -(2**63))]:
        params = [common_pb2.KeyValuePair(key="limit", value=str(limit)), common_pb2.KeyValuePair(key="offset", value=str(offset))]
        r = stub.Query(milvus_pb2.QueryRequest(collection_name=flat, expr="id >= 0", output_fields=["id"], query_params=params), timeout=60)
        assert r.status.code != 0, (limit, offset)
    bad = milvus_pb2.InsertRequest(collection_name=flat, fields_data=[], num_rows=2**32 - 1)
    assert stub.Insert(bad, timeout=60).status.code != 0
    r = stub.Search(milvus_pb2.SearchRequest(collection_name=flat, placeholder_group=b"\xff" * 64, dsl_type=common_pb2.DslType.BoolExprV1), timeout=60)
    assert r.status.code != 0
    ok = search([q], 5)
    assert ok.status.code == 0 and len(ok.results.ids.int_id.data) == 5
    channel.close()
