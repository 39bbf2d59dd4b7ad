"""Startup and memory benchmark: what a new user waits for, and what the processes hold.

    python benchmarks/bench_startup.py                # index of seeds/, serve on it, serve building it first
    python benchmarks/bench_startup.py --skip-first-start

Runs the real commands as separate processes, each measured on its own:
  1. `python -m rag index` into a temporary folder: wall time and peak RSS (the kernel's count for that child);
  2. `python -m rag serve` on that index: time from launch to the first answer over HTTP (the /ask API), peak
     RSS of the serving process and its RSS after a few more answers;
  3. `python -m rag serve` with no index: the same, the build included (first start).
Prints the CPU model and the flags that matter for the int8 kernels; figures vary with the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_test import free_port  # noqa: E402

QUESTIONS = ["What is melanoma?", "How is kidney cancer treated?", "what does daratumumab do",
             "Can colon cancer come back after treatment?", "what is the parking fee at the clinic"]
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "fma")


def cpu_summary() -> str:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    shown = " ".join(f for f in CPU_FLAGS if f in flags) or "none of " + ", ".join(CPU_FLAGS)
    return f"{model}, {os.cpu_count()} logical cores; flags: {shown}"


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak so far) of a live process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def run_index(index_dir: Path, docs: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, summary line) of one `rag index` process."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rag", "index", "--docs", str(docs), "--index", str(index_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"rag index failed with exit code {proc.returncode}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024, out.strip()


def ask(url: str, question: str, timeout: float = 120) -> dict:
    """One question through the app's named /ask endpoint (POST, then read the event stream)."""
    body = json.dumps({"data": [question, []]}).encode()
    req = urllib.request.Request(url + "gradio_api/call/ask", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        event_id = json.loads(resp.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/ask/{event_id}", timeout=timeout) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if isinstance(data, list) and data and isinstance(data[0], dict):
                    return data[0]
    raise RuntimeError(f"no answer for {question!r}")


def run_serve(index_dir: Path, docs: Path, label: str, timeout: float = 900) -> None:
    port = free_port()
    env = {**os.environ, "RAG_AUDIT_LOG": str(index_dir.parent / f"audit-{port}.jsonl")}
    log = open(index_dir.parent / f"serve-{port}.log", "w")
    t = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--index", str(index_dir), "--docs", str(docs),
                               "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"{label}: serve exited with {server.returncode}; see {log.name}")
            if time.perf_counter() - t > timeout:
                raise SystemExit(f"{label}: no answer within {timeout:.0f} s")
            try:
                first = ask(url, QUESTIONS[0])
                break
            except OSError:
                time.sleep(0.25)
        first_answer = time.perf_counter() - t
        for q in QUESTIONS * 4:
            ask(url, q)
        mem = status_mb(server.pid)
        print(f"{label}: first answer ({first['status']}) {first_answer:.1f} s after launch; "
              f"serving process peak RSS {mem['VmHWM']:.0f} MB, RSS after {1 + 4 * len(QUESTIONS)} answers "
              f"{mem['VmRSS']:.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=Path, default=ROOT / "seeds")
    ap.add_argument("--skip-first-start", action="store_true", help="do not measure serve building the index itself")
    args = ap.parse_args()
    import torch

    print(f"CPU: {cpu_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        seconds, peak, summary = run_index(work / "index", args.docs)
        print(f"rag index: {seconds:.1f} s, peak RSS {peak:.0f} MB ({summary})")
        run_serve(work / "index", args.docs, "rag serve, index present")
        if not args.skip_first_start:
            run_serve(work / "fresh-index", args.docs, "rag serve, first start (builds the index)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
