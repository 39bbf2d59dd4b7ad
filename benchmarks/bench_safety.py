"""Safety triage, cross-validated on the labelled bank (rag/safety/bank/ + a clinic's examples folder).

    python benchmarks/bench_safety.py                      # 10-fold group CV at the configured thresholds
    python benchmarks/bench_safety.py --sweep              # also: recall / false alarm over thresholds and C
    python benchmarks/bench_safety.py --heldout FILE.jsonl # score a held-out file (text, label) with the full model

Folds keep the paraphrases of one message (one `group`) together, so a message is never judged by a model
that saw its rewording. Figures: urgent recall per category and overall, near-miss false alarm, decline recall,
and for the whole decision (rules OR classifier) the same figures. Also prints the classifier's latency.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import Config  # noqa: E402
from rag.engine import make_embedder  # noqa: E402
from rag.safety.rules import DECLINE, URGENT, assess, rule_check  # noqa: E402
from rag.safety.triage import (DECLINE_LABELS, OK_LABELS, URGENT_LABELS, SafetyClassifier, Triage,  # noqa: E402
                        cross_validate, embed_bank, load_bank)


def cpu_model() -> str:
    """CPU model and the vector extensions that decide its speed (AVX2, AVX-512, VNNI)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} · flags: {' '.join(wanted) or 'none of avx2/avx512'}"


def decisions(texts, urgent, decline, labels, cfg: Config, use_rules: bool = True) -> list[str]:
    """'urgent' | 'decline' | 'ok' for each message, by the engine's own decision function."""
    out = []
    for text, u, d, lab in zip(texts, urgent, decline, labels):
        tri = Triage(float(u), lab, float(d), "dosing", 0.0, "", "", 0.0)
        cut = cfg.safety_crisis_threshold if lab == "crisis" else cfg.safety_urgent_threshold
        v = assess(text, tri, urgent_threshold=cfg.safety_urgent_threshold, crisis_threshold=cfg.safety_crisis_threshold,
                   decline_threshold=cfg.safety_decline_threshold) if use_rules else (
            (URGENT if u >= cut else DECLINE if d >= cfg.safety_decline_threshold else None))
        action = v.action if hasattr(v, "action") else v
        out.append(action or "ok")
    return out


def report(labels: list[str], got: list[str], title: str) -> dict[str, float]:
    labels_a = np.array(labels)
    got_a = np.array(got)
    rows = []
    print(f"\n### {title}\n")
    print("| category | n | flagged urgent | declined |")
    print("|---|---|---|---|")
    for lab in list(URGENT_LABELS) + list(DECLINE_LABELS) + list(OK_LABELS):
        m = labels_a == lab
        if not m.any():
            continue
        u, d = (got_a[m] == "urgent").mean(), (got_a[m] == "decline").mean()
        rows.append((lab, int(m.sum()), u, d))
        print(f"| {lab} | {int(m.sum())} | {u:.3f} | {d:.3f} |")
    urgent_m = np.isin(labels_a, list(URGENT_LABELS))
    decline_m = np.isin(labels_a, list(DECLINE_LABELS))
    near = labels_a == "near_miss"
    ok = np.isin(labels_a, list(OK_LABELS))
    figs = {
        "urgent_recall": float((got_a[urgent_m] == "urgent").mean()),
        "urgent_recall_min_category": float(min(r[2] for r in rows if r[0] in URGENT_LABELS)),
        "near_miss_false_alarm": float((got_a[near] == "urgent").mean()),
        "ok_false_alarm": float((got_a[ok] == "urgent").mean()),
        "decline_recall": float(np.isin(got_a[decline_m], ["decline", "urgent"]).mean()),
        "ok_wrongly_declined": float((got_a[ok] == "decline").mean()),
    }
    print("\n" + " · ".join(f"{k} {v:.3f}" for k, v in figs.items()))
    return figs


def ask_latency(cfg: Config, embedder) -> None:
    from rag import Engine
    from rag.answer.compose import compose

    engine = Engine.load(cfg, embedder)
    path = ROOT.parent / "shared" / "eval" / "medquad_cancergov.jsonl"
    questions = [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()][:300]

    def without_safety(q: str) -> None:  # what ask did before: embed, retrieve, compose
        compose(q, q, engine.search(q, cfg.top_k), engine.index, max_sentences=cfg.max_answer_sentences,
                answer_passages=cfg.answer_passages, min_overlap=cfg.min_sentence_overlap)

    for q in questions[:30]:
        without_safety(q)
        engine.ask(q)
    before, after = [], []
    for q in questions:
        t = time.perf_counter()
        without_safety(q)
        before.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine.ask(q)
        after.append((time.perf_counter() - t) * 1000)
    p = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    print(f"\nEngine.ask, 300 medquad questions: without the safety layers p50 {p(before, 50):.2f} ms, p95 "
          f"{p(before, 95):.2f} ms; with them p50 {p(after, 50):.2f} ms, p95 {p(after, 95):.2f} ms; "
          f"added p50 {p(after, 50) - p(before, 50):.2f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--heldout", type=Path, action="append", default=[])
    ap.add_argument("--index", type=Path, help="an index folder: also time Engine.ask with and without the safety "
                                               "layers on 300 medquad questions (same process, alternating)")
    args = ap.parse_args()
    cfg = Config.from_env()
    print(f"CPU: {cpu_model()} · cores {len(__import__('os').sched_getaffinity(0))}")
    embedder = make_embedder(cfg)
    bank = load_bank(cfg.safety_examples_dir)
    t0 = time.perf_counter()
    sentence, frame = embed_bank(bank, embedder, None)
    print(f"bank: {len(bank)} examples, {len({e.group for e in bank})} groups; embedded in "
          f"{time.perf_counter() - t0:.1f} s ({embedder.model_id})")
    labels = [e.label for e in bank]
    texts = [e.text for e in bank]
    t0 = time.perf_counter()
    urgent, decline, predicted = cross_validate(bank, sentence, frame, args.folds, cfg.safety_c)
    print(f"{args.folds}-fold group cross-validation in {time.perf_counter() - t0:.1f} s "
          f"(C={cfg.safety_c}, thresholds urgent {cfg.safety_urgent_threshold}, crisis {cfg.safety_crisis_threshold}, "
          f"decline {cfg.safety_decline_threshold})")
    rules = [("urgent" if r and r[0] == URGENT else "decline" if r else "ok") for r in map(rule_check, texts)]
    report(labels, rules, "rules alone (no training involved)")
    report(labels, decisions(texts, urgent, decline, predicted, cfg, use_rules=False), "classifier alone, out-of-fold")
    figs = report(labels, decisions(texts, urgent, decline, predicted, cfg), "both layers (the engine's decision), out-of-fold")
    fine_ok = [p == lab for p, lab in zip(predicted, labels) if lab in URGENT_LABELS]
    print(f"urgent category named right (out-of-fold argmax): {np.mean(fine_ok):.3f}")
    if args.sweep:
        print("\n| C | threshold | urgent recall | min category | near-miss false alarm | decline recall |")
        print("|---|---|---|---|---|---|")
        for c in (3.0, 10.0, 30.0):
            u, d, pred = cross_validate(bank, sentence, frame, args.folds, c)
            for t in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
                got = decisions(texts, u, d, pred, cfg.replace(safety_urgent_threshold=t))
                la, ga = np.array(labels), np.array(got)
                um = np.isin(la, list(URGENT_LABELS))
                mins = min((ga[la == lab] == "urgent").mean() for lab in URGENT_LABELS)
                print(f"| {c} | {t} | {(ga[um] == 'urgent').mean():.3f} | {mins:.3f} | "
                      f"{(ga[la == 'near_miss'] == 'urgent').mean():.3f} | "
                      f"{np.isin(ga[np.isin(la, list(DECLINE_LABELS))], ['decline', 'urgent']).mean():.3f} |")
    clf = SafetyClassifier.fit(bank, sentence, frame, cfg.safety_c)
    message = "my dad cant get up and his back is agony"
    qs, qf = embedder.encode_with_frame(message)
    times = []
    for _ in range(1000):
        t = time.perf_counter()
        clf.triage(message, qs, qf)
        times.append((time.perf_counter() - t) * 1000)
    print(f"\nclassifier latency per message (embedding excluded, it is shared with retrieval): "
          f"p50 {statistics.median(times):.3f} ms, p95 {sorted(times)[int(0.95 * len(times))]:.3f} ms")
    if args.index:
        ask_latency(cfg.replace(index_dir=args.index), embedder)
    for path in args.heldout:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        hs, hf = embedder.encode_with_frame([r["text"] for r in rows])
        u, d, p = clf.scores([r["text"] for r in rows], hs, hf)
        urgent_labels = [clf.likeliest_urgent_label(row) for row in p]
        got = decisions([r["text"] for r in rows], u, d, urgent_labels, cfg)
        hl = ["near_miss" if "near_miss" in (r.get("kind"), r["label"]) else
              "out_of_scope" if "out_of_scope" in (r.get("kind"), r["label"]) else
              "in_scope" if r.get("kind") == "in_scope" or r["label"] in ("in_scope", "answerable") else r["label"]
              for r in rows]
        report(hl, got, f"held-out file {path.name} (full model)")
        for r, g, lab in zip(rows, got, hl):
            want = "urgent" if lab in URGENT_LABELS else "decline" if lab in DECLINE_LABELS else "ok"
            if (want == "urgent") != (g == "urgent") or (want == "decline" and g == "ok"):
                print(f"  MISS want {want:7} got {g:7} [{r['label']}] {r['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
