#!/usr/bin/env python3
"""Issue #6's benchmark: ingest and search over Vireo's Milvus REST v2 API, the same flow as
../shared/peers/bench_milvus_lite.py runs through pymilvus, so the two can be compared in one run.

Usage:
  bench_rest.py DATASET_DIR [--vireo .build/release/vireo] [--url http://127.0.0.1:PORT] [--out FILE.json]
                [--milvus-python /tmp/milvus25/bin/python] [--milvus-index AUTOINDEX] [--nq 1000]

Without --url it starts `vireo serve` on a free loopback port with a fresh data directory (and stops it
at the end). Flow: create collection (id INT64 pk, vector FLOAT_VECTOR[d], text VARCHAR, source VARCHAR),
HNSW (M 16, efConstruction 200, IP) declared at create -> insert the base in batches of 1,000 rows (rows/s, client-side JSON encoding included, as
Milvus Lite's number includes pymilvus' list conversion) -> flush -> the index build of the flushed rows + load, polled until indexed -> single-query search loop (limit 10, one client thread) over an ef sweep:
recall@10 against groundtruth.ivecs, QPS, p50/p99 -> peak RSS of the server.

With --milvus-python it then runs bench_milvus_lite.py with that interpreter on the same data and prints
the ratios issue #6 asks for: ingest rows/s (goal >= 3x Milvus Lite's) and search p50 (goal <= 0.5x).
JSON is encoded with orjson (a real ingest pipeline would not use the stdlib encoder, which alone takes
~0.4 s per 1,000 x 384 batch); one kept-alive http.client connection, as pymilvus keeps its channel.
"""
from __future__ import annotations

import argparse
import http.client
import urllib.parse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import orjson
import requests

K = 10


def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Client:
    """A kept-alive HTTP/1.1 connection (stdlib http.client: `requests` adds ~1.5 ms of Python per call, which
    would dwarf the server's time; pymilvus, on the Milvus Lite side, goes through grpcio's C core)."""

    def __init__(self, url: str, token: str | None):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, path: str, body: dict | bytes):
        data = body if isinstance(body, bytes) else orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        self.conn.request("POST", f"/v2/vectordb/{path}", body=data, headers=self.headers)
        r = self.conn.getresponse()
        payload = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status} {payload[:200]!r}")
        out = orjson.loads(payload)
        if out.get("code", 0) != 0:
            raise RuntimeError(f"{path}: {out}")
        return out.get("data")


def run_vireo(a) -> dict:
    xb = read_vecs(os.path.join(a.dataset, "base.fvecs"), np.float32)
    xq = read_vecs(os.path.join(a.dataset, "query.fvecs"), np.float32)[: a.nq]
    gt = read_vecs(os.path.join(a.dataset, "groundtruth.ivecs"), np.int32)
    passages = [json.loads(l) for l in open(os.path.join(a.dataset, "passages.jsonl"))]
    n, d = xb.shape
    server = None
    data_dir = None
    url = a.url
    if not url:
        data_dir = tempfile.mkdtemp(prefix="vireo-rest-bench-")
        port = free_port()
        server = subprocess.Popen([a.vireo, "serve", "--data", data_dir, "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit("vireo serve did not become ready")
    c = Client(url, a.token)
    res: dict = {"system": "vireo REST", "dataset": os.path.basename(os.path.normpath(a.dataset)), "n_base": n}
    try:
        if "bench" in c.call("collections/list", {}):
            c.call("collections/drop", {"collectionName": "bench"})
        c.call("collections/create", {"collectionName": "bench", "schema": {"autoID": False, "enableDynamicField": False, "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": d}},
            {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 4096}},
            {"fieldName": "source", "dataType": "VarChar", "elementTypeParams": {"max_length": 512}},
        ]}, "indexParams": [{"fieldName": "vector", "indexName": "vector", "metricType": "IP", "indexType": "HNSW",
                             "params": {"M": 16, "efConstruction": 200}}]})
        t = time.perf_counter()
        for s in range(0, n, 1000):
            rows = [{"id": i, "vector": xb[i], "text": passages[i]["text"][:4000], "source": passages[i]["source"][:500]}
                    for i in range(s, min(n, s + 1000))]
            c.call("entities/insert", {"collectionName": "bench", "data": rows})
        ins = time.perf_counter() - t
        t = time.perf_counter()
        c.call("collections/flush", {"collectionName": "bench"})
        fl = time.perf_counter() - t
        res.update(insert_s=round(ins, 2), insert_rows_per_s=round(n / ins, 1), flush_s=round(fl, 2))
        print(f"vireo REST: insert {n} rows in {ins:.1f}s = {n / ins:.0f} rows/s (batches of 1000); flush {fl:.2f}s", flush=True)

        # The index was declared at create (Vireo fixes a vector field's metric when the collection is
        # created); the rows flushed above are indexed in the background now, as after Milvus' create_index.
        t = time.perf_counter()
        while True:
            info = c.call("indexes/describe", {"collectionName": "bench", "indexName": "vector"})[0]
            if info.get("indexState") == "Finished" and int(info.get("pendingRows", 0)) == 0:
                break
            time.sleep(0.2)
        c.call("collections/load", {"collectionName": "bench"})
        res["index_plus_load_s"] = round(time.perf_counter() - t, 2)
        print(f"vireo REST: HNSW built and loaded in {res['index_plus_load_s']:.1f}s", flush=True)

        sweep = []
        for ef in (16, 32, 64, 128, 256):
            lat = np.empty(len(xq))
            ids = np.full((len(xq), K), -1)
            t0 = time.perf_counter()
            for i in range(len(xq)):
                s = time.perf_counter()
                hits = c.call("entities/search", {"collectionName": "bench", "data": [xq[i]], "limit": K, "annsField": "vector",
                                                  "searchParams": {"metricType": "IP", "params": {"ef": ef}}})
                lat[i] = time.perf_counter() - s
                got = [int(h["id"]) for h in hits][:K]
                ids[i, : len(got)] = got
            tot = time.perf_counter() - t0
            rec = float(np.mean([len(set(ids[i]) & set(gt[i, :K])) / K for i in range(len(xq))]))
            row = dict(params=f"ef={ef}", recall10=round(rec, 4), qps=round(len(xq) / tot, 1),
                       p50_ms=round(float(np.percentile(lat, 50) * 1e3), 3), p99_ms=round(float(np.percentile(lat, 99) * 1e3), 3))
            sweep.append(row)
            print(f"  {row['params']:8s} R@10={row['recall10']:.4f} qps={row['qps']:8.1f} p50={row['p50_ms']:.3f}ms p99={row['p99_ms']:.3f}ms", flush=True)
        res["search"] = sweep
        if server:
            res["server_rss_peak_mb"] = round(vm_hwm_mb(server.pid), 1)
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    return res


def best_at_recall(rows: list[dict], target: float) -> dict | None:
    """The sweep point with the lowest p50 among those reaching `target` recall@10."""
    ok = [r for r in rows if r["recall10"] >= target]
    return min(ok, key=lambda r: r["p50_ms"]) if ok else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--vireo", default=".build/release/vireo")
    ap.add_argument("--url")
    ap.add_argument("--token")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--out")
    ap.add_argument("--milvus-python", help="interpreter of a venv with pymilvus + milvus-lite")
    ap.add_argument("--milvus-index", default="AUTOINDEX")
    a = ap.parse_args()

    vireo = run_vireo(a)
    report = {"vireo": vireo}
    if a.milvus_python:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers", "bench_milvus_lite.py")
        out = os.path.join(tempfile.gettempdir(), f"milvus_lite_{a.milvus_index}")
        subprocess.run([a.milvus_python, os.path.normpath(script), a.dataset, "--index", a.milvus_index, "--out", out], check=True)
        with open(out + ".json") as f:
            milvus = json.load(f)
        report["milvus_lite"] = milvus
        ratio_ingest = vireo["insert_rows_per_s"] / milvus["insert_rows_per_s"]
        # Compare search latency at the recall Milvus Lite reached at its best point.
        m_best = max(milvus["search"], key=lambda r: (r["recall10"], -r["p50_ms"]))
        v_point = best_at_recall(vireo["search"], min(m_best["recall10"], 0.99)) or max(vireo["search"], key=lambda r: r["recall10"])
        report["ratios"] = {
            "ingest_rows_per_s": round(ratio_ingest, 2),
            "search_p50": round(v_point["p50_ms"] / m_best["p50_ms"], 3),
            "search_p99": round(v_point["p99_ms"] / m_best["p99_ms"], 3),
            "vireo_point": v_point, "milvus_point": m_best,
        }
        print()
        print(f"| | Vireo REST | {milvus.get('milvus', 'Milvus Lite')} ({a.milvus_index}) | ratio | goal |")
        print("|---|---:|---:|---:|---|")
        print(f"| ingest rows/s | {vireo['insert_rows_per_s']:,.0f} | {milvus['insert_rows_per_s']:,.0f} | {ratio_ingest:.2f}x | >= 3x |")
        print(f"| search p50 ms (R@10 {v_point['recall10']:.3f} vs {m_best['recall10']:.3f}) | {v_point['p50_ms']:.3f} | {m_best['p50_ms']:.3f} | "
              f"{report['ratios']['search_p50']:.3f}x | <= 0.5x |")
        print(f"| search p99 ms | {v_point['p99_ms']:.3f} | {m_best['p99_ms']:.3f} | {report['ratios']['search_p99']:.3f}x | |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
