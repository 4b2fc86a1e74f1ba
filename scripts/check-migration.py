"""A manual check of the in-place migration with a real older binary (not part of the test suite: it needs a build
of an older commit). The old binary writes a data directory (metric on the field, COSINE vectors normalised at
insert); the new one opens it and must give the same search answers, report the metric on the index and mark the
COSINE field as storing normalised vectors.

    git worktree add /tmp/vireo-old 7c6fd1e && (cd /tmp/vireo-old && swift build -c release --product vireo)
    .venv-e2e/bin/python scripts/check-migration.py /tmp/vireo-old/.build/release/vireo .build/release/vireo /tmp/migdata
"""
import json, subprocess, sys, time, select, urllib.request
import numpy as np

def start(binary, data):
    p = subprocess.Popen([binary, "serve", "--data", data, "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            line = p.stdout.readline()
            if "listening on" in line:
                return p, line.split("listening on ")[1].split()[0]
    raise SystemExit("did not start")

def call(base, path, body):
    req = urllib.request.Request(f"{base}/v2/vectordb/{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    out = json.loads(urllib.request.urlopen(req, timeout=60).read())
    assert out["code"] == 0, (path, out)
    return out.get("data")

old, new, data = sys.argv[1:4]
rng = np.random.default_rng(1)
dim = 16
vecs = rng.standard_normal((3000, dim)).astype(np.float32) * rng.uniform(0.1, 10, (3000, 1)).astype(np.float32)
q = rng.standard_normal((10, dim)).astype(np.float32)
p, base = start(old, data)
# COSINE by quick create (normalised at insert by the old model) with an HNSW index; an L2 collection from a schema.
call(base, "collections/create", {"collectionName": "cos", "dimension": dim, "metricType": "COSINE"})
call(base, "collections/create", {"collectionName": "l2", "dimension": dim, "metricType": "L2"})
for name in ["cos", "l2"]:
    call(base, "entities/insert", {"collectionName": name, "data": [{"id": i, "vector": vecs[i].tolist()} for i in range(3000)]})
    call(base, "collections/flush", {"collectionName": name})
# The old binary builds its HNSW in the background; wait until describe reports it finished.
for name in ["cos", "l2"]:
    deadline = time.time() + 120
    while True:
        d = call(base, "indexes/describe", {"collectionName": name, "indexName": "vector"})
        if d and d[0].get("indexState") == "Finished":
            break
        assert time.time() < deadline, f"{name}: the old binary's index did not finish"
        time.sleep(0.1)
before = {n: call(base, "entities/search", {"collectionName": n, "data": q.tolist(), "limit": 10, "searchParams": {"params": {"ef": 128}}}) for n in ["cos", "l2"]}
p.terminate(); p.wait()
p, base = start(new, data)
after = {n: call(base, "entities/search", {"collectionName": n, "data": q.tolist(), "limit": 10, "searchParams": {"params": {"ef": 128}}}) for n in ["cos", "l2"]}
for n in ["cos", "l2"]:
    ids_b = [h["id"] for h in before[n]]; ids_a = [h["id"] for h in after[n]]
    print(n, "same ids:", ids_b == ids_a, "max score diff:", max(abs(a["distance"] - b["distance"]) for a, b in zip(after[n], before[n])))
d = call(base, "collections/describe", {"collectionName": "cos"})
print("cos vector field params:", [f.get("params") for f in d["fields"] if f["name"] == "vector"])
print("cos indexes:", d.get("indexes"))
print("l2 indexes:", call(base, "collections/describe", {"collectionName": "l2"}).get("indexes"))
got = call(base, "entities/get", {"collectionName": "l2", "id": [5], "outputFields": ["vector"]})[0]["vector"]
print("l2 row 5 as inserted:", np.array_equal(np.asarray(got, dtype=np.float32), vecs[5]))
p.terminate(); p.wait()
