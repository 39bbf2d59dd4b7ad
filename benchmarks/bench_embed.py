"""Embedding backends and precisions compared in one process: question encode latency, passage throughput, and
agreement with PyTorch float32 (the reference every precision is judged against).

    python benchmarks/bench_embed.py                 # ≈ 4 min on 2 cores (PyTorch float32 is most of it)
    python benchmarks/bench_embed.py --build         # also: a whole `python -m rag index` of seeds/ per candidate
    python benchmarks/bench_embed.py --build-only 2  # only whole builds, 2 interleaved rounds (wall and CPU time)
    python benchmarks/bench_embed.py --questions 300 --passages 1024 --batch-sizes 16,32,64

Candidates run interleaved (each question goes to every candidate in turn) so load from other processes hits
them alike: compare ratios within one run, not figures across runs. Questions are encoded as `ask` encodes
them (encode_with_frame, one at a time, warm); "1 thread" rows pin the runtime to one intra-op thread.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_safety import cpu_model  # noqa: E402
from rag import Config  # noqa: E402
from rag.ingest.chunker import chunk_document  # noqa: E402
from rag.ingest.documents import load_documents  # noqa: E402
from rag.encode.embeddings import Embedder  # noqa: E402
from rag.engine import make_embedder  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
CANDIDATES = [("torch", "int8", 0), ("torch", "int8", 1), ("torch", "float32", 0), ("onnx", "float32", 0), ("onnx", "float32", 1),
              ("onnx", "int8", 0), ("onnx", "int8", 1)]


def questions(n: int) -> list[str]:
    """Patient and medquad questions from ../shared/eval when present, else section headings of seeds/."""
    found: list[str] = []
    for name in ("dev_patient_questions.jsonl", "medquad_cancergov.jsonl"):
        if (EVAL / name).is_file():
            found += [json.loads(line)["question"] for line in open(EVAL / name, encoding="utf-8") if line.strip()]
    if not found:
        found = [line.lstrip("# ").strip() + "?" for doc in load_documents(ROOT / "seeds").documents
                 for line in doc.text.splitlines() if line.startswith("## ")]
    return found[:n]


def passages(embedder: Embedder, n: int) -> list[str]:
    """A spread of real passages (what the index build embeds), every k-th of the seeds' chunks."""
    chunks = [c.embed_text for doc in load_documents(ROOT / "seeds").documents
              for c in chunk_document(doc, embedder.count_tokens)]
    return chunks[:: max(1, len(chunks) // n)][:n]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def pinned(embedder: Embedder, threads: int) -> Callable[[Callable[[], object]], object]:
    """Run a call with PyTorch limited to `threads` (ONNX Runtime's count is fixed when its session is made)."""
    def run(call):
        if embedder.backend != "torch" or not threads:
            return call()
        import torch
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return call()
        finally:
            torch.set_num_threads(before)
    return run


BUILDS = [("torch", "int8"), ("torch", "float32"), ("onnx", "float32"), ("onnx", "int8")]


def build_seconds(backend: str, dtype: str) -> tuple[float, float]:
    """(wall, CPU) seconds of a whole `python -m rag index` of seeds/ into a temp folder, as a user runs it. CPU
    time (all threads) is the steadier figure when other processes share the machine."""
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        env = {**os.environ, "RAG_EMBED_BACKEND": backend, "RAG_MODEL_DTYPE": dtype, "RAG_INDEX_DIR": tmp,
               "RAG_DOCS_DIR": str(ROOT / "seeds")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag", "index"], cwd=ROOT, env=env, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter() - started, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def compare_builds(rounds: int) -> None:
    """Whole builds only, interleaved round by round; best wall and CPU time of each."""
    best: dict[str, list[float]] = {}
    for _ in range(rounds):
        for backend, dtype in BUILDS:
            wall, cpu = build_seconds(backend, dtype)
            key = f"{backend} {dtype}"
            best[key] = [min(a, b) for a, b in zip(best.get(key, [wall, cpu]), (wall, cpu))]
    base = best["torch int8"]
    print(f"\nseeds/ build, best of {rounds} interleaved rounds\n")
    print("| backend, precision | wall s | CPU s | wall vs torch int8 | CPU vs torch int8 |\n|---|---|---|---|---|")
    for key, (wall, cpu) in best.items():
        print(f"| {key} | {wall:.1f} | {cpu:.1f} | {wall / base[0]:.2f}× | {cpu / base[1]:.2f}× |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=220)
    ap.add_argument("--passages", type=int, default=256)
    ap.add_argument("--batch-sizes", default="16")
    ap.add_argument("--build", action="store_true", help="also time a whole seeds/ build per backend/precision")
    ap.add_argument("--build-only", type=int, metavar="ROUNDS", help="only whole builds, this many interleaved rounds")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()} · {os.cpu_count()} logical cores")
    if args.build_only:
        compare_builds(args.build_only)
        return
    made = {}
    for backend, dtype, threads in CANDIDATES:
        key = f"{backend} {dtype}" + (" 1 thread" if threads else "")
        started = time.perf_counter()
        cfg = Config.from_env(embed_backend=backend, model_dtype=dtype,
                              embed_threads=threads if backend == "onnx" else 0)
        made[key] = (make_embedder(cfg), threads)
        print(f"loaded {key:22s} in {time.perf_counter() - started:5.1f} s ({made[key][0].model_id})")
    reference = made["torch float32"][0]
    qs, ps = questions(args.questions), passages(reference, args.passages)
    q_ref, p_ref = reference.encode(qs), reference.encode(ps)
    latency: dict[str, list[float]] = {k: [] for k in made}
    for q in qs[:10]:  # warm-up
        for embedder, threads in made.values():
            pinned(embedder, threads)(lambda: embedder.encode_with_frame(q))
    for q in qs:
        for key, (embedder, threads) in made.items():
            latency[key].append(pinned(embedder, threads)(lambda: timed(lambda: embedder.encode_with_frame(q))))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    throughput: dict[tuple[str, int], float] = {}
    for _ in range(2):  # best of two interleaved rounds
        for bs in batch_sizes:
            for key, (embedder, threads) in made.items():
                embedder.batch_size = bs
                ms = pinned(embedder, threads)(lambda: timed(lambda: embedder.encode(ps)))
                throughput[key, bs] = max(throughput.get((key, bs), 0.0), len(ps) / (ms / 1000))
    builds = {}
    if args.build:
        for backend, dtype in BUILDS:
            builds[f"{backend} {dtype}"] = build_seconds(backend, dtype)[0]

    print(f"\n{len(qs)} questions (encode_with_frame, one at a time), {len(ps)} passages "
          f"(mean {np.mean(reference.count_tokens(ps)):.0f} word-pieces)\n")
    columns = (["backend, precision", "question p50 ms", "p95 ms"] + [f"passages/s bs={b}" for b in batch_sizes]
               + ["question cos to torch fp32 mean / min", "passage cos mean / min"] + (["seeds build s"] if builds else []))
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for key, (embedder, _) in made.items():
        lat = sorted(latency[key])
        q_cos = (embedder.encode(qs) * q_ref).sum(axis=1)
        p_cos = (embedder.encode(ps) * p_ref).sum(axis=1)
        build = builds.get(key)
        print(f"| {key} | {statistics.median(lat):.2f} | {lat[int(0.95 * len(lat)) - 1]:.2f} | "
              + " | ".join(f"{throughput[key, b]:.1f}" for b in batch_sizes)
              + f" | {q_cos.mean():.4f} / {q_cos.min():.4f} | {p_cos.mean():.4f} / {p_cos.min():.4f} |"
              + (f" {build:.1f} |" if build else (" – |" if builds else "")))


if __name__ == "__main__":
    main()
