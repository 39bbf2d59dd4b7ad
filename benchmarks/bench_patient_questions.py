"""Patients' questions through the whole engine, this tree beside an earlier commit's, in one run.

    python benchmarks/bench_patient_questions.py --questions F [--questions F ...] [--baseline-rev 5cc4d9b]
        [--index models/index] [--by-style]

For each question file (and, with --by-style, each style): answered, refused, urgent replies, the first
citation right, the retrieval's own first document right (before any document choice), and a naive dense pipeline's
first document right (the same MiniLM vectors of the same passages, flat inner product, no threshold, no fusion);
for out-of-scope files, the share refused. Then the warm `ask` p50 (each question asked twice, the second timed).
With --baseline-rev, the same measurement runs on that commit's code (a git worktree, same index, same questions)
in a child process of this run, and both are printed side by side, so the figures are ratios on one machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = Path(os.environ.get("RAG_BENCH_ROOT") or HERE.parents[1])
sys.path.insert(0, str(ROOT))

from rag import Config  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.evaluate import load_cases, short_id  # noqa: E402


def measure(index: Path, files: list[Path], by: str | None) -> list[dict]:
    import numpy as np

    engine = Engine.load(Config.from_env(index_dir=index))
    # the conversation before a follow-up, read from the files themselves (an older tree's loader may drop it)
    histories = {(str(f), no): row.get("history") or [] for f in files
                 for no, row in enumerate((json.loads(x) if x.strip() else {} for x in Path(f).read_text().splitlines()), 1)}
    rows = []
    for case in load_cases(files):
        if case.expect not in ("answer", "no_answer"):
            continue
        history = histories.get((case.file, case.line), [])
        engine.ask(case.question, history)  # warm: the second is timed
        ans = engine.ask(case.question, history)
        first = short_id(ans.citations[0].doc_id) if ans.citations else None
        if hasattr(engine, "retrieve"):
            from rag.message.clean import clean
            hits = engine.retrieve(clean(case.question).text, "en", history).hits
        else:
            hits = engine.search(case.question)
        vector = engine.embedder.encode(case.question)
        naive = int(np.argmax(engine.index.vectors @ vector))
        rows.append({"file": Path(case.file).name, "group": case.topic if by else "", "expect": case.expect,
                     "status": ans.status, "reason": ans.reason,
                     "first_ok": first in case.gold if first else False,
                     "hit_ok": bool(hits) and short_id(hits[0].chunk.doc_id) in case.gold,
                     "naive_ok": short_id(engine.index.chunks[naive].doc_id) in case.gold,
                     "ms": ans.timings_ms.get("total", 0.0)})
    return rows


def summarize(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    groups: dict[str, list[dict]] = defaultdict(list)
    mixed = {r["file"] for r in rows if r["expect"] == "answer"} & {r["file"] for r in rows if r["expect"] != "answer"}
    for r in rows:
        side = (" · answerable" if r["expect"] == "answer" else " · out of scope") if r["file"] in mixed else ""
        groups[r["file"] + side].append(r)
        if r["group"] and r["expect"] == "answer":
            groups[f"{r['file']} · {r['group']}"].append(r)
    for name, rs in sorted(groups.items()):
        n = len(rs)
        if rs[0]["expect"] == "answer":
            out[name] = {"n": n, "answered": sum(r["status"] == "answered" for r in rs) / n,
                         "refused": sum(r["status"] == "no_answer" for r in rs) / n,
                         "urgent": sum(r["status"] == "urgent" for r in rs) / n,
                         "first citation": sum(r["first_ok"] for r in rs) / n,
                         "first hit": sum(r["hit_ok"] for r in rs) / n,
                         "naive dense": sum(r["naive_ok"] for r in rs) / n}
        else:
            out[name] = {"n": n, "refused": sum(r["status"] != "answered" for r in rs) / n}
    out["warm ask p50 ms"] = {"n": len(rows), "ms": statistics.median(r["ms"] for r in rows) if rows else 0.0}
    return out


def baseline(rev: str, index: Path, files: list[Path], by: str | None) -> list[dict]:
    tree = Path(f"/tmp/rag-baseline-{rev}")
    if not tree.exists():
        subprocess.run(["git", "-C", str(HERE.parents[1]), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
    cmd = [sys.executable, str(HERE), "--rows", "--index", str(index.resolve())]
    for f in files:
        cmd += ["--questions", str(f.resolve())]
    if by:
        cmd += ["--by-style"]
    done = subprocess.run(cmd, env={**os.environ, "RAG_BENCH_ROOT": str(tree)}, cwd=tree, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, action="append", required=True)
    ap.add_argument("--index", type=Path, default=Path("models/index"))
    ap.add_argument("--baseline-rev", help="an earlier commit to measure beside this tree")
    ap.add_argument("--by-style", dest="by", action="store_const", const="style",
                    help="break the figures down by the rows' style (or topic) field")
    ap.add_argument("--rows", action="store_true", help=argparse.SUPPRESS)  # the child's output: raw rows as JSON
    args = ap.parse_args()
    if args.rows:
        print(json.dumps(measure(args.index, args.questions, args.by)))
        return 0
    from bench_safety import cpu_model

    print(f"CPU: {cpu_model()}")
    now = summarize(measure(args.index, args.questions, args.by))
    before = summarize(baseline(args.baseline_rev, args.index, args.questions, args.by)) if args.baseline_rev else {}
    cols = ["answered", "refused", "urgent", "first citation", "first hit", "naive dense"]
    print(f"\n| rows | n | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, fig in now.items():
        if name == "warm ask p50 ms":
            continue
        old = before.get(name, {})
        cells = [(f"{fig[c]:.3f}" + (f" (was {old[c]:.3f})" if c in old else "")) if c in fig else "" for c in cols]
        print(f"| {name} | {fig['n']} | " + " | ".join(cells) + " |")
    was = before.get("warm ask p50 ms", {}).get("ms")
    print(f"\nwarm ask p50: {now['warm ask p50 ms']['ms']:.2f} ms" + (f" (baseline {args.baseline_rev}: {was:.2f} ms, "
          f"{now['warm ask p50 ms']['ms'] - was:+.2f} ms)" if was is not None else ""))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
