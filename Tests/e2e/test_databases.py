"""REST v2 databases/* and aliases/*, and `dbName` (or the DB-Name header) on collection and entity calls."""


def make(client, name, db=None, n=0, first=0):
    body = {"collectionName": name, "dimension": 4, "metricType": "L2"}
    if db:
        body["dbName"] = db
    client.ok("collections/create", body)
    if n:
        rows = [{"id": first + i, "vector": [float(first + i)] * 4, "tag": f"r{first + i}"} for i in range(n)]
        client.ok("entities/insert", {**({"dbName": db} if db else {}), "collectionName": name, "data": rows})


def ids(client, name, db=None):
    body = {"collectionName": name, "filter": "id >= 0", "outputFields": ["id"], "limit": 100}
    if db:
        body["dbName"] = db
    return sorted(r["id"] for r in client.ok("entities/query", body))


def test_database_endpoints(client, name):
    db = f"db_{name}"
    assert "default" in client.ok("databases/list", {})
    client.ok("databases/create", {"dbName": db, "properties": {"database.max.collections": 5}})
    assert db in client.ok("databases/list", {})
    d = client.ok("databases/describe", {"dbName": db})
    assert d["dbName"] == db and d["dbID"] > 1
    assert {"key": "database.max.collections", "value": "5"} in d["properties"]
    client.ok("databases/alter", {"dbName": db, "properties": {"owner": "a"}})
    assert {"key": "owner", "value": "a"} in client.ok("databases/describe", {"dbName": db})["properties"]
    client.ok("databases/drop_properties", {"dbName": db, "propertyKeys": ["owner"]})
    assert {"key": "owner", "value": "a"} not in client.ok("databases/describe", {"dbName": db})["properties"]
    client.err("databases/create", {"dbName": db}, 1100)
    client.err("databases/create", {"dbName": "bad-name"}, 1100)
    client.err("databases/create", {}, 1802)
    client.err("databases/drop", {"dbName": "default"}, 1100)
    make(client, name, db=db, n=2)
    client.err("databases/drop", {"dbName": db}, 1100)
    client.ok("collections/drop", {"dbName": db, "collectionName": name})
    client.ok("databases/drop", {"dbName": db})
    assert db not in client.ok("databases/list", {})
    client.err("databases/describe", {"dbName": db}, 800)
    # Over-long names are refused without being echoed whole.
    msg = client.err("databases/describe", {"dbName": "x" * 100_000}, 1100)
    assert len(msg) < 500
    msg = client.err("collections/list", {"dbName": "y" * 100_000}, 1100)
    assert len(msg) < 500
    msg = client.err("aliases/describe", {"aliasName": "z" * 100_000}, 1100)
    assert len(msg) < 500


def test_db_name_scopes_collections_and_entities(client, name):
    db = f"dbs_{name}"
    client.ok("databases/create", {"dbName": db})
    make(client, name, n=2)
    make(client, name, db=db, n=3, first=10)
    assert ids(client, name) == [0, 1]
    assert ids(client, name, db) == [10, 11, 12]
    # The DB-Name header works where the body has no dbName (insert rows are typed against that db's schema).
    r = client.call("entities/insert", {"collectionName": name, "data": [{"id": 13, "vector": [13.0] * 4}]}, headers={"DB-Name": db})
    assert r["code"] == 0, r
    assert ids(client, name, db) == [10, 11, 12, 13]
    assert client.ok("collections/list", {"dbName": db}) == [name]
    hit = client.ok("entities/search", {"dbName": db, "collectionName": name, "data": [[10.0] * 4], "limit": 1})[0]
    assert hit["id"] == 10
    d = client.ok("collections/describe", {"dbName": db, "collectionName": name})
    assert d["dbName"] == db
    client.ok("entities/delete", {"dbName": db, "collectionName": name, "filter": "id in [10]"})
    assert ids(client, name, db) == [11, 12, 13]
    assert ids(client, name) == [0, 1]
    client.err("entities/query", {"dbName": f"missing_{name}", "collectionName": name, "filter": "id >= 0"}, 800)
    client.ok("collections/drop", {"dbName": db, "collectionName": name})
    client.ok("collections/drop", {"collectionName": name})
    client.ok("databases/drop", {"dbName": db})


def test_alias_endpoints(client, name):
    a, b, alias = f"{name}_a", f"{name}_b", f"{name}_al"
    make(client, a, n=2)
    make(client, b, n=3, first=10)
    client.ok("aliases/create", {"aliasName": alias, "collectionName": a})
    assert client.ok("aliases/describe", {"aliasName": alias}) == {"aliasName": alias, "collectionName": a, "dbName": "default"}
    assert client.ok("aliases/list", {"collectionName": a}) == [alias]
    assert alias in client.ok("aliases/list", {})
    assert ids(client, alias) == [0, 1]
    client.ok("entities/insert", {"collectionName": alias, "data": [{"id": 7, "vector": [7.0] * 4}]})
    assert ids(client, a) == [0, 1, 7]
    assert client.ok("entities/search", {"collectionName": alias, "data": [[0.0] * 4], "limit": 1})[0]["id"] == 0
    assert alias in client.ok("collections/describe", {"collectionName": a})["aliases"]
    client.ok("aliases/alter", {"aliasName": alias, "collectionName": b})
    assert client.ok("entities/search", {"collectionName": alias, "data": [[0.0] * 4], "limit": 1})[0]["id"] == 10
    client.err("collections/drop", {"collectionName": b}, 1100)
    client.err("collections/drop", {"collectionName": alias}, 1601)
    client.err("aliases/create", {"aliasName": a, "collectionName": b}, 1601)
    client.err("aliases/create", {"aliasName": alias, "collectionName": a}, 1602)
    client.err("aliases/alter", {"aliasName": f"{name}_none", "collectionName": a}, 1600)
    client.err("aliases/create", {"aliasName": "bad name", "collectionName": a}, 1100)
    client.ok("aliases/drop", {"aliasName": alias})
    client.err("aliases/describe", {"aliasName": alias}, 1600)
    client.ok("collections/drop", {"collectionName": b})
    client.ok("collections/drop", {"collectionName": a})
