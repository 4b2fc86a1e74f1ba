#!/usr/bin/env python3
"""pymilvus against `vireo serve` (gRPC) and against Milvus Lite, same flow, same run (issue #8's benchmark).

The flow of ../../../shared/peers/bench_milvus_lite.py: create a collection (id INT64, vector FLOAT_VECTOR[384],
text VARCHAR, source VARCHAR) without an index -> insert the base rows in batches of 1000 with their text ->
flush -> HNSW (M=16, efConstruction=200, IP) + load, polled until built -> single-query search loop over an
ef sweep: recall@10 vs groundtruth.ivecs, p50/p99 latency. Then the ratios Vireo / Milvus Lite.

    python3 -m venv /tmp/pymilvus-bench && /tmp/pymilvus-bench/bin/pip install pymilvus==3.0.2 milvus-lite==3.2.2 numpy
    swift build -c release --product vireo
    /tmp/pymilvus-bench/bin/python bench/grpc/bench_pymilvus.py ../shared/data/dev
Options: --targets vireo,lite  --rows N (first N base rows; ground truth then by numpy)  --queries N  --ef 16,32,...
"""
import argparse
import json
import os
import pathlib
import select
import shutil
import subprocess
import tempfile
import time

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.client.prepare import Prepare

K = 10
ROOT = pathlib.Path(__file__).resolve().parents[2]


def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def start_vireo(binary, data_dir):
    proc = subprocess.Popen([str(binary), "serve", "--data", data_dir, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
                            stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if "listening on" in line:
                return proc, line.split("listening on ")[1].split()[0]
        if proc.poll() is not None:
            break
    raise SystemExit("vireo serve did not start")


def run(target, client, xb, xq, gt, passages, efs):
    n, d = xb.shape
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=d)
    schema.add_field("text", DataType.VARCHAR, max_length=4096)
    schema.add_field("source", DataType.VARCHAR, max_length=512)
    client.create_collection("bench", schema=schema)
    res = {"target": target, "rows": n}

    # pymilvus' own share, measured alongside: before each insert, the same request is built once more
    # (row dicts -> columnar protobuf -> bytes) without sending it. The rest is transport + server.
    fields = client.describe_collection("bench")["fields"]
    insert_s = prepare_s = 0.0
    for s in range(0, n, 1000):
        t = time.perf_counter()
        rows = [{"id": i, "vector": xb[i].tolist(), "text": passages[i]["text"][:4000], "source": passages[i]["source"][:500]}
                for i in range(s, min(n, s + 1000))]
        insert_s += time.perf_counter() - t  # as the peer script: making the row lists is part of inserting
        t = time.perf_counter()
        Prepare.row_insert_param("bench", rows, "", fields, enable_dynamic=False).SerializeToString()
        prepare_s += time.perf_counter() - t
        t = time.perf_counter()
        client.insert("bench", rows)
        insert_s += time.perf_counter() - t
    res["insert_s"] = insert_s
    res["insert_rows_per_s"] = n / insert_s
    res["client_prepare_s"] = prepare_s
    server_s = max(1e-3, insert_s - prepare_s)
    res["server_rows_per_s"] = n / server_s
    t = time.perf_counter()
    client.flush("bench")
    res["flush_s"] = time.perf_counter() - t
    print(f"[{target}] insert {n} rows in {insert_s:.1f} s = {res['insert_rows_per_s']:.0f} rows/s (batches of 1000, incl. "
          f"making the row lists); flush {res['flush_s']:.2f} s; pymilvus building the requests ~{prepare_s:.1f} s, "
          f"the rest (transport + server) ~{server_s:.1f} s = {res['server_rows_per_s']:.0f} rows/s", flush=True)

    ip = MilvusClient.prepare_index_params()
    ip.add_index(field_name="vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    t = time.perf_counter()
    client.create_index("bench", ip)  # polls DescribeIndex until Finished
    client.load_collection("bench")
    res["index_load_s"] = time.perf_counter() - t
    print(f"[{target}] HNSW built and loaded in {res['index_load_s']:.1f} s", flush=True)
    client.search("bench", [xq[0].tolist()], limit=K)

    res["sweep"] = []
    for ef in efs:
        sp = {"metric_type": "IP", "params": {"ef": ef}}
        lat = np.empty(len(xq))
        rec = np.empty(len(xq))
        for i in range(len(xq)):
            s = time.perf_counter()
            r = client.search("bench", [xq[i].tolist()], limit=K, search_params=sp)
            lat[i] = time.perf_counter() - s
            rec[i] = len({h["id"] for h in r[0]} & set(gt[i, :K].tolist())) / K
        row = {"ef": ef, "recall10": float(rec.mean()), "p50_ms": float(np.percentile(lat, 50) * 1e3),
               "p99_ms": float(np.percentile(lat, 99) * 1e3), "qps": len(xq) / float(lat.sum())}
        res["sweep"].append(row)
        print(f"[{target}]   ef={ef:<4} R@10={row['recall10']:.4f} p50={row['p50_ms']:.3f} ms p99={row['p99_ms']:.3f} ms "
              f"qps={row['qps']:.0f}", flush=True)
    client.drop_collection("bench")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(ROOT / "../shared/data/dev"))
    ap.add_argument("--targets", default="vireo,lite")
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef", default="16,32,64,128,256")
    ap.add_argument("--vireo-bin", default=str(ROOT / ".build/release/vireo"))
    ap.add_argument("--out")
    a = ap.parse_args()

    xb = read_vecs(os.path.join(a.dataset, "base.fvecs"), np.float32)
    xq = read_vecs(os.path.join(a.dataset, "query.fvecs"), np.float32)[: a.queries]
    gt = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), np.int32)[: a.queries]
    passages = []
    with open(os.path.join(a.dataset, "passages.jsonl")) as f:
        for line in f:
            passages.append(json.loads(line))
    if a.rows:
        xb = xb[: a.rows]
        gt = np.argsort(-(xq @ xb.T), axis=1, kind="stable")[:, :K]  # exact top-k over the subset
    efs = [int(x) for x in a.ef.split(",")]

    results = {}
    for target in a.targets.split(","):
        work = tempfile.mkdtemp(prefix=f"bench-{target}-")
        try:
            if target == "vireo":
                proc, uri = start_vireo(a.vireo_bin, os.path.join(work, "data"))
                try:
                    client = MilvusClient(uri=uri)
                    results[target] = run(target, client, xb, xq, gt, passages, efs)
                    client.close()
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
            elif target == "lite":
                client = MilvusClient(os.path.join(work, "bench.db"))
                results[target] = run(target, client, xb, xq, gt, passages, efs)
                client.close()
            else:
                raise SystemExit(f"unknown target {target}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    if "vireo" in results and "lite" in results:
        v, l = results["vireo"], results["lite"]
        print("\nVireo / Milvus Lite (same run):")
        print(f"  insert rows/s: {v['insert_rows_per_s']:.0f} vs {l['insert_rows_per_s']:.0f} = {v['insert_rows_per_s'] / l['insert_rows_per_s']:.2f}x (goal >= 3x)")
        print(f"  insert rows/s without pymilvus' request building: {v['server_rows_per_s']:.0f} vs {l['server_rows_per_s']:.0f} = "
              f"{v['server_rows_per_s'] / l['server_rows_per_s']:.2f}x")
        for sv, sl in zip(v["sweep"], l["sweep"]):
            print(f"  ef={sv['ef']:<4} p50 {sv['p50_ms']:.3f} vs {sl['p50_ms']:.3f} ms = {sv['p50_ms'] / sl['p50_ms']:.2f}x (goal <= 0.5x); "
                  f"p99 {sv['p99_ms']:.3f} vs {sl['p99_ms']:.3f} ms; R@10 {sv['recall10']:.4f} vs {sl['recall10']:.4f}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
