"""Search the way Milvus clients call it, through pymilvus unchanged: range search (radius / range_filter with
Milvus' direction rules per metric), grouping search (group_by_field, group_size, strict_group_size) and search by
primary keys (ids instead of vectors). Expected results come from numpy over the inserted rows (FLAT index: exact)."""
import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

GROUPS = 13
N = 2000


@pytest.fixture(scope="module", params=["IP", "L2"])
def flat(request, client, dataset):
    """`id`, `doc` (id mod 13, the grouping field), `vector`; FLAT index (exact) with the metric; 2,000 rows."""
    metric = request.param
    name = f"features_{metric.lower()}"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dataset.dim)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="vector", index_type="FLAT", metric_type=metric)
    client.create_collection(name, schema=schema, index_params=index_params)
    rows = [{"id": i, "doc": i % GROUPS, "vector": dataset.base[i].tolist()} for i in range(N)]
    for start in range(0, N, 500):
        client.insert(name, rows[start:start + 500])
    yield name, metric
    client.drop_collection(name)


def ranked(dataset, q, metric):
    """(ids, scores) of all N rows, best first, as the server scores them (float32 inputs)."""
    ids, scores = dataset.exact(np.asarray(q, dtype=np.float32), N, ids=list(range(N)), metric=metric)
    return ids, scores


def gap_bound(scores, rank):
    """A bound between scores[rank-1] and scores[rank] at a rank near `rank` where the two differ clearly, so float32
    rounding cannot move a row across it. Returns (bound, rank): rows [0, rank) are on the near side."""
    for r in range(rank, len(scores) - 1):
        if abs(scores[r - 1] - scores[r]) > 1e-4:
            return (scores[r - 1] + scores[r]) / 2, r
    raise AssertionError("no clear gap in the scores")


@pytest.mark.parametrize("limit", [10, 100])
def test_range_search_matches_numpy(client, dataset, flat, limit):
    name, metric = flat
    for qi in range(5):
        q = dataset.queries[qi]
        ids, scores = ranked(dataset, q, metric)
        inner, first = gap_bound(scores, 20)    # range_filter: the `first` closest rows are excluded
        outer, last = gap_bound(scores, 300)    # radius: rows from `last` on are excluded
        res = client.search(name, data=[q.tolist()], limit=limit,
                            search_params={"metric_type": metric, "params": {"radius": outer, "range_filter": inner}})
        assert [h["id"] for h in res[0]] == ids[first:last][:limit], f"{metric} query {qi}"
        for h in res[0]:
            assert (inner >= h["distance"] > outer) if metric == "IP" else (inner <= h["distance"] < outer)


def test_range_search_direction_rules(client, dataset, flat):
    """IP/COSINE need range_filter > radius, L2 range_filter < radius; the wrong way round is refused."""
    name, metric = flat
    wrong = {"radius": 0.5, "range_filter": 0.2} if metric == "IP" else {"radius": 0.2, "range_filter": 0.5}
    with pytest.raises(MilvusException, match="range_filter"):
        client.search(name, data=[dataset.queries[0].tolist()], limit=5, search_params={"metric_type": metric, "params": wrong})


def oracle_groups(ids, size):
    groups, slot = [], {}
    for i in ids:
        g = i % GROUPS
        if g in slot:
            if len(groups[slot[g]]) < size:
                groups[slot[g]].append(i)
        else:
            slot[g] = len(groups)
            groups.append([i])
    return groups


def test_strict_grouping_search_matches_numpy(client, dataset, flat):
    name, metric = flat
    for qi in range(4):
        q = dataset.queries[qi]
        ids, _ = ranked(dataset, q, metric)
        want = oracle_groups(ids, 3)[:5]
        res = client.search(name, data=[q.tolist()], limit=5, output_fields=["doc"], search_params={"metric_type": metric},
                            group_by_field="doc", group_size=3, strict_group_size=True)
        got = [h["id"] for h in res[0]]
        assert got == [i for g in want for i in g], f"{metric} query {qi}"
        assert all(h["entity"]["doc"] == h["id"] % GROUPS for h in res[0])


def test_grouping_with_group_size_one_gives_distinct_groups(client, dataset, flat):
    name, metric = flat
    q = dataset.queries[7]
    ids, _ = ranked(dataset, q, metric)
    res = client.search(name, data=[q.tolist()], limit=GROUPS, output_fields=["doc"], search_params={"metric_type": metric},
                        group_by_field="doc")
    assert [h["id"] for h in res[0]] == [g[0] for g in oracle_groups(ids, 1)]


def test_search_by_primary_keys_equals_search_by_their_vectors(client, dataset, flat):
    name, metric = flat
    keys = [5, 1234, 77]
    by_ids = client.search(name, ids=keys, limit=10, search_params={"metric_type": metric})
    by_vectors = client.search(name, data=[dataset.base[k].tolist() for k in keys], limit=10, search_params={"metric_type": metric})
    assert len(by_ids) == len(keys)
    for k, a, b in zip(keys, by_ids, by_vectors):
        assert [h["id"] for h in a] == [h["id"] for h in b]
        want, _ = ranked(dataset, dataset.base[k], metric)
        assert [h["id"] for h in a] == want[:10]


def test_search_by_a_missing_primary_key_is_an_error(client, flat):
    name, metric = flat
    with pytest.raises(MilvusException, match="not in collection"):
        client.search(name, ids=[N + 5], limit=3, search_params={"metric_type": metric})


def test_search_iterator_v2_walks_the_exact_order(client, dataset, flat):
    """pymilvus' search_iterator speaks iterator v2 (token + last bound) and does not fall back to v1: batches of 97
    over the first 600 results equal numpy's order, no row twice."""
    import logging
    name, metric = flat
    q = dataset.queries[11]
    want, _ = ranked(dataset, q, metric)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("pymilvus").addHandler(handler)
    try:
        it = client.search_iterator(name, data=[q.tolist()], batch_size=97, limit=600, search_params={"metric_type": metric})
        got = []
        while True:
            page = it.next()
            if not page:
                break
            got += [h["id"] for h in page]
        it.close()
    finally:
        logging.getLogger("pymilvus").removeHandler(handler)
    assert not [r for r in records if "does not support Search Iterator V2" in r.getMessage()], "fell back to iterator v1"
    assert got == want[:600]


def test_query_iterator_returns_every_row_once(client, flat):
    name, _ = flat
    it = client.query_iterator(name, batch_size=128, filter="doc in [1, 2, 3]", output_fields=["id", "doc"])
    got = []
    while True:
        page = it.next()
        if not page:
            break
        got += [r["id"] for r in page]
    it.close()
    assert sorted(got) == [i for i in range(N) if i % GROUPS in (1, 2, 3)] and len(got) == len(set(got))
