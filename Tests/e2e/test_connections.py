"""Connections are a budget: idle and half-open connections cannot starve the server, a flood past
--max-connections is closed at accept, a client that never finishes its first bytes (slowloris) is closed after
--preface-timeout, and an idle keep-alive connection after --idle-timeout. Every check polls with a deadline."""
import json
import resource
import socket
import time

import numpy as np
import pytest

from conftest import Server

DIM = 8


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def host_port(server):
    h, p = server.base.split("//")[1].rsplit(":", 1)
    return h, int(p)


def closed_by_server(sock, timeout):
    """True when the server closes `sock` (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def fill(client, name, n=500):
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": "L2"})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(n)]})
    return vecs


def test_2000_idle_connections_do_not_stop_a_search(tmp_path):
    assert raise_fd_limit(4500) >= 4500, "the test needs 4,500 file descriptors"
    s = Server(tmp_path / "d").start()
    idle = []
    try:
        c = s.client()
        vecs = fill(c, "idle")
        addr = host_port(s)
        for i in range(2000):
            sock = socket.create_connection(addr, timeout=10)
            if i % 2:
                sock.sendall(b"PRI * HTTP/2.0")  # half a gRPC preface, then nothing
            idle.append(sock)
        t0 = time.monotonic()
        hits = c.ok("entities/search", {"collectionName": "idle", "data": [vecs[7].tolist()], "limit": 3})
        assert time.monotonic() - t0 < 5, "a search took more than 5 s beside 2,000 idle connections"
        assert hits[0]["id"] == 7
    finally:
        for sock in idle:
            sock.close()
        assert s.stop() == 0, s.stderr()


def test_connection_cap_preface_and_idle_timeouts(tmp_path):
    s = Server(tmp_path / "d", "--max-connections", "20", "--preface-timeout", "0.5", "--idle-timeout", "1").start()
    try:
        c = s.client()
        fill(c, "cap", 50)
        addr = host_port(s)
        # Slowloris: three bytes of a request line, then silence — closed after the preface timeout.
        slow = socket.create_connection(addr, timeout=10)
        slow.sendall(b"GET")
        t0 = time.monotonic()
        assert closed_by_server(slow, 10) and time.monotonic() - t0 < 5
        slow.close()
        # A keep-alive REST connection left idle is closed after the idle timeout.
        keep = socket.create_connection(addr, timeout=10)
        body = b'{"collectionName": "cap"}'
        keep.sendall(b"POST /v2/vectordb/collections/has HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        keep.settimeout(10)
        assert b"200 OK" in keep.recv(4096)
        t0 = time.monotonic()
        assert closed_by_server(keep, 10) and 0.5 < time.monotonic() - t0 < 8
        keep.close()
    finally:
        assert s.stop() == 0, s.stderr()


def test_connection_cap(tmp_path):
    s = Server(tmp_path / "d", "--max-connections", "20").start()
    try:
        c = s.client()
        fill(c, "cap", 50)
        c.session.close()  # no pooled connection of ours counts against the cap
        addr = host_port(s)
        deadline = time.monotonic() + 10
        socks = []
        while True:
            socks = [socket.create_connection(addr, timeout=10) for _ in range(25)]
            time.sleep(0.3)  # the server closes the ones past the cap at accept; retried below until the deadline
            closed = sum(closed_by_server(x, 0.01) for x in socks)
            if closed == 5 or time.monotonic() > deadline:
                break
            for x in socks:  # our earlier connection was still counted: try again
                x.close()
            time.sleep(0.2)
        assert closed == 5, f"{closed} of 25 connections were closed with a cap of 20"
        for x in socks:
            x.close()
        # Once they are gone (the server sees the closes), requests are served again.
        deadline = time.monotonic() + 10
        while True:
            try:
                assert c.ok("collections/has", {"collectionName": "cap"})["has"] is True
                break
            except Exception:
                assert time.monotonic() < deadline, "the server did not accept connections again after the flood"
                time.sleep(0.05)
    finally:
        assert s.stop() == 0, s.stderr()


def heavy_collection(client, name, n=20_000, dim=64):
    rng = np.random.default_rng(8)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    client.ok("collections/create", {"collectionName": name, "dimension": dim, "metricType": "L2"})
    for s in range(0, n, 5000):
        client.ok("entities/insert", {"collectionName": name,
                                      "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(s, min(n, s + 5000))]})
    return vecs


def test_overload_is_shed_with_503_and_retry_after(tmp_path):
    """With one read thread and no queue, concurrent batch searches beyond it are refused at once (HTTP 503,
    Retry-After, Milvus code 8) instead of queueing; the admitted ones answer, and the server is fine after."""
    import threading

    import requests

    s = Server(tmp_path / "d", "--max-concurrent-reads", "1", "--max-queued-reads", "0").start()
    try:
        c = s.client()
        vecs = heavy_collection(c, "heavy")
        body = {"collectionName": "heavy", "data": vecs[:1000].tolist(), "limit": 10,
                "searchParams": {"params": {"exact": True}}}
        results = []
        lock = threading.Lock()
        go = threading.Barrier(8)

        def fire():
            go.wait()
            r = requests.post(f"{s.base}/v2/vectordb/entities/search", json=body, timeout=120)
            with lock:
                results.append((r.status_code, r.headers.get("Retry-After"), r.json().get("code")))

        threads = [threading.Thread(target=fire) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        shed = [r for r in results if r[0] == 503]
        served = [r for r in results if r[0] == 200]
        assert len(results) == 8 and len(shed) + len(served) == 8, results
        assert shed and served, f"expected some searches shed and some served: {results}"
        assert all(r[1] == "1" and r[2] == 8 for r in shed), shed
        assert all(r[2] == 0 for r in served), served
        hits = c.ok("entities/search", {"collectionName": "heavy", "data": [vecs[3].tolist()], "limit": 1})
        assert hits[0]["id"] == 3
    finally:
        assert s.stop() == 0, s.stderr()


def test_request_timeout_stops_the_work(tmp_path):
    """A search past its Request-Timeout is answered at the deadline and its work is cancelled: with one read
    thread, the next search is served at once instead of waiting for the abandoned one to finish."""
    import requests

    s = Server(tmp_path / "d", "--max-concurrent-reads", "1").start()
    try:
        c = s.client()
        vecs = heavy_collection(c, "slow", n=40_000)
        body = {"collectionName": "slow", "data": vecs[:4000].tolist(), "limit": 10, "searchParams": {"params": {"exact": True}}}
        t0 = time.monotonic()
        r = requests.post(f"{s.base}/v2/vectordb/entities/search", json=body, headers={"Request-Timeout": "0.05"}, timeout=120)
        assert r.json()["code"] != 0 and "timed out" in r.json()["message"], r.json()
        assert time.monotonic() - t0 < 5
        # Untimed, the same search takes far longer than the small one below; the small one must not queue behind
        # the cancelled work (it stops at its next segment boundary).
        t1 = time.monotonic()
        hits = c.ok("entities/search", {"collectionName": "slow", "data": [vecs[5].tolist()] * 8, "limit": 1})
        small = time.monotonic() - t1
        t2 = time.monotonic()
        c.ok("entities/search", body)
        full = time.monotonic() - t2
        assert hits[0]["id"] == 5
        assert small < full / 2, f"a small search took {small:.3f} s after a cancelled one; the full search takes {full:.3f} s"
    finally:
        assert s.stop() == 0, s.stderr()


@pytest.mark.parametrize("flags", [("--idle-timeout", "1"), ("--max-connection-age", "1")])
def test_grpc_connection_gets_goaway(tmp_path, flags):
    """An HTTP/2 (gRPC) connection without streams past --idle-timeout, or older than --max-connection-age, is
    closed gracefully: GOAWAY, then the close."""
    import h2.config
    import h2.connection

    s = Server(tmp_path / "d", *flags).start()
    try:
        sock = socket.create_connection(host_port(s), timeout=10)
        h = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        h.initiate_connection()
        sock.sendall(h.data_to_send())
        # Read raw frames (9-byte header: length, type, flags, stream id) until a GOAWAY (type 7) or the close;
        # SETTINGS are acknowledged so the server sees a well-behaved, merely idle client.
        t0 = time.monotonic()
        goaway = False
        buf = b""
        while not goaway:
            assert time.monotonic() - t0 < 10, "no GOAWAY within 10 s"
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 9:
                length = int.from_bytes(buf[0:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, flags = buf[3], buf[4]
                buf = buf[9 + length:]
                if ftype == 0x7:
                    goaway = True
                elif ftype == 0x4 and not flags & 0x1:
                    sock.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")  # SETTINGS ACK
        assert goaway, "the connection closed without GOAWAY"
        assert time.monotonic() - t0 > 0.5
        sock.close()
    finally:
        assert s.stop() == 0, s.stderr()


def test_inflight_body_budget_answers_429(tmp_path):
    """With --max-inflight-body-mib 1, a request whose body would pass the server-wide budget while another body is
    being received gets 429 + Retry-After (code 8); once that one is answered the budget is free again."""
    s = Server(tmp_path / "d", "--max-inflight-body-mib", "1").start()
    try:
        c = s.client()
        c.ok("collections/create", {"collectionName": "b", "dimension": DIM})
        addr = host_port(s)
        # A body that announces 1 MiB and sends 900 KiB of it, then stalls: it holds 900 KiB of the budget.
        stalled = socket.create_connection(addr, timeout=10)
        stalled.sendall(b"POST /v2/vectordb/entities/insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1048576\r\n\r\n" + b" " * (900 * 1024))
        rows = [{"id": i, "vector": [0.25] * DIM} for i in range(3000)]  # ~200 KiB of JSON
        deadline = time.monotonic() + 10
        while True:
            r = c.raw("entities/insert", data=json.dumps({"collectionName": "b", "data": rows}))
            if r.status_code == 429 or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the stalled bytes may not have been read yet; poll until they are
        assert r.status_code == 429 and r.headers.get("Retry-After") == "1" and r.json()["code"] == 8, r.text[:200]
        stalled.close()
        deadline = time.monotonic() + 10
        while True:
            r = c.raw("entities/insert", data=json.dumps({"collectionName": "b", "data": rows}))
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status_code == 200 and r.json()["code"] == 0, r.text[:200]
        assert c.count("b") == 3000
    finally:
        assert s.stop() == 0, s.stderr()


def test_result_bytes_are_bounded(tmp_path):
    """With --max-result-mib 1, a query or search whose rows would pass 1 MiB gets code 1100 with a paging hint;
    a page within it answers."""
    s = Server(tmp_path / "d", "--max-result-mib", "1").start()
    try:
        c = s.client()
        c.ok("collections/create", {"collectionName": "t", "dimension": 4})
        text = "y" * 4000
        c.ok("entities/insert", {"collectionName": "t", "data": [{"id": i, "vector": [1, 2, 3, i], "text": text} for i in range(600)]})
        msg = c.err("entities/query", {"collectionName": "t", "filter": "id >= 0", "outputFields": ["text"], "limit": 600}, 1100)
        assert "page" in msg
        c.err("entities/search", {"collectionName": "t", "data": [[1, 2, 3, 0]], "limit": 600, "outputFields": ["text"]}, 1100)
        assert len(c.ok("entities/query", {"collectionName": "t", "filter": "id >= 0", "outputFields": ["text"], "limit": 100})) == 100
        assert len(c.ok("entities/search", {"collectionName": "t", "data": [[1, 2, 3, 0]], "limit": 600})) == 600
    finally:
        assert s.stop() == 0, s.stderr()
