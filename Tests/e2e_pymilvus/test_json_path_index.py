"""JSON path indexes over gRPC with pymilvus (Milvus 2.6: INVERTED on a JSON field with json_path
and json_cast_type), query's ignore_growing, and FieldSchema.default_value in describe. Expected rows
come from evaluating the filters in plain Python over the inserted documents."""
import random

import pytest
from pymilvus import DataType, MilvusClient, MilvusException

DIM = 4


def make(client, name, *extra):
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("meta", DataType.JSON, nullable=True)
    for field_name, dtype, kw in extra:
        schema.add_field(field_name, dtype, **kw)
    ix = client.prepare_index_params()
    ix.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=ix)


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def cmp(op, x, y):
    if x is None:
        return False
    if num(x) and num(y) or isinstance(x, str) and isinstance(y, str):
        return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
    if isinstance(x, bool) and isinstance(y, bool) and op in ("==", "!="):
        return (x == y) == (op == "==")
    return False


def at(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def contains(arr, v):
    return isinstance(arr, list) and any(cmp("==", e, v) for e in arr if not isinstance(e, (list, dict)))


def documents(seed, n):
    rng = random.Random(seed)

    def scalar():
        return rng.choice([rng.randint(-3, 5), rng.randint(-6, 10) / 2, rng.choice(["x", "y", "3"]), rng.random() < 0.5, None])
    out = []
    for _ in range(n):
        d = {}
        if rng.random() < 0.8:
            d["a"] = scalar()
        if rng.random() < 0.5:
            d["o"] = {"b": scalar()}
        if rng.random() < 0.7:
            d["tags"] = [scalar() for _ in range(rng.randint(0, 4))]
        out.append(d)
    return out


CASES = [
    ('meta["a"] >= 1', lambda d: cmp(">=", at(d, "a"), 1)),
    ('meta["a"] < 2.5', lambda d: cmp("<", at(d, "a"), 2.5)),
    ('meta["a"] == "y"', lambda d: cmp("==", at(d, "a"), "y")),
    ('meta["a"] in [0, 1, 5]', lambda d: any(cmp("==", at(d, "a"), v) for v in (0, 1, 5))),
    ('meta["a"] == false', lambda d: cmp("==", at(d, "a"), False)),
    ('meta["o"]["b"] > 0 or meta["a"] == "x"', lambda d: cmp(">", at(d, "o", "b"), 0) or cmp("==", at(d, "a"), "x")),
    ('json_contains(meta["tags"], "x")', lambda d: contains(at(d, "tags"), "x")),
    ('json_contains_any(meta["tags"], [1, 2.5])', lambda d: contains(at(d, "tags"), 1) or contains(at(d, "tags"), 2.5)),
]


def ids(rows):
    return sorted(r["id"] for r in rows)


def test_json_path_indexes(client, name):
    make(client, name)
    docs = documents(3, 300)
    client.insert(name, [{"id": i, "vector": [float(i % 5)] * DIM, "meta": d} for i, d in enumerate(docs)])
    client.flush(name)

    def check():
        for expr, pred in CASES:
            assert ids(client.query(name, filter=expr, output_fields=["id"], limit=1000)) == [i for i, d in enumerate(docs) if pred(d)], expr
    check()
    ix = client.prepare_index_params()
    ix.add_index(field_name="meta", index_type="INVERTED", index_name="a_num", params={"json_path": 'meta["a"]', "json_cast_type": "double"})
    ix.add_index(field_name="meta", index_type="INVERTED", index_name="a_str", params={"json_path": "meta['a']", "json_cast_type": "VARCHAR"})
    ix.add_index(field_name="meta", index_type="AUTOINDEX", index_name="ob", params={"json_path": 'meta["o"]["b"]', "json_cast_type": "DOUBLE"})
    ix.add_index(field_name="meta", index_type="INVERTED", index_name="tags", params={"json_path": 'meta["tags"]', "json_cast_type": "ARRAY_VARCHAR"})
    client.create_index(name, ix)
    assert set(client.list_indexes(name)) >= {"a_num", "a_str", "ob", "tags"}
    d = client.describe_index(name, "a_num")
    assert d["field_name"] == "meta" and d["index_type"] == "INVERTED"
    # DescribeIndex answers with the parameters as sent (Milvus' user index params): "double" as written.
    assert d["json_path"] == 'meta["a"]' and d["json_cast_type"] == "double"
    assert client.describe_index(name, "a_str")["json_cast_type"] == "VARCHAR"
    assert client.describe_index(name, "ob")["index_type"] == "AUTOINDEX"
    check()
    client.drop_index(name, "a_num")
    assert "a_num" not in client.list_indexes(name)
    check()
    client.drop_collection(name)


def test_json_path_indexes_on_a_dynamic_key_unnamed_and_of_every_type(client, name):
    """Milvus 2.6: a key of the dynamic field indexed by path (field_name = the key), STL_SORT and BITMAP as well as
    INVERTED, and unnamed path indexes named after their path. Results equal the filter evaluated in Python."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    ix = client.prepare_index_params()
    ix.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=ix)
    docs = documents(7, 300)
    client.insert(name, [{"id": i, "vector": [float(i % 5)] * DIM, "dyn": d} for i, d in enumerate(docs)])
    client.flush(name)
    cases = [(expr.replace("meta[", "dyn["), pred) for expr, pred in CASES]

    def check():
        for expr, pred in cases:
            assert ids(client.query(name, filter=expr, output_fields=["id"], limit=1000)) == [i for i, d in enumerate(docs) if pred(d)], expr
    check()
    ix = client.prepare_index_params()
    ix.add_index(field_name="dyn", index_type="STL_SORT", params={"json_path": 'dyn["a"]', "json_cast_type": "double"})
    ix.add_index(field_name="dyn", index_type="BITMAP", params={"json_path": "dyn['o']['b']", "json_cast_type": "double"})
    ix.add_index(field_name="dyn", index_type="INVERTED", params={"json_path": 'dyn["tags"]', "json_cast_type": "ARRAY_VARCHAR"})
    ix.add_index(field_name="dyn", index_type="INVERTED", index_name="dyn_whole", params={"json_path": "dyn", "json_cast_type": "varchar"})
    client.create_index(name, ix)
    assert set(client.list_indexes(name)) >= {"dyn/a", "dyn/o/b", "dyn/tags"}
    assert client.describe_index(name, "dyn/a")["index_type"] == "STL_SORT"
    assert client.describe_index(name, "dyn/o/b")["index_type"] == "BITMAP"
    check()
    client.release_collection(name)
    client.load_collection(name)
    check()
    client.drop_collection(name)


def test_json_path_index_errors(client, name):
    make(client, name)
    for params, text in [({"json_path": 'meta["a"]'}, "json index must specify cast type"),
                         ({"json_path": 'meta["a"]', "json_cast_type": "INT8"}, "json_cast_type INT8 is not supported"),
                         ({"json_path": 'meta["a"]', "json_cast_type": "BOOL", "json_cast_function": "STRING_TO_DOUBLE"}, "not supported for json_cast_type BOOL"),
                         ({"json_path": 'nope["a"]', "json_cast_type": "BOOL"}, "not a valid path")]:
        ix = client.prepare_index_params()
        ix.add_index(field_name="meta", index_type="INVERTED", index_name="bad", params=params)
        with pytest.raises(MilvusException) as e:
            client.create_index(name, ix)
        assert e.value.code == 1100 and text in e.value.message, e.value.message
    client.drop_collection(name)


def test_query_ignore_growing(client, name):
    make(client, name)
    client.insert(name, [{"id": i, "vector": [1.0] * DIM} for i in range(25)])
    client.flush(name)
    client.insert(name, [{"id": i, "vector": [1.0] * DIM} for i in range(25, 40)])
    assert ids(client.query(name, filter="id >= 5", limit=100)) == list(range(5, 40))
    assert ids(client.query(name, filter="id >= 5", limit=100, ignore_growing=True)) == list(range(5, 25))
    assert client.query(name, filter="", output_fields=["count(*)"], ignore_growing=True)[0]["count(*)"] == 25
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 40
    client.drop_collection(name)


def test_default_value_in_describe(client, name):
    fields = [("b", DataType.BOOL, True, "bool_data"), ("i8", DataType.INT8, -3, "int_data"), ("i32", DataType.INT32, 7, "int_data"),
              ("i64", DataType.INT64, 1 << 40, "long_data"), ("f", DataType.FLOAT, 1.5, "float_data"),
              ("d", DataType.DOUBLE, 2.25, "double_data"), ("s", DataType.VARCHAR, "hi", "string_data")]
    make(client, name, *[(n, t, {"default_value": v, **({"max_length": 8} if t == DataType.VARCHAR else {})}) for n, t, v, _ in fields])
    described = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    for n, _, v, member in fields:
        dv = described[n]["default_value"]
        assert dv.WhichOneof("data") == member and getattr(dv, member) == v, (n, dv)
    client.insert(name, [{"id": 1, "vector": [1.0] * DIM}])
    row = client.query(name, filter="id == 1", output_fields=["*"])[0]
    assert {n: row[n] for n, *_ in fields} == {n: v for n, _, v, _ in fields}
    client.drop_collection(name)
