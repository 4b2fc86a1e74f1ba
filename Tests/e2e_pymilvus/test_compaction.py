"""Compaction through pymilvus, unchanged: `compact()`, `get_compaction_state()`, `get_compaction_plans()`.

A server sealing every 500 rows holds six sealed segments; 80 % of the rows are deleted; compaction rewrites
them without the dead rows while a writer keeps upserting and deleting, and afterwards every row the model holds
is there (vectors bit for bit), nothing else is, and searches find the exact neighbours among the live rows.
Milvus Lite has no compaction to compare with (its compact() is a no-op), so these run against Vireo only."""
import threading
import time

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient, MilvusException

from conftest import TARGET, VireoServer

pytestmark = pytest.mark.skipif(TARGET != "vireo", reason="Milvus Lite does not compact; nothing to compare")

N = 3000
SEAL = 500


@pytest.fixture(scope="module")
def sealing_client(tmp_path_factory):
    # Background passes off (interval 0), so the test decides when compaction runs.
    s = VireoServer(tmp_path_factory.mktemp("compaction"), "--seal-rows", str(SEAL), "--compaction-interval", "0")
    c = MilvusClient(uri=s.uri)
    yield c
    c.close()
    s.stop()


def wait_completed(client, job, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get_compaction_state(job)
        if state == "Completed":
            return
        assert state == "Executing", state
        time.sleep(0.05)
    raise AssertionError(f"compaction {job} did not complete in {timeout} s")


def all_rows(client, name):
    rows = {}
    for r in client.query(name, filter="id >= 0", output_fields=["id", "vec", "text"], limit=16384):
        rows[r["id"]] = (np.asarray(r["vec"], dtype=np.float32), r["text"])
    return rows


def test_compact_drops_deleted_rows_while_writes_go_on(sealing_client, dataset, name):
    client = sealing_client
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dataset.dim)
    schema.add_field("text", DataType.VARCHAR, max_length=4096)
    ip = client.prepare_index_params()
    ip.add_index(field_name="vec", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 100})
    client.create_collection(name, schema=schema, index_params=ip, consistency_level="Strong")
    model = {}
    for s in range(0, N, SEAL):
        rows = [{"id": i, "vec": dataset.base[i].tolist(), "text": dataset.passages[i]["text"][:4000]} for i in range(s, s + SEAL)]
        client.insert(name, rows)
        for i in range(s, s + SEAL):
            model[i] = (dataset.base[i], dataset.passages[i]["text"][:4000])
    victims = [i for i in range(N) if i % 5 != 0]
    assert client.delete(name, ids=victims)["delete_count"] == len(victims)
    for i in victims:
        del model[i]

    # A writer upserts and deletes rows of the segments being rewritten while the job runs.
    log = []
    errors = []

    def writer():
        try:
            rng = np.random.default_rng(5)
            for j in range(120):
                key = int(j * 25)  # live and deleted keys alike
                if j % 4 == 3:
                    client.delete(name, ids=[key])
                    log.append((key, None))
                else:
                    v = rng.standard_normal(dataset.dim).astype(np.float32)
                    v /= np.linalg.norm(v)
                    client.upsert(name, [{"id": key, "vec": v.tolist(), "text": f"w{j}"}])
                    log.append((key, (v, f"w{j}")))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    job = client.compact(name)
    assert isinstance(job, int) and job > 0
    wait_completed(client, job)
    t.join()
    assert not errors, errors
    for key, value in log:
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value

    # Six sealed segments, each with 80 % deleted, were rewritten.
    plans = client.get_compaction_plans(job)
    sources = {s for p in plans.plans for s in p.sources}
    assert len(sources) >= N // SEAL, plans

    got = all_rows(client, name)
    assert set(got) == set(model)
    for k, (v, text) in model.items():
        assert np.array_equal(got[k][0], v), k
        assert got[k][1] == text, k
    assert client.get_collection_stats(name)["row_count"] == len(model)

    # Searches find the exact neighbours among the live rows (HNSW, ef 128: recall ≥ 0.9).
    ids = np.array(sorted(model))
    base = np.stack([model[i][0] for i in ids])
    queries = dataset.queries[:20]
    res = client.search(name, data=queries.tolist(), limit=10, search_params={"metric_type": "IP", "params": {"ef": 128}})
    found = 0
    for q, hits in zip(queries, res):
        truth = set(ids[np.argsort(-(base @ q), kind="stable")[:10]].tolist())
        found += len(truth & {h["id"] for h in hits})
    assert found / 200 >= 0.9, found / 200


def test_compaction_of_unknown_job_and_unsupported_kinds(sealing_client, name):
    client = sealing_client
    client.create_collection(name, dimension=4, metric_type="L2", consistency_level="Strong")
    assert client.get_compaction_state(123456789) == "UndefiedState"
    with pytest.raises(MilvusException, match="clustering"):
        client.compact(name, is_clustering=True)
    with pytest.raises(MilvusException, match="not"):
        client.compact("no_such_collection")
    # Nothing to do: the job completes at once with no plans.
    job = client.compact(name)
    wait_completed(client, job)
    assert client.get_compaction_plans(job).plans == []
