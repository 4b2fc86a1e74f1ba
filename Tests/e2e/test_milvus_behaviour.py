"""Milvus behaviours found by running Milvus' own REST v2 tests: float literals, json_contains on
nested lists, null bodies, numeric/boolean parameter forms, idempotent create and drop, duplicate
keys in one insert, ignoreGrowing, limit/offset error codes, dropping loaded partitions, AUTOINDEX."""
import concurrent.futures
import json

import numpy as np
import pytest

DIM = 4


def schema_body(name, fields_extra=(), dynamic=False, index=True):
    body = {"collectionName": name, "schema": {"enableDynamicField": dynamic, "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
        *fields_extra]}}
    if index:
        body["indexParams"] = [{"fieldName": "vector", "indexName": "vector", "metricType": "L2"}]
    return body


def ids(rows):
    return sorted(r["id"] for r in rows)


# --- A1: float fields compare with the literal as float32 ------------------------------------------

def test_float_field_literals_compare_as_float32(client, name):
    client.ok("collections/create", schema_body(name, [{"fieldName": "f", "dataType": "Float"}, {"fieldName": "d", "dataType": "Double"}]))
    values = [0.1, 1.7, -3.3, 2.5, 0.1, -3.3]
    client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": i, "vector": [float(i)] * DIM, "f": v, "d": v} for i, v in enumerate(values)]})
    f32 = np.float32

    def expect(expr, pred):
        want = [i for i, v in enumerate(values) if pred(f32(v))]
        got = ids(client.ok("entities/query", {"collectionName": name, "filter": expr, "outputFields": ["id"], "limit": 100}))
        assert got == want, (expr, got, want)

    expect("f in [0.1, 1.7]", lambda v: v in (f32(0.1), f32(1.7)))
    expect("f not in [0.1, 1.7]", lambda v: v not in (f32(0.1), f32(1.7)))
    expect("f == 0.1", lambda v: v == f32(0.1))
    expect("f != 1.7", lambda v: v != f32(1.7))
    expect("f == -3.3", lambda v: v == f32(-3.3))
    expect("f >= 0.1 and f <= 1.7", lambda v: f32(0.1) <= v <= f32(1.7))
    # A Double field keeps double semantics, so the same literal matches the same rows there.
    assert ids(client.ok("entities/query", {"collectionName": name, "filter": "d in [0.1, -3.3]", "limit": 100})) == [0, 2, 4, 5]
    # Search with the filter goes through the same evaluation.
    hits = client.ok("entities/search", {"collectionName": name, "data": [[0.0] * DIM], "limit": 10, "filter": "f == 0.1"})
    assert sorted(h["id"] for h in hits) == [0, 4]


# --- A2: json_contains* on nested lists --------------------------------------------------------------

def test_json_contains_on_nested_lists(client, name):
    client.ok("collections/create", schema_body(name, [{"fieldName": "j", "dataType": "JSON"}]))
    docs = [{"list": [[2, 3], [2, 4]]}, {"list": [[3, 2]]}, {"list": [2, 3]}, {"list": [[2, 3, 4], {"a": 1}]}, {"list": []}]
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": [float(i)] * DIM, "j": d} for i, d in enumerate(docs)]})

    def expect(expr, pred):
        want = [i for i, d in enumerate(docs) if pred(d["list"])]
        got = ids(client.ok("entities/query", {"collectionName": name, "filter": expr, "limit": 100}))
        assert got == want, (expr, got, want)

    expect("json_contains(j['list'], [2, 3])", lambda l: [2, 3] in l)
    expect("json_contains(j['list'], 2)", lambda l: 2 in l)
    expect("json_contains_any(j['list'], [[2, 3]])", lambda l: [2, 3] in l)
    expect("json_contains_any(j['list'], [[3, 2], [2, 3, 4]])", lambda l: [3, 2] in l or [2, 3, 4] in l)
    expect("json_contains_all(j['list'], [[2, 3], [2, 4]])", lambda l: [2, 3] in l and [2, 4] in l)
    expect("json_contains_all(j['list'], [[2, 3], [9, 9]])", lambda l: False)
    assert ids(client.ok("entities/query", {"collectionName": name, "filter": "json_contains(j['list'], [2, 3])", "limit": 100})) == [0]


# --- B1: a null body -----------------------------------------------------------------------------------

def test_null_body_is_accepted_for_payloadless_calls(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM})
    r = client.raw("collections/list", data="null")
    assert r.status_code == 200 and r.json()["code"] == 0 and name in r.json()["data"]
    # A call that needs parameters reports the missing one, as for {}.
    r = client.raw("collections/describe", data="null")
    assert r.status_code == 200 and r.json()["code"] == 1802 and "collectionName" in r.json()["message"]
    # Other non-object bodies stay errors.
    r = client.raw("collections/list", data="[1]")
    assert r.json()["code"] == 1801


# --- B2: numbers and strings for index params; boolean strings ----------------------------------------

@pytest.mark.parametrize("flag", ["1", "true", "True", True])
def test_boolean_strings_are_booleans(client, name, flag):
    body = schema_body(name, [{"fieldName": "n", "dataType": "Int64", "nullable": flag}], dynamic=flag)
    body["schema"]["fields"][0]["isPrimary"] = flag
    client.ok("collections/create", body)
    d = client.ok("collections/describe", {"collectionName": name})
    assert d["enableDynamicField"] is True
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["id"]["primaryKey"] is True and fields["n"]["nullable"] is True


@pytest.mark.parametrize("flag", ["0", "false", "FALSE", False])
def test_false_boolean_strings(client, name, flag):
    client.ok("collections/create", schema_body(name, [{"fieldName": "n", "dataType": "Int64", "nullable": flag}], dynamic=flag))
    d = client.ok("collections/describe", {"collectionName": name})
    assert d["enableDynamicField"] is False
    assert {f["name"]: f for f in d["fields"]}["n"]["nullable"] is False


def test_bad_boolean_is_refused(client, name):
    body = schema_body(name, dynamic="yes")
    msg = client.err("collections/create", body, 1801)
    assert "enableDynamicField" in msg
    assert client.ok("collections/has", {"collectionName": name}) == {"has": False}


def test_index_params_accept_numbers_and_strings(client, name):
    client.ok("collections/create", schema_body(name, index=False))
    client.ok("indexes/create", {"collectionName": name, "indexParams": [{
        "fieldName": "vector", "indexName": "v", "indexType": "HNSW", "metricType": "L2",
        "params": {"M": 8, "efConstruction": "64", "bm25_k1": 1.2, "bm25_b": "0.75", "drop_ratio_build": 0.2}}]})
    ix = client.ok("indexes/describe", {"collectionName": name, "indexName": "v"})[0]
    assert ix["indexType"] == "HNSW"
    # A parameter Vireo builds with must still be an integer.
    client.ok("indexes/drop", {"collectionName": name, "indexName": "v"})
    msg = client.err("indexes/create", {"collectionName": name, "indexParams": [{
        "fieldName": "vector", "indexName": "v", "indexType": "HNSW", "metricType": "L2", "params": {"M": 8.5}}]}, 1801)
    assert "M" in msg


# --- B3: idempotent create and drop ---------------------------------------------------------------------

def test_drop_of_missing_collection_succeeds(client, name):
    assert client.call("collections/drop", {"collectionName": name})["code"] == 0
    client.ok("collections/create", {"collectionName": name, "dimension": DIM})
    client.ok("collections/drop", {"collectionName": name})
    assert client.call("collections/drop", {"collectionName": name})["code"] == 0
    assert client.ok("collections/has", {"collectionName": name}) == {"has": False}


def test_same_create_is_idempotent_and_concurrent_creates_all_succeed(client, name):
    body = {"collectionName": name, "dimension": DIM, "metricType": "L2"}
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(lambda _: client.call("collections/create", body), range(10)))
    assert [r["code"] for r in replies] == [0] * 10, replies
    assert client.ok("collections/list", {}).count(name) == 1
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM}]})
    client.ok("collections/create", body)  # again, after data: still a no-op that keeps the rows
    assert client.count(name) == 1
    # The same name with different parameters is refused, and the collection is unchanged.
    msg = client.err("collections/create", {**body, "dimension": DIM + 1}, 65535)
    assert "different parameters" in msg
    assert client.count(name) == 1
    # Same schema, another metric: the collection exists, its index cannot be replaced this way.
    reply = client.call("collections/create", {**body, "metricType": "IP"})
    assert reply["code"] != 0, reply
    assert client.ok("indexes/describe", {"collectionName": name, "indexName": "vector"})[0]["metricType"] == "L2"


# --- B4: duplicate primary keys in one insert --------------------------------------------------------------

def test_duplicate_keys_in_one_insert_later_row_wins(client, name):
    client.ok("collections/create", schema_body(name, [{"fieldName": "tag", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}}]))
    rows = [{"id": 1, "vector": [1.0] * DIM, "tag": "first"}, {"id": 2, "vector": [2.0] * DIM, "tag": "two"},
            {"id": 1, "vector": [3.0] * DIM, "tag": "second"}]
    r = client.ok("entities/insert", {"collectionName": name, "data": rows})
    assert r["insertCount"] == 3 and r["insertIds"] == [1, 2, 1]
    got = client.ok("entities/get", {"collectionName": name, "id": [1], "outputFields": ["tag", "vector"]})
    assert len(got) == 1 and got[0]["tag"] == "second" and got[0]["vector"] == [3.0] * DIM
    assert client.count(name) == 2
    # An upsert with a repeated key is refused (Milvus 2.6), and changes nothing.
    client.err("entities/upsert", {"collectionName": name, "data": [rows[0], rows[0]]}, 1804)
    assert client.ok("entities/get", {"collectionName": name, "id": [1], "outputFields": ["tag"]})[0]["tag"] == "second"


def test_insert_of_a_stored_key_replaces_its_row(client, name):
    """Milvus' insert does not check stored keys and its reads serve a key's newest row; Vireo replaces the
    row (keys stay unique), also across a flush and in a search."""
    client.ok("collections/create", schema_body(name, [{"fieldName": "tag", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}}]))
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM, "tag": "old"},
                                                                    {"id": 2, "vector": [2.0] * DIM, "tag": "two"}]})
    client.ok("collections/flush", {"collectionName": name})  # the old row is sealed
    r = client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [9.0] * DIM, "tag": "new"}]})
    assert r["insertCount"] == 1 and r["insertIds"] == [1]
    got = client.ok("entities/get", {"collectionName": name, "id": [1], "outputFields": ["tag", "vector"]})
    assert len(got) == 1 and got[0]["tag"] == "new" and got[0]["vector"] == [9.0] * DIM
    assert client.count(name) == 2
    hits = client.ok("entities/search", {"collectionName": name, "data": [[9.0] * DIM], "limit": 5, "outputFields": ["tag"]})
    assert [(h["id"], h["tag"]) for h in hits] == [(1, "new"), (2, "two")]


# --- B5: ignoreGrowing ---------------------------------------------------------------------------------------

def test_ignore_growing_skips_the_newest_rows(client, name):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM, "metricType": "L2"})
    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((60, DIM)).astype(np.float32)
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(40)]})
    client.ok("collections/flush", {"collectionName": name})  # rows 0..<40 sealed
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(40, 60)]})
    q = vecs[50].tolist()
    every = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 60})
    assert sorted(h["id"] for h in every) == list(range(60)) and every[0]["id"] == 50
    sealed = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 60, "searchParams": {"ignoreGrowing": True}})
    assert sorted(h["id"] for h in sealed) == list(range(40))
    want = np.argsort(((vecs[:40] - vecs[50]) ** 2).sum(axis=1))[:5].tolist()
    top = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 5, "searchParams": {"ignoreGrowing": "true", "params": {"ef": 64}}})
    assert [h["id"] for h in top] == want
    off = client.ok("entities/search", {"collectionName": name, "data": [q], "limit": 60, "searchParams": {"ignoreGrowing": False}})
    assert sorted(h["id"] for h in off) == list(range(60))


# --- B6: limit / offset out of range: 65535 (query), 1100 (search over REST; Milvus' REST tests at a7fae63d) ----------

@pytest.mark.parametrize("limit,offset,text", [(0, 0, "topk [0]"), (16385, 0, "topk [16385]"), (10, -1, "offset [-1]"),
                                                (10, 16380, "offset+topk [16390]")])
def test_search_limit_errors_are_1100_over_rest(client, name, limit, offset, text):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM})
    msg = client.err("entities/search", {"collectionName": name, "data": [[1.0] * DIM], "limit": limit, "offset": offset}, 1100)
    assert text in msg and "[1, 16384]" in msg


@pytest.mark.parametrize("limit,offset,text", [(0, 0, "limit [0]"), (10, -1, "offset [-1]"), (16380, 10, "(offset+limit)")])
def test_query_limit_errors_are_65535(client, name, limit, offset, text):
    client.ok("collections/create", {"collectionName": name, "dimension": DIM})
    msg = client.err("entities/query", {"collectionName": name, "filter": "id > 0", "limit": limit, "offset": offset}, 65535)
    assert text in msg


# --- B8: AUTOINDEX described as AUTOINDEX -----------------------------------------------------------------------

def test_autoindex_is_described_as_autoindex(client, name):
    client.ok("collections/create", schema_body(name, [{"fieldName": "n", "dataType": "Int64"}], index=False))
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "vector", "indexName": "v", "indexType": "AUTOINDEX", "metricType": "L2"},
        {"fieldName": "n", "indexName": "n_ix", "indexType": "AUTOINDEX"}]})
    by_name = {ix["indexName"]: ix for name_ in ("v", "n_ix") for ix in client.ok("indexes/describe", {"collectionName": name, "indexName": name_})}
    assert by_name["v"]["indexType"] == "AUTOINDEX" and by_name["n_ix"]["indexType"] == "AUTOINDEX"
    # The same AUTOINDEX again is a no-op; an explicit other type is refused.
    client.ok("indexes/create", {"collectionName": name, "indexParams": [{"fieldName": "vector", "indexName": "v", "indexType": "AUTOINDEX", "metricType": "L2"}]})
    client.err("indexes/create", {"collectionName": name, "indexParams": [{"fieldName": "vector", "indexName": "v", "indexType": "FLAT", "metricType": "L2"}]}, 1100)


# --- B9: every vector field needs an index before load ---------------------------------------------------------

def test_load_needs_an_index_on_every_vector_field(client, name):
    body = schema_body(name, [{"fieldName": "v2", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}])
    # An index on "vector" only: as in Milvus, the collection and its index are created, and the load step of
    # the create answers 1100 naming the field without an index.
    assert "there is no vector index on field: [v2]" in client.err("collections/create", body, 1100)
    assert client.ok("collections/has", {"collectionName": name})["has"] is True
    assert [ix["indexName"] for ix in client.ok("indexes/describe", {"collectionName": name, "indexName": "vector"})] == ["vector"]
    assert client.ok("collections/get_load_state", {"collectionName": name})["loadState"] == "LoadStateNotLoad"
    msg = client.err("collections/load", {"collectionName": name}, 1100)
    assert "there is no vector index on field: [v2]" in msg
    client.err("partitions/load", {"collectionName": name, "partitionNames": ["_default"]}, 1100)
    client.ok("indexes/create", {"collectionName": name, "indexParams": [{"fieldName": "v2", "indexName": "v2", "metricType": "IP"}]})
    client.ok("collections/load", {"collectionName": name})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM, "v2": [0.5] * DIM}]})
    hits = client.ok("entities/search", {"collectionName": name, "data": [[0.5] * DIM], "annsField": "v2", "limit": 1})
    assert [h["id"] for h in hits] == [1]
    # One vector field without an index: the same rule.
    other = name + "_one"
    client.ok("collections/create", schema_body(other, index=False))
    assert "[vector]" in client.err("collections/load", {"collectionName": other}, 1100)


def test_vector_dimension_bounds_are_milvus(client, name):
    """Milvus refuses a vector dimension below 2 or above 32,768 with its own messages (code 1100);
    2 and 32,768 are accepted."""
    for dim in (1, 0, -3):
        body = {"collectionName": name, "schema": {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}}]}}
        msg = client.err("collections/create", body, 1100)
        assert "should be in range 2 ~ 32768" in msg, msg
    body = {"collectionName": name, "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 32769}}]}}
    assert "float vector dimension should be in range 2 ~ 32768" in client.err("collections/create", body, 1100)
    for dim in (2, 32768):
        client.ok("collections/create", {"collectionName": name, "dimension": dim})
        client.ok("collections/drop", {"collectionName": name})


# --- Search by primary keys over REST (Milvus 2.6: `ids` instead of `data`) -------------------------------------

def test_search_by_primary_keys_over_rest(client, name):
    """The stored vectors of the given keys are the queries: each key's hits are its exact top-k (numpy), the key
    itself first; Int64 keys as numbers or their text; the errors Milvus gives for bad `ids`."""
    client.ok("collections/create", schema_body(name, [{"fieldName": "n", "dataType": "Int64"}]))
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((60, DIM)).astype(np.float32)
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": vecs[i].tolist(), "n": i % 3} for i in range(60)]})
    keys = [4, 17, 42]

    def exact(i, allowed):
        d = ((vecs[allowed] - vecs[i]) ** 2).sum(axis=1)
        return [int(allowed[j]) for j in np.argsort(d, kind="stable")[:5]]

    for ids in (keys, [str(k) for k in keys]):
        hits = client.ok("entities/search", {"collectionName": name, "ids": ids, "limit": 5, "outputFields": ["n"]})
        assert len(hits) == 15
        for q, k in enumerate(keys):
            got = [h["id"] for h in hits[q * 5:(q + 1) * 5]]
            assert got == exact(k, np.arange(60)), (k, got)
            assert got[0] == k and hits[q * 5]["distance"] < 1e-4
    # With a filter: the query vector still comes from the key, the hits obey the filter.
    hits = client.ok("entities/search", {"collectionName": name, "ids": [17], "filter": "n == 0", "limit": 5})
    assert [h["id"] for h in hits] == exact(17, np.arange(0, 60, 3))
    # Milvus' errors: both ids and data, an empty list, wrong kinds, keys that name no row.
    assert "mutually exclusive" in client.err("entities/search", {"collectionName": name, "ids": [1], "data": [[0.0] * DIM]}, 1100)
    client.err("entities/search", {"collectionName": name, "ids": []}, 1802)
    for bad in ([1.5], [True], ["abc"], [999999]):
        client.err("entities/search", {"collectionName": name, "ids": bad}, 1100)
    # A VarChar key: strings only, never empty.
    other = name + "_s"
    client.ok("collections/create", {"collectionName": other, "schema": {"fields": [
        {"fieldName": "pk", "dataType": "VarChar", "isPrimary": True, "elementTypeParams": {"max_length": 16}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]},
        "indexParams": [{"fieldName": "vector", "indexName": "vector", "metricType": "L2"}]})
    client.ok("entities/insert", {"collectionName": other, "data": [{"pk": f"k{i}", "vector": vecs[i].tolist()} for i in range(10)]})
    hits = client.ok("entities/search", {"collectionName": other, "ids": ["k3"], "limit": 3})
    assert [h["pk"] for h in hits] == [f"k{j}" for j in exact(3, np.arange(10))[:3]]
    client.err("entities/search", {"collectionName": other, "ids": [""]}, 1100)
    client.err("entities/search", {"collectionName": other, "ids": [3]}, 1100)


# --- Partition keys: defaults route, isolation needs one tenant -------------------------------------------------

def test_partition_key_default_applies_to_null_and_missing_values(client, name):
    client.ok("collections/create", schema_body(name, [
        {"fieldName": "user_id", "dataType": "Int64", "isPartitionKey": True, "defaultValue": 10}]))
    client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": 1, "vector": [1.0] * DIM, "user_id": None}, {"id": 2, "vector": [2.0] * DIM}, {"id": 3, "vector": [3.0] * DIM, "user_id": 7}]})
    rows = client.ok("entities/query", {"collectionName": name, "filter": "user_id == 10", "outputFields": ["user_id"]})
    assert sorted(r["id"] for r in rows) == [1, 2] and {r["user_id"] for r in rows} == {10}
    hits = client.ok("entities/search", {"collectionName": name, "data": [[3.0] * DIM], "filter": "user_id == 10", "limit": 5})
    assert [h["id"] for h in hits] == [2, 1]


def test_partition_key_isolation_searches_one_tenant(client, name):
    body = schema_body(name, [{"fieldName": "tenant", "dataType": "VarChar", "isPartitionKey": True, "elementTypeParams": {"max_length": 16}}])
    body["params"] = {"partitionKeyIsolation": True, "partitionsNum": 4}
    client.ok("collections/create", body)
    client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": i, "vector": [float(i)] * DIM, "tenant": "ab"[i % 2]} for i in range(10)]})
    hits = client.ok("entities/search", {"collectionName": name, "data": [[3.0] * DIM], "filter": 'tenant == "a" and id > 0', "limit": 3})
    got = [h["id"] for h in hits]  # tenant "a" holds the even ids; 2 and 4 tie at distance 1·DIM
    assert sorted(got[:2]) == [2, 4] and got[2] == 6, got
    assert "does not support IN" in client.err("entities/search", {"collectionName": name, "data": [[3.0] * DIM], "filter": 'tenant in ["a", "b"]'}, 1100)
    assert "partition key not found in expr" in client.err("entities/search", {"collectionName": name, "data": [[3.0] * DIM]}, 1100)
    assert "does not support OR" in client.err("entities/search", {"collectionName": name, "data": [[3.0] * DIM], "filter": 'tenant == "a" or id > 3'}, 1100)
    # Queries are not searches: Milvus checks isolation on search only.
    assert len(client.ok("entities/query", {"collectionName": name, "filter": "id >= 0", "limit": 20})) == 10


# --- Smaller REST shapes -----------------------------------------------------------------------------------------

def test_refresh_load_and_rbac_routes(client, name):
    client.ok("collections/create", schema_body(name))
    client.ok("collections/refresh_load", {"collectionName": name})
    client.ok("collections/release", {"collectionName": name})
    client.err("collections/refresh_load", {"collectionName": name}, 101)
    client.err("collections/refresh_load", {"collectionName": name + "_none"}, 100)
    # No Milvus users or roles: empty lists, and writes answer code 10 with what to do instead.
    assert client.ok("users/list", None) == [] and client.ok("roles/list", None) == []
    assert "--token" in client.err("users/create", {"userName": "u", "password": "12345678"}, 10)
    client.err("roles/create", {"roleName": "r"}, 10)
    client.err("roles/grant_privilege", {"roleName": "r", "objectType": "Global", "objectName": "*", "privilege": "All"}, 10)
    client.err("users/describe", {"userName": "u"}, 65535)


def test_milvus_error_wording_that_clients_match(client, name):
    assert "can't find collection" in client.err("collections/describe", {"collectionName": name + "_none"}, 100)
    assert "Invalid collection name" in client.err("collections/create", {"collectionName": "a b", "dimension": DIM}, 1100)
    client.ok("collections/create", schema_body(name))
    msg = client.err("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * (DIM + 1)}]}, 1804)
    assert msg.startswith("fail to deal the insert data") and "dimension" in msg, msg
    assert "failed to create query plan" in client.err("entities/query", {"collectionName": name, "filter": "[1, 2]"}, 1100)
    body = schema_body(name + "_d", [{"fieldName": "j", "dataType": "JSON", "defaultValue": {"a": 1}}])
    assert "convert defaultValue fail" in client.err("collections/create", body, 1100)
    body = {"collectionName": name + "_t", "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True}, {"fieldName": "s", "dataType": "VARCHAR", "elementTypeParams": {"max_length": 8}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}}]}}
    assert "case-sensitive" in client.err("collections/create", body, 1100)
    job = client.ok("collections/compact", {"collectionName": name})["compactionID"]
    assert isinstance(job, int) and job > 0
