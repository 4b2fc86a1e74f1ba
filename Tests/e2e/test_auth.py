"""Authentication: Bearer user:password tokens, API keys and HTTP Basic; 401 with code 1800."""
import base64

import pytest
import requests

from conftest import Server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tokens = tmp_path_factory.mktemp("tok") / "tokens"
    tokens.write_text("# accepted credentials\nroot:Milvus\n")
    s = Server(tmp_path_factory.mktemp("auth-data"), "--tokens-file", str(tokens), "--token", "key-abc123",
               "--max-insert-rows", "5", "--max-nq", "2", "--max-topk", "50", "--max-search-hits", "80",
               env={"VIREO_TOKENS": "alice:secret"}).start()
    yield s
    s.stop()


def post(server, path, headers=None, body=None):
    return requests.post(f"{server.base}/v2/vectordb/{path}", json=body or {}, headers=headers or {}, timeout=30)


def test_no_token_is_401(auth_server):
    r = post(auth_server, "collections/list")
    assert r.status_code == 401 and r.json() == {"code": 1800, "message": "user hasn't authenticated"}


@pytest.mark.parametrize("header", ["Bearer root:wrong", "Bearer nope", "Basic " + base64.b64encode(b"root:bad").decode(), "root:Milvus", "Bearer "])
def test_wrong_token_is_401(auth_server, header):
    r = post(auth_server, "collections/list", {"Authorization": header})
    assert r.status_code == 401 and r.json()["code"] == 1800


@pytest.mark.parametrize("header", ["Bearer root:Milvus", "Bearer key-abc123", "Bearer alice:secret", "Basic " + base64.b64encode(b"root:Milvus").decode()])
def test_good_token_is_200(auth_server, header):
    r = post(auth_server, "collections/list", {"Authorization": header})
    assert r.status_code == 200 and r.json()["code"] == 0 and r.json()["data"] == []


def test_health_is_open(auth_server):
    assert requests.get(f"{auth_server.base}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{auth_server.base}/readyz", timeout=10).status_code == 200


def test_metrics_and_openapi_need_a_token(auth_server):
    """With credentials configured, /metrics (collection names, row counts) and /openapi.json are not public."""
    for path in ["metrics", "openapi.json"]:
        r = requests.get(f"{auth_server.base}/{path}", timeout=10)
        assert r.status_code == 401 and r.json()["code"] == 1800, path
        r = requests.get(f"{auth_server.base}/{path}", headers={"Authorization": "Bearer root:Milvus"}, timeout=10)
        assert r.status_code == 200, path
    padded = "root:Milvus" + "\0" * 256  # accepted before the length difference was compared in full
    basic = "Basic " + base64.b64encode(padded.encode()).decode()
    assert post(auth_server, "collections/list", {"Authorization": basic}).status_code == 401
    assert requests.get(f"{auth_server.base}/metrics", headers={"Authorization": basic}, timeout=10).status_code == 401
    # Raw NUL bytes in a header are refused by the HTTP parser itself (400) before authentication.
    assert post(auth_server, "collections/list", {"Authorization": "Bearer " + padded}).status_code in (400, 401)


@pytest.mark.parametrize("host", ["127.evil.example", "127.0.0.1.nip.example"])
def test_loopback_is_decided_on_the_resolved_address(tmp_path, host):
    """A name that merely starts with "127." is not loopback: binding it without credentials is refused."""
    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN), "serve", "--data", str(tmp_path), "--host", host, "--port", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--allow-unauthenticated" in p.stderr, p.stderr


def test_refuses_public_bind_without_auth(tmp_path):
    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN), "serve", "--data", str(tmp_path), "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--allow-unauthenticated" in p.stderr


def test_configured_limits(auth_server):
    c = auth_server.client("root:Milvus")
    c.ok("collections/create", {"collectionName": "lim", "dimension": 2})
    assert "at most 5" in c.err("entities/insert", {"collectionName": "lim", "data": [{"id": i, "vector": [1, i]} for i in range(6)]}, 1804)
    c.ok("entities/insert", {"collectionName": "lim", "data": [{"id": i, "vector": [1, i]} for i in range(5)]})
    c.err("entities/search", {"collectionName": "lim", "data": [[1, 0]] * 3}, 1100)
    assert "[1, 50]" in c.err("entities/search", {"collectionName": "lim", "data": [[1, 0]], "limit": 51}, 1100)
    # nq × (limit + offset) over --max-search-hits (80): refused up front, not allocated.
    assert "hits" in c.err("entities/search", {"collectionName": "lim", "data": [[1, 0]] * 2, "limit": 41}, 1100)
    assert "hits" in c.err("entities/search", {"collectionName": "lim", "data": [[1, 0]] * 2, "limit": 30, "offset": 11}, 1100)
    c.err("entities/search", {"collectionName": "lim", "data": [[1, 0]], "limit": 40, "offset": 11}, 1100)
    assert len(c.ok("entities/search", {"collectionName": "lim", "data": [[1, 0]] * 2, "limit": 40})) == 10
    assert c.count("lim") == 5


def test_tokens_never_reach_the_log(auth_server):
    """After accepted and refused calls with every kind of credential, the server log holds none of them."""
    for header in ["Bearer root:Milvus", "Bearer key-abc123", "Bearer alice:secret", "Bearer root:wrong-secret-xyz",
                   "Basic " + base64.b64encode(b"root:Milvus").decode()]:
        post(auth_server, "collections/list", {"Authorization": header})
        post(auth_server, "entities/query", {"Authorization": header}, {"collectionName": "nope"})
    log = auth_server.stderr()
    assert log, "the server wrote no log at all (the check would be vacuous)"
    for secret in ["Milvus", "key-abc123", "alice:secret", "wrong-secret-xyz", base64.b64encode(b"root:Milvus").decode()]:
        assert secret not in log, f"{secret!r} appears in the server log"
