#!/usr/bin/env python3
"""Throughput and latency of N concurrent clients against one `vireo serve` (a benchmark, not a test).

For each N in --clients, N clients search at once for --seconds, one query per call (top-k, ef), each over its own
connection: mode `rest` posts Milvus REST v2 `/v2/vectordb/entities/search` on its own kept-alive HTTP/1.1
connection (processes by default, `--rest-workers thread` for threads), mode `pymilvus` runs a MilvusClient (gRPC)
in each of N processes (processes, so Python's GIL does not cap the client side). Reported per N: total QPS,
per-client QPS, p50/p95/p99 latency (ms) over every call, p99/p50, QPS ratio vs N = 1, the server's CPU (from
/proc/<pid>/stat), the clients' CPU, the whole machine's busy CPU and what others used, and the load average.
CPU figures are in % of one core (200 % = two cores busy).

    .venv-pymilvus/bin/python bench/concurrency/concurrency_bench.py --dataset ../shared/data/dev \\
        --start-server .build/release/vireo --mode rest,pymilvus --clients 1,2,4,8 --seconds 20 --json out.jsonl
    .venv-pymilvus/bin/python bench/concurrency/concurrency_bench.py --dataset ../shared/data/dev \\
        --url http://127.0.0.1:19530 [--server-pid PID] --mode rest

Data: base.fvecs / query.fvecs of a dataset directory in ../shared/data/dev's layout (first --max-base rows); a
collection (id Int64, vector FloatVector) with an HNSW index (M 16, efConstruction 200, IP) is created over REST,
the rows inserted in batches of 1,000, flushed, and the run waits until every row is indexed, then loads it. A
sequential pass over the first queries checks recall@k against the exact neighbours (groundtruth.ivecs over the full
base, numpy brute force over a --max-base prefix), so the timed calls are known to return real results.
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import multiprocessing as mp
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import numpy as np

try:
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

    loads = orjson.loads
except ImportError:  # the stdlib encoder is slower, so client CPU per call is higher
    def dumps(obj) -> bytes:
        return json.dumps(obj, default=lambda o: o.tolist()).encode()

    loads = json.loads

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


# --- data ----------------------------------------------------------------------------------------------

def read_vecs(path, dtype, n=None):
    raw = np.fromfile(path, dtype=np.int32, count=-1)
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if n is not None:
        rows = rows[:n]
    return rows[:, 1:].copy().view(dtype)


def exact_topk(base, queries, k):
    """IP brute force: ids best first (float64)."""
    s = queries.astype(np.float64) @ base.astype(np.float64).T
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


# --- /proc -------------------------------------------------------------------------------------------

def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15 of proc(5)


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all cores (/proc/stat's cpu line)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)          # idle + iowait
    total = sum(v[:8])                                  # guest time is already in user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if int(p[1].rsplit(":", 1)[1], 16) == port and p[3] == "0A":  # LISTEN
                        inodes.add(p[9])
        except OSError:
            pass
    return inodes


def find_server_pid(port: int) -> int | None:
    """The `vireo` process listening on `port` (its socket inode among the process's fds); else the only
    `vireo serve` process; else None."""
    inodes = listening_inodes(port)
    candidates = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0] or os.path.basename(argv[0]) != b"vireo" or b"serve" not in argv:
            continue
        candidates.append(int(d))
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                link = os.readlink(f"/proc/{d}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(d)
        except OSError:
            pass  # another user's process: its fds are not readable
    return candidates[0] if len(candidates) == 1 else None


# --- server ------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartedServer:
    """`BIN serve` on a free loopback port with a temporary data directory; stopped (SIGTERM) and removed at the end."""

    def __init__(self, binary: str):
        self.data = tempfile.mkdtemp(prefix="vireo-concurrency-")
        self.port = free_port()
        self.log = open(os.path.join(self.data, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--data", os.path.join(self.data, "db"), "--host", "127.0.0.1",
                                      "--port", str(self.port), "--log-level", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"vireo serve exited ({self.proc.returncode}): {open(self.log.name).read()[-2000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    c.close()
                    return
                c.close()
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit("vireo serve did not become ready in 60 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


# --- REST --------------------------------------------------------------------------------------------

class Rest:
    """One kept-alive HTTP/1.1 connection (stdlib http.client: `requests` adds ~1.5 ms of Python per call)."""

    def __init__(self, url: str, token: str | None, timeout: float = 300):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, path: str, body) -> dict:
        data = body if isinstance(body, bytes) else dumps(body)
        try:
            self.conn.request("POST", f"/v2/vectordb/{path}", body=data, headers=self.headers)
            r = self.conn.getresponse()
            payload = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnect on the next call
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raise
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status} {payload[:300]!r}")
        return loads(payload)

    def call(self, path: str, body):
        out = self.post(path, body)
        if out.get("code", 0) != 0:
            raise RuntimeError(f"{path}: {out}")
        return out.get("data")


def search_body(a, collection: str, q: np.ndarray) -> dict:
    return {"collectionName": collection, "data": [q], "limit": a.k, "annsField": "vector",
            "searchParams": {"metricType": "IP", "params": {"ef": a.ef}}}


def prepare_collection(a, rest: Rest, base: np.ndarray):
    n, d = base.shape
    name = a.collection
    existing = rest.call("collections/list", {})
    if a.reuse and name in existing:
        stats = rest.call("collections/get_stats", {"collectionName": name})
        if int(stats.get("rowCount", -1)) == n:
            print(f"# reusing collection {name} ({n} rows)", file=sys.stderr, flush=True)
            rest.call("collections/load", {"collectionName": name})
            return {"reused": True}
    if name in existing:
        rest.call("collections/drop", {"collectionName": name})
    rest.call("collections/create", {"collectionName": name, "schema": {"autoID": False, "enableDynamicField": False, "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": d}},
    ]}, "indexParams": [{"fieldName": "vector", "indexName": "vector", "metricType": "IP", "indexType": "HNSW",
                         "params": {"M": 16, "efConstruction": 200}}]})
    t = time.perf_counter()
    for s in range(0, n, 1000):
        rows = [{"id": i, "vector": base[i]} for i in range(s, min(n, s + 1000))]
        got = rest.call("entities/insert", {"collectionName": name, "data": rows})
        assert got["insertCount"] == len(rows), got
    insert_s = time.perf_counter() - t
    rest.call("collections/flush", {"collectionName": name})
    t = time.perf_counter()
    while True:
        info = rest.call("indexes/describe", {"collectionName": name, "indexName": "vector"})[0]
        total, indexed = int(info.get("totalRows", -1)), int(info.get("indexedRows", -1))
        if int(info.get("pendingRows", 1)) == 0 and total == n and indexed == n:
            break
        if time.perf_counter() - t > a.index_timeout:
            raise SystemExit(f"index not built after {a.index_timeout} s: {info}")
        time.sleep(0.2)
    build_s = time.perf_counter() - t
    rest.call("collections/load", {"collectionName": name})
    print(f"# {n} rows inserted in {insert_s:.1f} s, HNSW built in {build_s:.1f} s", file=sys.stderr, flush=True)
    return {"reused": False, "insert_s": round(insert_s, 2), "build_s": round(build_s, 2)}


def check_recall(a, rest: Rest, base, queries, full_base: bool) -> float:
    m = min(len(queries), a.recall_queries)
    if full_base and (pathlib.Path(a.dataset) / "groundtruth.ivecs").exists():
        truth = read_vecs(pathlib.Path(a.dataset) / "groundtruth.ivecs", np.int32)[:m, :a.k]
    else:
        truth = exact_topk(base, queries[:m], a.k)
    found = 0
    for i in range(m):
        hits = rest.call("entities/search", search_body(a, a.collection, queries[i]))
        found += len({int(h["id"]) for h in hits} & {int(x) for x in truth[i]})
    return found / (m * a.k)


# --- clients -------------------------------------------------------------------------------------------

class RestSearcher:
    def __init__(self, a, queries):
        self.rest = Rest(a.url, a.token)
        self.k = a.k
        # Bodies encoded once: the timed loop measures the call, not JSON encoding of the query.
        self.bodies = [dumps(search_body(a, a.collection, q)) for q in queries]

    def search(self, i: int) -> bool:
        out = self.rest.post("entities/search", self.bodies[i])
        return out.get("code", 0) == 0 and len(out.get("data", ())) == self.k

    def close(self):
        self.rest.conn.close()


class PymilvusSearcher:
    def __init__(self, a, queries):
        from pymilvus import MilvusClient  # imported in the worker: each process has its own gRPC channel
        self.client = MilvusClient(uri=a.url, token=a.token or "")
        self.collection, self.k = a.collection, a.k
        self.params = {"metric_type": "IP", "params": {"ef": a.ef}}
        self.queries = [q.tolist() for q in queries]

    def search(self, i: int) -> bool:
        res = self.client.search(self.collection, [self.queries[i]], limit=self.k, anns_field="vector",
                                 search_params=self.params)
        return len(res) == 1 and len(res[0]) == self.k

    def close(self):
        self.client.close()


def run_window(searcher, start_query: int, nq: int, t0: float, t1: float, cpu_clock) -> dict:
    """Calls back to back from wall time t0 until t1; a call counts (and its latency) when it completes by t1."""
    while True:
        dt = t0 - time.time()
        if dt <= 0:
            break
        time.sleep(min(dt, 0.05))
    lat = []
    errors, first_error = 0, None
    i = start_query
    cpu0 = cpu_clock()
    while True:
        s = time.perf_counter()
        ok = False
        try:
            ok = searcher.search(i)
            if not ok and first_error is None:
                first_error = "wrong number of hits"
        except Exception as exc:  # counted, and the first one reported
            if first_error is None:
                first_error = repr(exc)[:300]
        done = time.perf_counter()
        if time.time() > t1:
            break
        if ok:
            lat.append(done - s)
        else:
            errors += 1
        i = (i + 1) % nq
    cpu = cpu_clock() - cpu0
    return {"lat": np.asarray(lat, dtype=np.float64), "errors": errors, "first_error": first_error, "cpu_s": cpu}


def make_searcher(mode, a, queries):
    return RestSearcher(a, queries) if mode == "rest" else PymilvusSearcher(a, queries)


def worker_main(conn, mode, a, queries):
    """A client process: set up, warm up, then one window per 'run' message."""
    try:
        searcher = make_searcher(mode, a, queries)
        for i in range(a.warmup):
            searcher.search(i % len(queries))
        conn.send(("ready", None))
    except Exception as e:
        conn.send(("failed", repr(e)[:500]))
        return
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            searcher.close()
            return
        _, start_query, t0, t1 = msg
        conn.send(("done", run_window(searcher, start_query, len(queries), t0, t1, time.process_time)))


class ProcessPool:
    def __init__(self, mode, a, queries, n):
        ctx = mp.get_context("spawn")  # no grpc state or open sockets inherited from the parent
        self.conns, self.procs = [], []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(child, mode, a, queries), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for c in self.conns:
            kind, info = c.recv()
            if kind != "ready":
                self.close()
                raise SystemExit(f"a {mode} client failed to start: {info}")

    def run(self, n, starts, t0, t1):
        for c, s in zip(self.conns[:n], starts):
            c.send(("run", s, t0, t1))
        return [c.recv()[1] for c in self.conns[:n]]

    def close(self):
        for c in self.conns:
            try:
                c.send(("stop",))
            except OSError:
                pass
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


class ThreadPool:
    """REST clients as threads of this process (--rest-workers thread): the GIL is shared, so client CPU caps sooner."""

    def __init__(self, mode, a, queries, n):
        self.searchers = [make_searcher(mode, a, queries) for _ in range(n)]
        for s in self.searchers:
            for i in range(a.warmup):
                s.search(i % len(queries))
        self.nq = len(queries)

    def run(self, n, starts, t0, t1):
        out = [None] * n

        def go(j):
            out[j] = run_window(self.searchers[j], starts[j], self.nq, t0, t1, time.thread_time)
        threads = [threading.Thread(target=go, args=(j,)) for j in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def close(self):
        for s in self.searchers:
            s.close()


# --- one round -----------------------------------------------------------------------------------------

def measure(pool, n, nq, seconds, server_pid):
    starts = [(j * nq) // n for j in range(n)]   # clients spread over the query set
    t0 = time.time() + 0.3
    t1 = t0 + seconds
    results = {}

    def sample_window():
        while time.time() < t0:
            time.sleep(0.005)
        results["srv0"] = proc_cpu_s(server_pid) if server_pid else None
        results["m0"] = machine_cpu_s()
        while time.time() < t1:
            time.sleep(0.01)
        results["srv1"] = proc_cpu_s(server_pid) if server_pid else None
        results["m1"] = machine_cpu_s()
        results["load"] = loadavg()
    sampler = threading.Thread(target=sample_window)
    sampler.start()
    per_client = pool.run(n, starts, t0, t1)
    sampler.join()
    return per_client, results


def summarize(mode, a, n, per_client, window, base_qps, meta):
    lat = np.concatenate([c["lat"] for c in per_client]) * 1e3
    calls = int(lat.size)
    errors = sum(c["errors"] for c in per_client)
    qps = calls / a.seconds
    p50, p95, p99 = (float(np.percentile(lat, p)) if calls else float("nan") for p in (50, 95, 99))
    per = [c["lat"].size / a.seconds for c in per_client]
    srv = None
    if window["srv0"] is not None and window["srv1"] is not None:
        srv = 100 * (window["srv1"] - window["srv0"]) / a.seconds
    busy = 100 * (window["m1"][0] - window["m0"][0]) / a.seconds      # % of one core, all cores summed
    client_cpu = 100 * sum(c["cpu_s"] for c in per_client) / a.seconds
    others = busy - client_cpu - (srv or 0.0)
    first_error = next((c["first_error"] for c in per_client if c["first_error"]), None)
    return {
        "mode": mode, "workers": a.rest_workers if mode == "rest" else "process", "clients": n,
        "seconds": a.seconds, "calls": calls, "errors": errors, "first_error": first_error,
        "qps": round(qps, 1), "qps_per_client": round(qps / n, 1),
        "qps_per_client_min": round(min(per), 1), "qps_per_client_max": round(max(per), 1),
        "qps_ratio_vs_1": round(qps / base_qps, 3) if base_qps else (1.0 if n == 1 else None),
        "p50_ms": round(p50, 3), "p95_ms": round(p95, 3), "p99_ms": round(p99, 3),
        "p99_over_p50": round(p99 / p50, 2) if p50 > 0 else None,
        "server_cpu_pct": round(srv, 1) if srv is not None else None,
        "client_cpu_pct": round(client_cpu, 1), "machine_busy_pct": round(busy, 1),
        "others_cpu_pct": round(others, 1), "machine_cores": NCPU,
        "load1": window["load"][0], "load5": window["load"][1],
        **meta,
    }


def markdown(rows) -> str:
    head = ("| mode | N | QPS | QPS/client | ×N=1 | p50 ms | p95 ms | p99 ms | p99/p50 | server CPU % | client CPU % "
            "| machine busy % | others % | load1 | errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        f = lambda v, p=1: "—" if v is None else f"{v:.{p}f}"  # noqa: E731
        lines.append(f"| {r['mode']}{'' if r['workers'] == 'process' else ' (' + r['workers'] + 's)'} | {r['clients']} "
                     f"| {f(r['qps'])} | {f(r['qps_per_client'])} | {f(r['qps_ratio_vs_1'], 2)} | {f(r['p50_ms'], 2)} "
                     f"| {f(r['p95_ms'], 2)} | {f(r['p99_ms'], 2)} | {f(r['p99_over_p50'], 2)} | {f(r['server_cpu_pct'])} "
                     f"| {f(r['client_cpu_pct'])} | {f(r['machine_busy_pct'])} | {f(r['others_cpu_pct'])} "
                     f"| {r['load1']:.2f} | {r['errors']} |")
    return "\n".join(lines)


def git_sha() -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="directory with base.fvecs and query.fvecs (../shared/data/dev layout)")
    ap.add_argument("--max-base", type=int, help="first N base rows (default: all)")
    ap.add_argument("--max-queries", type=int, help="first N queries (default: all)")
    ap.add_argument("--mode", default="rest", help="rest, pymilvus, or both comma-separated (run in that order)")
    ap.add_argument("--rest-workers", choices=["process", "thread"], default="process")
    ap.add_argument("--clients", default="1,2,4,8", help="comma-separated numbers of concurrent clients")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    ap.add_argument("--warmup", type=int, default=20, help="calls each client makes before the first window")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64)
    server = ap.add_mutually_exclusive_group(required=True)
    server.add_argument("--start-server", metavar="BIN", help="start `BIN serve` (temp data dir, free port) and stop it at the end")
    server.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:19530")
    ap.add_argument("--server-pid", type=int, help="the server's pid for its CPU (default: found by the listening port)")
    ap.add_argument("--token")
    ap.add_argument("--collection", default="concurrency_bench")
    ap.add_argument("--reuse", action="store_true", help="keep an existing collection with the same row count")
    ap.add_argument("--recall-queries", type=int, default=100, help="queries of the recall check before the runs")
    ap.add_argument("--index-timeout", type=float, default=1800)
    ap.add_argument("--json", metavar="FILE", help="append one JSON object per (mode, N) to FILE ('-': stdout)")
    a = ap.parse_args()

    modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in modes:
        if m not in ("rest", "pymilvus"):
            ap.error(f"unknown mode {m!r}: use rest and/or pymilvus")
    clients = [int(x) for x in a.clients.split(",")]
    if not clients or min(clients) < 1:
        ap.error("--clients takes positive numbers")

    ds = pathlib.Path(a.dataset)
    base = read_vecs(ds / "base.fvecs", np.float32, a.max_base)
    full_n = os.path.getsize(ds / "base.fvecs") // (4 * (base.shape[1] + 1))
    queries = read_vecs(ds / "query.fvecs", np.float32, a.max_queries)

    started = StartedServer(a.start_server) if a.start_server else None
    try:
        if started:
            a.url = started.url
        port = urllib.parse.urlsplit(a.url).port or 80
        server_pid = a.server_pid or (started.proc.pid if started else find_server_pid(port))
        if server_pid is None:
            print("# warning: server process not found (give --server-pid): server CPU not reported", file=sys.stderr)
        rest = Rest(a.url, a.token)
        setup = prepare_collection(a, rest, base)
        recall = check_recall(a, rest, base, queries, full_base=len(base) == full_n)
        print(f"# recall@{a.k} = {recall:.4f} over {min(len(queries), a.recall_queries)} queries (ef {a.ef})",
              file=sys.stderr, flush=True)
        rest.conn.close()
        meta = {"dataset": ds.name, "n_base": int(len(base)), "dim": int(base.shape[1]), "n_queries": int(len(queries)),
                "k": a.k, "ef": a.ef, "index": "HNSW M16 efConstruction200 IP", "recall_at_k": round(recall, 4),
                "server_pid": server_pid, "server_started": bool(started), "git_sha": git_sha(),
                "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **setup}
        rows = []
        for mode in modes:
            Pool = ThreadPool if mode == "rest" and a.rest_workers == "thread" else ProcessPool
            pool = Pool(mode, a, queries, max(clients))
            try:
                base_qps = None
                for n in clients:
                    per_client, window = measure(pool, n, len(queries), a.seconds, server_pid)
                    r = summarize(mode, a, n, per_client, window, base_qps, meta)
                    if n == 1:
                        base_qps = r["qps"]
                    rows.append(r)
                    print(f"# {mode} N={n}: {r['qps']} QPS, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, server CPU "
                          f"{r['server_cpu_pct']} %, clients {r['client_cpu_pct']} %, errors {r['errors']}"
                          + (f" (first: {r['first_error']})" if r["first_error"] else ""), file=sys.stderr, flush=True)
            finally:
                pool.close()
    finally:
        if started:
            started.stop()

    print(f"\n{len(base)} × {base.shape[1]} ({ds.name}), HNSW M16 efC200 IP, top-{a.k}, ef {a.ef}, recall@{a.k} "
          f"{recall:.4f}, {a.seconds:g} s per point, {NCPU} cores; CPU in % of one core\n")
    print(markdown(rows))
    if a.json:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if a.json == "-":
            sys.stdout.write(text)
        else:
            with open(a.json, "a") as f:
                f.write(text)


if __name__ == "__main__":
    main()
