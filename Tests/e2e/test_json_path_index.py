"""JSON path indexes over REST (Milvus 2.6: INVERTED on a JSON field with json_path and
json_cast_type), query's ignoreGrowing, and defaultValue as Milvus' describe shapes it. Expected
rows come from evaluating the filters in plain Python over the inserted documents."""
import random

DIM = 4


def collection(client, name, extra=()):
    client.ok("collections/create", {"collectionName": name, "schema": {"fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "meta", "dataType": "JSON", "nullable": True}, *extra]},
        "indexParams": [{"fieldName": "vector", "indexName": "vector", "metricType": "L2"}]})


def documents(seed, n):
    rng = random.Random(seed)

    def scalar():
        return rng.choice([rng.randint(-3, 5), rng.randint(-6, 10) / 2, rng.choice(["x", "y", "3", ""]), rng.random() < 0.5, None])
    docs = []
    for _ in range(n):
        d = {}
        if rng.random() < 0.8:
            d["a"] = scalar()
        if rng.random() < 0.5:
            d["o"] = {"b": scalar()} if rng.random() < 0.75 else scalar()
        if rng.random() < 0.7:
            d["tags"] = [scalar() for _ in range(rng.randint(0, 4))]
        docs.append(d)
    return docs


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cmp(op, x, y):
    """The filter's comparison: same kinds (numbers with numbers) compare, others are false."""
    if x is None:
        return False
    if num(x) and num(y) or isinstance(x, str) and isinstance(y, str):
        return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
    if isinstance(x, bool) and isinstance(y, bool) and op in ("==", "!="):
        return (x == y) == (op == "==")
    return False


def path(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def contains(arr, v):
    return isinstance(arr, list) and any(cmp("==", e, v) for e in arr if not isinstance(e, (list, dict)))


CASES = [
    ('meta["a"] > 1', lambda d: cmp(">", path(d, "a"), 1)),
    ('meta["a"] <= 2.5', lambda d: cmp("<=", path(d, "a"), 2.5)),
    ('meta["a"] == "x"', lambda d: cmp("==", path(d, "a"), "x")),
    ('meta["a"] != "x"', lambda d: cmp("!=", path(d, "a"), "x")),
    ('meta["a"] == true', lambda d: cmp("==", path(d, "a"), True)),
    ('meta["a"] in [1, 2, -3]', lambda d: any(cmp("==", path(d, "a"), v) for v in (1, 2, -3))),
    ('meta["a"] not in [1, 2]', lambda d: path(d, "a") is not None and not any(cmp("==", path(d, "a"), v) for v in (1, 2))),
    ('meta["o"]["b"] >= 0 and meta["o"]["b"] < 4', lambda d: cmp(">=", path(d, "o", "b"), 0) and cmp("<", path(d, "o", "b"), 4)),
    ('not (meta["a"] > 0)', lambda d: not cmp(">", path(d, "a"), 0)),
    ('json_contains(meta["tags"], 1)', lambda d: contains(path(d, "tags"), 1)),
    ('json_contains_any(meta["tags"], [2, "y"])', lambda d: contains(path(d, "tags"), 2) or contains(path(d, "tags"), "y")),
    ('json_contains_all(meta["tags"], [1, "x"])', lambda d: contains(path(d, "tags"), 1) and contains(path(d, "tags"), "x")),
]


def ids(rows):
    return sorted(r["id"] for r in rows)


def test_json_path_indexes_give_the_unindexed_results(client, name):
    collection(client, name)
    docs = documents(7, 400)
    client.ok("entities/insert", {"collectionName": name, "data": [
        {"id": i, "vector": [float(i % 7)] * DIM, "meta": d} for i, d in enumerate(docs)]})
    client.ok("collections/flush", {"collectionName": name})

    def check():
        for expr, pred in CASES:
            got = ids(client.ok("entities/query", {"collectionName": name, "filter": expr, "outputFields": ["id"], "limit": 1000}))
            assert got == [i for i, d in enumerate(docs) if pred(d)], expr
    check()
    indexes = [("a_num", 'meta["a"]', "DOUBLE"), ("a_str", "meta['a']", "varchar"), ("a_bool", 'meta["a"]', "BOOL"),
               ("ob", 'meta["o"]["b"]', "DOUBLE"), ("tags_num", 'meta["tags"]', "ARRAY_DOUBLE"), ("tags_str", 'meta["tags"]', "ARRAY_VARCHAR")]
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "meta", "indexName": n, "indexType": "INVERTED", "params": {"json_path": p, "json_cast_type": t}} for n, p, t in indexes]})
    listed = client.ok("indexes/list", {"collectionName": name})
    assert set(listed) == {"vector"} | {n for n, _, _ in indexes}
    d = client.ok("indexes/describe", {"collectionName": name, "indexName": "a_str"})
    assert len(d) == 1 and d[0]["fieldName"] == "meta" and d[0]["indexType"] == "INVERTED"
    assert d[0]["params"]["json_path"] == "meta['a']" and d[0]["params"]["json_cast_type"] == "VARCHAR"
    check()
    # The same index again is accepted; another one under a taken name is refused.
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "meta", "indexName": "a_num", "indexType": "INVERTED", "params": {"json_path": 'meta["a"]', "json_cast_type": "DOUBLE"}}]})
    client.err("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "meta", "indexName": "a_num", "indexType": "INVERTED", "params": {"json_path": 'meta["b"]', "json_cast_type": "DOUBLE"}}]}, 1100)
    client.ok("indexes/drop", {"collectionName": name, "indexName": "a_num"})
    assert "a_num" not in client.ok("indexes/list", {"collectionName": name})
    check()


def test_json_path_index_errors(client, name):
    collection(client, name, [{"fieldName": "n", "dataType": "Int64"}])

    def refuse(params, text, field="meta", index_type="INVERTED"):
        msg = client.err("indexes/create", {"collectionName": name, "indexParams": [
            {"fieldName": field, "indexName": "j", "indexType": index_type, "params": params}]}, 1100)
        assert text in msg, msg
    refuse({"json_path": 'meta["a"]'}, "json index must specify cast type")
    refuse({"json_path": 'meta["a"]', "json_cast_type": "INT64"}, "json_cast_type INT64 is not supported")
    refuse({"json_path": 'meta["a"]', "json_cast_type": "VARCHAR", "json_cast_function": "STRING_TO_DOUBLE"},
           "json_cast_function STRING_TO_DOUBLE is not supported for json_cast_type VARCHAR")
    refuse({"json_path": 'other["a"]', "json_cast_type": "DOUBLE"}, "not a valid path into JSON field 'meta'")
    refuse({"json_path": 'meta["a"]', "json_cast_type": "DOUBLE"}, "cannot index JSON field", index_type="HNSW")
    # AUTOINDEX on a JSON path is an INVERTED path index, described as AUTOINDEX.
    client.ok("indexes/create", {"collectionName": name, "indexParams": [
        {"fieldName": "meta", "indexName": "auto", "indexType": "AUTOINDEX", "params": {"json_path": 'meta["k"]', "json_cast_type": "double",
                                                                                           "json_cast_function": "STRING_TO_DOUBLE"}}]})
    d = client.ok("indexes/describe", {"collectionName": name, "indexName": "auto"})[0]
    assert d["indexType"] == "AUTOINDEX" and d["params"]["json_cast_type"] == "DOUBLE" and d["params"]["json_cast_function"] == "STRING_TO_DOUBLE"


def test_query_ignore_growing(client, name):
    collection(client, name)
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": [1.0] * DIM} for i in range(30)]})
    client.ok("collections/flush", {"collectionName": name})
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": i, "vector": [1.0] * DIM} for i in range(30, 45)]})
    q = {"collectionName": name, "filter": "id >= 10", "outputFields": ["id"], "limit": 100}
    assert ids(client.ok("entities/query", q)) == list(range(10, 45))
    assert ids(client.ok("entities/query", {**q, "ignoreGrowing": True})) == list(range(10, 30))
    assert ids(client.ok("entities/query", {**q, "ignoreGrowing": "false"})) == list(range(10, 45))
    count = {"collectionName": name, "filter": "", "outputFields": ["count(*)"]}
    assert client.ok("entities/query", {**count, "ignoreGrowing": True})[0]["count(*)"] == 30
    assert client.ok("entities/query", count)[0]["count(*)"] == 45


def test_default_value_in_describe(client, name):
    fields = [("b", "Bool", True, {"BoolData": True}), ("i8", "Int8", -3, {"IntData": -3}), ("i16", "Int16", 300, {"IntData": 300}),
              ("i32", "Int32", 7, {"IntData": 7}), ("i64", "Int64", 1 << 40, {"LongData": 1 << 40}), ("f", "Float", 1.5, {"FloatData": 1.5}),
              ("d", "Double", 2.25, {"DoubleData": 2.25}), ("s", "VarChar", "hi", {"StringData": "hi"})]
    extra = [{"fieldName": n, "dataType": t, "defaultValue": v, **({"elementTypeParams": {"max_length": 8}} if t == "VarChar" else {})}
             for n, t, v, _ in fields]
    collection(client, name, extra)
    described = {f["name"]: f for f in client.ok("collections/describe", {"collectionName": name})["fields"]}
    for n, _, _, shape in fields:
        assert described[n]["defaultValue"] == {"Data": shape}, (n, described[n])
    assert "defaultValue" not in described["id"]
    # The default is applied to rows that omit the field.
    client.ok("entities/insert", {"collectionName": name, "data": [{"id": 1, "vector": [1.0] * DIM}]})
    row = client.ok("entities/query", {"collectionName": name, "filter": "id == 1", "outputFields": ["*"]})[0]
    assert {n: row[n] for n, *_ in fields} == {n: v for n, _, v, _ in fields}
