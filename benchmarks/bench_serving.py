"""Many patients at once: answers/s and latency of POST /v1/ask beside Gradio's /ask, on one replica and on two
behind nginx, all on one PostgreSQL store; then each store's startup time and memory. One run, CPU flags printed.

    python benchmarks/bench_serving.py [--index models/index] [--requests 200]

Needs Debian's postgresql and nginx (benchmarks/servers.py starts them). Every request is a different question
(a list of answerable ones with a number appended), so nothing is answered from a cache."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_safety import cpu_model  # noqa: E402
from servers import fresh_database, nginx_front, postgres_server, replicas  # noqa: E402

QUESTIONS = ["how is colon cancer treated?", "what are the symptoms of melanoma?", "what is daratumumab?",
             "what are the stages of kidney cancer?", "who gets multiple myeloma?", "how is adult ALL treated?"]


def question(i: int) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"


def v1(url: str, i: int) -> float:
    req = urllib.request.Request(url + "/v1/ask", data=json.dumps({"question": question(i)}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())
    return (time.perf_counter() - t) * 1000


def load(call, clients: int, requests: int) -> dict[str, float]:
    times, errors = [], 0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for result in pool.map(lambda i: _safe(call, i), range(requests)):
            if result is None:
                errors += 1
            else:
                times.append(result)
    wall = time.perf_counter() - t0
    times.sort()
    return {"answers_per_s": len(times) / wall, "p50": statistics.median(times) if times else 0.0,
            "p95": times[int(0.95 * (len(times) - 1))] if times else 0.0, "errors": errors}


def _safe(call, i: int):
    try:
        return call(i)
    except Exception:  # noqa: BLE001 - an error is counted, the run goes on
        return None


def gradio_caller(url: str, clients: int):
    from gradio_client import Client

    pool = [Client(url + "/", verbose=False) for _ in range(clients)]

    def call(i: int) -> float:
        t = time.perf_counter()
        pool[i % clients].predict(question(i), [], api_name="/ask")
        return (time.perf_counter() - t) * 1000
    return call


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "models" / "index")
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}")
    work = Path(tempfile.mkdtemp(prefix="rag-bench-serving-"))
    env = {"RAG_INDEX_DIR": str(args.index.resolve()), "RAG_CONCURRENCY_LIMIT": "4"}
    rows = []
    with postgres_server() as server:
        for n in (1, 2):
            url = fresh_database(server, f"serving{n}")
            with replicas(n, {**env, "RAG_DATABASE_URL": url}, work / f"logs{n}") as (urls, _procs):
                with nginx_front(urls, work / f"nginx{n}") as front:
                    target = urls[0] if n == 1 else front
                    for clients in (20, 50):
                        for name, call in (("POST /v1/ask", lambda i, t=target: v1(t, i)),
                                           ("Gradio /ask", gradio_caller(target, clients))):
                            fig = load(call, clients, args.requests)
                            rows.append((name, n, clients, fig))
                            print(f"{name:13s} replicas {n} clients {clients}: {fig['answers_per_s']:.1f} answers/s, "
                                  f"p50 {fig['p50']:.0f} ms, p95 {fig['p95']:.0f} ms, errors {fig['errors']}", flush=True)
        print("\n| endpoint | replicas | clients | answers/s | p50 ms | p95 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, n, clients, fig in rows:
            print(f"| {name} | {n} | {clients} | {fig['answers_per_s']:.1f} | {fig['p50']:.0f} | {fig['p95']:.0f} | "
                  f"{fig['errors']} |")
        for n in (1, 2):
            for clients in (20, 50):
                v = next(f for name, m, c, f in rows if name == "POST /v1/ask" and m == n and c == clients)
                g = next(f for name, m, c, f in rows if name == "Gradio /ask" and m == n and c == clients)
                print(f"replicas {n}, {clients} clients: /v1/ask {v['answers_per_s'] / max(g['answers_per_s'], 1e-9):.1f}x "
                      "Gradio's answers/s")
        # startup and memory with each store
        print("\n| store | startup to first page (s) | RSS after 20 answers (MB) |")
        print("|---|---:|---:|")
        for store, extra in (("SQLite", {"RAG_AUDIT_LOG": str(work / "audit.db")}),
                             ("PostgreSQL", {"RAG_DATABASE_URL": fresh_database(server, "startup")})):
            t = time.perf_counter()
            with replicas(1, {**env, **extra}, work / f"start-{store}") as (urls, procs):
                started = time.perf_counter() - t
                for i in range(20):
                    v1(urls[0], i)
                print(f"| {store} | {started:.1f} | {rss_mb(procs[0].pid):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
