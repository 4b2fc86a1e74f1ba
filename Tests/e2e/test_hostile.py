"""A hostile client against the real binary: each attack gets an answer (or a closed connection), the server stays
alive, its memory stays bounded, and every acknowledged row is intact afterwards."""
import json
import socket
import time

import numpy as np
import pytest

from conftest import Server

DIM = 16
ROWS = 20_000


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("hostile")).start()
    c = s.client()
    rng = np.random.default_rng(17)
    vecs = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    c.ok("collections/create", {"collectionName": "h", "dimension": DIM, "metricType": "L2"})
    for start in range(0, ROWS, 5000):
        c.ok("entities/insert", {"collectionName": "h", "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(start, start + 5000)]})
    global BASELINE_RSS
    BASELINE_RSS = rss_mib(s.proc.pid)
    yield s, c, vecs
    s.stop()


BASELINE_RSS = None
# What any one attack may leave the server holding above its size after ingest (caches, allocator slack).
RSS_SLACK_MIB = 512


def intact(server, client, vecs):
    assert server.proc.poll() is None, "the server died"
    grown = rss_mib(server.proc.pid) - BASELINE_RSS
    assert grown < RSS_SLACK_MIB, f"the server's RSS grew {grown:.0f} MiB over its size after ingest"
    assert client.count("h") == ROWS
    sample = [0, 4321, ROWS - 1]
    got = client.ok("entities/get", {"collectionName": "h", "id": sample, "outputFields": ["vector"]})
    assert [r["id"] for r in got] == sample
    for r in got:
        assert np.array_equal(np.asarray(r["vector"], dtype=np.float32), vecs[r["id"]])
    hits = client.ok("entities/search", {"collectionName": "h", "data": [vecs[77].tolist()], "limit": 1})
    assert hits[0]["id"] == 77


def test_memory_bomb_nq_times_topk_is_refused_up_front(hostile):
    """nq 16,384 × topK 16,384 over 20,000 rows used to grow the server past 4.5 GB: now refused before any work."""
    s, c, vecs = hostile
    before = rss_mib(s.proc.pid)
    q = np.zeros((16_384, DIM), dtype=np.float32)
    q[:, 0] = 1
    body = json.dumps({"collectionName": "h", "data": q.tolist(), "limit": 16_384})
    t0 = time.monotonic()
    r = c.raw("entities/search", data=body)
    assert r.status_code == 200 and r.json()["code"] == 1100 and "hits" in r.json()["message"], r.text[:300]
    assert time.monotonic() - t0 < 30
    assert rss_mib(s.proc.pid) < before + 400, "the refused search still allocated"
    intact(s, c, vecs)


@pytest.mark.parametrize("expr", [
    "(" * 10_000 + "id > 0" + ")" * 10_000,
    "not " * 10_000 + "id > 0",
    " or ".join(f"id == {i}" for i in range(100_000)),  # ~1.3 MB
    "id in [" + ",".join(["1"] * 300_000) + "]",
])
def test_deep_and_huge_filters(hostile, expr):
    s, c, vecs = hostile
    r = c.raw("entities/query", data=json.dumps({"collectionName": "h", "filter": expr, "limit": 5}))
    assert r.status_code in (200, 413) and r.json()["code"] != 0, r.text[:200]
    intact(s, c, vecs)


@pytest.mark.parametrize("body", [
    b'{"collectionName": "h", "data": [{"id": 900001, "vector": [NaN' + b', 1' * (DIM - 1) + b']}]}',
    b'{"collectionName": "h", "data": [{"id": 900002, "vector": [1e999' + b', 1' * (DIM - 1) + b']}]}',
    b'{"collectionName": "h", "data": [{"id": 900003, "vector": [1, 2, 3]}]}',
    b'{"collectionName": "h\xff\xfe", "data": [{"id": 900004, "vector": [1' + b', 1' * (DIM - 1) + b']}]}',
    b'{"collectionName": "h", "data": [{"id": 900005, "vector": [1' + b', 1' * (DIM - 1) + b'], "s": "\xc3\x28"}]}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
])
def test_malformed_inserts_and_json(hostile, body):
    s, c, vecs = hostile
    r = c.raw("entities/insert", data=body)
    assert r.status_code == 200 and r.json()["code"] != 0, r.text[:200]
    intact(s, c, vecs)


def test_70_mib_body_is_413(hostile):
    s, c, vecs = hostile
    before = rss_mib(s.proc.pid)
    big = b'{"collectionName": "h", "data": [' + b'{"id": 1, "vector": [0.5]},' * (70 * 1024 * 1024 // 27) + b'{"id": 2}]}'
    r = c.raw("entities/insert", data=big)
    assert r.status_code == 413 and r.json()["code"] != 0
    assert rss_mib(s.proc.pid) < before + 200, "the refused body was kept"
    intact(s, c, vecs)


def test_stalled_h2_streams_announcing_64_mib(hostile):
    """gRPC streams that announce 64 MiB messages, send a few bytes and stall: the server does not reserve the
    announced sizes (RSS stays bounded) and keeps serving."""
    import h2.config
    import h2.connection

    s, c, vecs = hostile
    host, port = s.base.split("//")[1].rsplit(":", 1)
    before = rss_mib(s.proc.pid)
    conns = []
    for _ in range(8):
        sock = socket.create_connection((host, int(port)), timeout=10)
        h = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        h.initiate_connection()
        for k in range(32):
            sid = h.get_next_available_stream_id()
            h.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                                 (":path", "/milvus.proto.milvus.MilvusService/Search"),
                                 ("content-type", "application/grpc"), ("te", "trailers")])
            h.send_data(sid, b"\x00" + (64 << 20).to_bytes(4, "big") + b"\x0a" * 10)
        sock.sendall(h.data_to_send())
        conns.append((sock, h))
    # A PING round trip on each connection: the server answers frames in order, so once the ACK is back it has
    # read every DATA frame sent before it.
    import h2.events
    for sock, h in conns:
        h.ping(b"vireo-ok")
        sock.sendall(h.data_to_send())
        acked = False
        deadline = time.monotonic() + 10
        while not acked:
            assert time.monotonic() < deadline, "no PING ACK within 10 s"
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            acked = any(isinstance(e, h2.events.PingAckReceived) for e in h.receive_data(data))
            sock.sendall(h.data_to_send())
    grown = rss_mib(s.proc.pid) - before
    assert grown < 200, f"RSS grew {grown:.0f} MiB for 256 stalled streams announcing 64 MiB each"
    intact(s, c, vecs)
    for sock, _ in conns:
        sock.close()
