"""Engine benchmark: build time, query latency, peak RSS and retrieval quality on ../shared/eval.

    python benchmarks/bench_engine.py              # full: builds a fresh index of seeds/ in a temp folder
    python benchmarks/bench_engine.py --index models/index   # reuse an existing index (quality + latency only)
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Config, Engine  # noqa: E402
from rag.retrieval.retriever import doc_ranking  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def gold_of(row: dict) -> set[str]:
    return set(row.get("gold_docs") or [row["doc_id"]])


def short_id(doc_id: str) -> str:
    return doc_id.split("-")[0]


def retrieval_quality(engine: Engine, rows: list[dict], mode: str) -> dict[str, float]:
    hit1 = hit5 = rr = 0.0
    for row in rows:
        hits = engine.search(row["question"], k=10, mode=mode)
        docs = [short_id(d) for d in doc_ranking(hits)]
        gold = gold_of(row)
        ranks = [i for i, d in enumerate(docs[:10], 1) if d in gold]
        hit1 += bool(ranks and ranks[0] == 1)
        hit5 += bool(ranks and ranks[0] <= 5)
        rr += 1.0 / ranks[0] if ranks else 0.0
    n = len(rows)
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@10": rr / n}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in open(EVAL / name, encoding="utf-8") if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, help="use this existing index instead of building a fresh one")
    ap.add_argument("--modes", default="dense,lexical,hybrid")
    args = ap.parse_args()
    if args.index:
        config = Config.from_env(index_dir=args.index)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
        config = Config.from_env(index_dir=tmp, docs_dir=ROOT / "seeds")
        # the build runs as the CLI does, in its own process, so its time and peak memory are its own
        import os
        import subprocess
        t = time.perf_counter()
        env = {**os.environ, "RAG_INDEX_DIR": str(tmp), "RAG_DOCS_DIR": str(ROOT / "seeds")}
        out = subprocess.run([sys.executable, "-m", "rag", "index"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        dt = time.perf_counter() - t
        passages = json.loads(next(tmp.glob("build-*/manifest.json")).read_text())["counts"]["passages"]
        print(f"build (python -m rag index, whole process): {passages} passages in {dt:.1f} s "
              f"({passages / dt:.1f} passages/s); peak RSS of the build "
              f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
        print("  " + out.stdout.strip())
    engine = Engine.load(config)
    sets = {"medquad": load("medquad_cancergov.jsonl"), "dev_patient": load("dev_patient_questions.jsonl")}
    for name, rows in sets.items():
        for mode in args.modes.split(","):
            q = retrieval_quality(engine, rows, mode)
            print(f"quality {name:12s} {mode:8s} n={len(rows):4d} " + " ".join(f"{k}={v:.3f}" for k, v in q.items()))
    questions = [r["question"] for r in sets["dev_patient"]] + [r["question"] for r in sets["medquad"][:200]]
    for q in questions[:10]:
        engine.ask(q)
    lat = []
    for q in questions:
        t = time.perf_counter()
        engine.ask(q)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    print(f"ask latency (warm, sequential, n={len(lat)}): p50={statistics.median(lat):.1f} ms "
          f"p95={lat[int(0.95 * len(lat)) - 1]:.1f} ms")
    print(f"peak RSS of the answering process (engine + all of the above): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
