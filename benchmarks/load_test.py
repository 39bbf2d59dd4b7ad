"""Load benchmark: 20 concurrent clients x 10 questions against a live server on loopback.

Starts `python -m rag serve` on a free port (index at models/index, built if missing), then drives the /ask API
with gradio_client from 20 threads.  python benchmarks/load_test.py [--clients 20] [--questions 10]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions() -> list[str]:
    qs = []
    for name in ("dev_patient_questions.jsonl", "dev_out_of_scope.jsonl", "dev_urgent.jsonl", "medquad_cancergov.jsonl"):
        path = EVAL / name
        if path.is_file():
            qs += [json.loads(line)["question"] for line in path.open() if line.strip()][:100]
    return qs or ["what is daratumumab?", "what are the symptoms of leukemia?"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10)
    args = ap.parse_args()
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "RAG_AUDIT_LOG": str(ROOT / "models" / "load-test-audit.jsonl")}
    server = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        pool = questions()
        latencies: list[float] = []
        errors: list[str] = []
        statuses: dict[str, int] = {}
        lock = threading.Lock()

        def worker(i: int) -> None:
            client = Client(url, verbose=False)
            for j in range(args.questions):
                q = pool[(i * args.questions + j) % len(pool)]
                t = time.perf_counter()
                try:
                    out = client.predict(q, api_name="/ask")
                    ms = (time.perf_counter() - t) * 1000
                    with lock:
                        latencies.append(ms)
                        statuses[out["status"]] = statuses.get(out["status"], 0) + 1
                except Exception as err:  # counted, reported
                    with lock:
                        errors.append(f"{type(err).__name__}: {err}")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        latencies.sort()
        total = args.clients * args.questions
        print(f"requests: {total} from {args.clients} concurrent clients; errors: {len(errors)}")
        print(f"throughput: {len(latencies) / wall:.1f} answers/s over {wall:.1f} s; statuses {statuses}")
        if latencies:
            print(f"latency (client-side, incl. queueing): p50={statistics.median(latencies):.0f} ms "
                  f"p95={latencies[int(0.95 * len(latencies)) - 1]:.0f} ms max={latencies[-1]:.0f} ms")
        for e in errors[:5]:
            print("  error:", e)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
