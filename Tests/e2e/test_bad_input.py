"""Client mistakes get Milvus error codes (HTTP 200, or 413 for a body over the limit) with messages
that say what to fix — never a 5xx — and nothing stored is lost or changed."""
import json

import pytest

DIM = 8


@pytest.fixture(scope="module")
def coll(client):
    name = "bad_input"
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": "L2"})
    rows = [{"id": i, "vector": [float(i)] * DIM, "text": f"row {i}"} for i in range(100)]
    client.ok("entities/insert", {"collectionName": name, "data": rows})
    return name


def intact(client, coll):
    """Nothing lost: all 100 rows still there with their values."""
    assert client.count(coll) == 100
    got = client.ok("entities/get", {"collectionName": coll, "id": [0, 57, 99], "outputFields": ["vector", "text"]})
    assert [(r["id"], r["vector"][0], r["text"]) for r in got] == [(0, 0.0, "row 0"), (57, 57.0, "row 57"), (99, 99.0, "row 99")]


def test_wrong_dimension(client, coll):
    msg = client.err("entities/insert", {"collectionName": coll, "data": [{"id": 500, "vector": [1.0] * (DIM + 1)}]}, 1804)
    assert "dimension" in msg.lower() or str(DIM) in msg
    client.err("entities/search", {"collectionName": coll, "data": [[1.0] * 3]}, 1100)
    intact(client, coll)


def test_nan_and_infinity(client, coll):
    body = '{"collectionName": "%s", "data": [{"id": 501, "vector": [NaN, 1, 1, 1, 1, 1, 1, 1]}]}' % coll
    r = client.raw("entities/insert", data=body)
    assert r.status_code == 200 and r.json()["code"] == 1801 and "NaN" in r.json()["message"]
    body = '{"collectionName": "%s", "data": [{"id": 501, "vector": [1e999, 1, 1, 1, 1, 1, 1, 1]}]}' % coll
    r = client.raw("entities/insert", data=body)
    assert r.status_code == 200 and r.json()["code"] == 1801
    intact(client, coll)


def test_unknown_field_and_wrong_type(client, coll):
    # The quick-created collection has a dynamic field, so unknown keys are kept: use a wrong type instead.
    client.err("entities/insert", {"collectionName": coll, "data": [{"id": "x", "vector": [1.0] * DIM}]}, 1804)
    client.err("entities/insert", {"collectionName": coll, "data": [{"id": 502, "vector": "abc"}]}, 1804)
    client.err("entities/insert", {"collectionName": coll, "data": [{"id": 503}]}, 1804)
    # A key twice in one upsert (Milvus 2.6 refuses it; in one insert it is accepted: test_milvus_behaviour.py).
    client.err("entities/upsert", {"collectionName": coll, "data": [{"id": 600, "vector": [1.0] * DIM}, {"id": 600, "vector": [1.0] * DIM}]}, 1804)
    client.err("entities/insert", {"collectionName": coll, "data": 5}, 1801)
    client.err("entities/search", {"collectionName": coll, "data": [[1, "a", 1, 1, 1, 1, 1, 1]]}, 1801)
    client.err("entities/get", {"collectionName": coll, "id": ["abc"]}, 1806)
    intact(client, coll)


def test_unknown_field_without_dynamic(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "params": {"enableDynamicField": False}})
    msg = client.err("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM, "color": "red"}]}, 1804)
    assert "color" in msg
    assert client.count(name) == 0
    client.err("entities/query", {"collectionName": name, "filter": "", "outputFields": ["color"]}, 1100)
    client.ok("collections/drop", {"collectionName": name})


def test_malformed_filter(client, coll):
    msg = client.err("entities/query", {"collectionName": coll, "filter": "id >> 3"}, 1100)
    assert msg
    client.err("entities/search", {"collectionName": coll, "data": [[1.0] * DIM], "filter": "text == "}, 1100)
    client.err("entities/delete", {"collectionName": coll, "filter": "id in [1, 2"}, 1100)
    client.err("entities/delete", {"collectionName": coll}, 1802)
    intact(client, coll)


@pytest.mark.parametrize("body", ['{"collectionName": ', "not json", "[1, 2]", '{"collectionName": "bad_input", "data": [{"id": 1,}]}', "\"str\"", "{" * 1000])
def test_malformed_json(client, coll, body):
    r = client.raw("entities/insert", data=body)
    assert r.status_code == 200 and r.json()["code"] == 1801, r.text
    intact(client, coll)


def test_missing_parameters(client, coll):
    client.err("entities/search", {"collectionName": coll}, 1802)
    client.err("collections/describe", {}, 1802)
    client.err("entities/insert", {"collectionName": coll}, 1802)
    client.err("collections/create", {"collectionName": "x_no_dim"}, 1802)
    client.err("entities/search", {"collectionName": coll, "data": [[1.0] * DIM], "limit": 0}, 1100)
    client.err("entities/search", {"collectionName": coll, "data": [[1.0] * DIM], "limit": 20000}, 1100)
    client.err("entities/search", {"collectionName": coll, "data": [[1.0] * DIM], "limit": "ten"}, 1801)
    client.err("collections/create", {"collectionName": "x_bad", "dimension": 4, "metricType": "HAMMING"}, 1100)
    client.err("collections/create", {"collectionName": "x bad", "dimension": 4}, 1100)
    client.err("collections/create", {"collectionName": coll, "dimension": 4}, 65535)  # exists, other parameters
    intact(client, coll)


def test_oversized_body_is_413(client, coll):
    big = json.dumps({"collectionName": coll, "data": [{"id": 10_000 + i, "vector": [0.5] * DIM, "text": "x" * 4096} for i in range(17_000)]})
    assert len(big) > 64 << 20
    r = client.raw("entities/insert", data=big)
    assert r.status_code == 413 and r.json()["code"] != 0 and "MiB" in r.json()["message"]
    intact(client, coll)


def test_missing_collection_is_100(client, coll):
    for path, body in [("entities/insert", {"data": [{"id": 1, "vector": [1.0] * DIM}]}), ("entities/search", {"data": [[1.0] * DIM]}),
                       ("entities/query", {"filter": ""}), ("collections/describe", {}), ("collections/get_load_state", {}),
                       ("entities/get", {"id": 1}), ("indexes/list", {})]:
        client.err(path, {"collectionName": "does_not_exist", **body}, 100)
    # Dropping a missing collection succeeds, as in Milvus (test_milvus_behaviour.py).
    assert client.call("collections/drop", {"collectionName": "does_not_exist"})["code"] == 0
    intact(client, coll)


def test_unknown_endpoint_is_404(client):
    assert client.raw("entities/frobnicate", {}).status_code == 404


INT64_MAX = 9_223_372_036_854_775_807
INT64_MIN = -9_223_372_036_854_775_808


@pytest.mark.parametrize("limit,offset", [(INT64_MAX, 1), (1, INT64_MAX), (INT64_MAX, INT64_MAX), (INT64_MIN, 0), (5, INT64_MIN),
                                          (16_384, 1), (-1, 0)])
def test_window_overflow_is_refused_not_a_crash(client, coll, limit, offset):
    """limit/offset anywhere in Int64: a Milvus error (65535 for query; 1100 for search over REST, as Milvus' REST
    handler reports it), never an integer-overflow trap (which killed the server)."""
    q = [0.5] * DIM
    client.err("entities/query", {"collectionName": coll, "filter": "id >= 0", "limit": limit, "offset": offset}, 65535)
    client.err("entities/search", {"collectionName": coll, "data": [q], "limit": limit, "offset": offset}, 1100)
    hybrid = {"collectionName": coll, "search": [{"data": [q], "annsField": "vector"}], "rerank": {"strategy": "rrf", "params": {"k": 60}},
              "limit": limit, "offset": offset}
    client.err("entities/hybrid_search", hybrid, 1100)
    intact(client, coll)


def test_filter_arithmetic_edges_do_not_trap(client, coll):
    """Int64.min % -1 and overflowing + - * in a filter evaluate (wrapping, as Milvus' C++ does) instead of trapping."""
    for expr in [f"(id - {INT64_MAX} - 1) % -1 == 0", f"id + {INT64_MAX} < 0", f"id * {INT64_MAX} == 0", f"id - {INT64_MAX} - 2 > 0"]:
        rows = client.ok("entities/query", {"collectionName": coll, "filter": expr, "outputFields": ["id"], "limit": 200})
        assert isinstance(rows, list), expr
    got = client.ok("entities/query", {"collectionName": coll, "filter": f"(id - {INT64_MAX} - 1) % -1 == 0", "outputFields": ["id"], "limit": 200})
    assert sorted(r["id"] for r in got) == list(range(100))  # x % -1 is 0 for every x
    intact(client, coll)
