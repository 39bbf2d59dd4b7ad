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
from rag.message.smalltalk import SMALL_TALK_LABELS  # noqa: E402
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


def decisions(texts, oof, cfg: Config, use_rules: bool = True) -> list[str]:
    """'urgent' | 'decline' | 'small_talk' | 'ok' for each message, by the engine's own decision functions
    (safety.assess, then message.smalltalk), from out-of-fold scores."""
    out = []
    for i, text in enumerate(texts):
        u, d, lab = float(oof.urgent[i]), float(oof.decline[i]), oof.urgent_label[i]
        p = oof.probabilities[i]
        mass = lambda names: float(sum(p[oof.labels.index(n)] for n in names if n in oof.labels))  # noqa: E731
        tri = Triage(u, lab, d, "dosing", 0.0, oof.top_label[i], float(oof.top_score[i]), "", "", 0.0, "en",
                     mass(URGENT_LABELS), mass(SMALL_TALK_LABELS))
        if use_rules:
            v = assess(text, tri, urgent_threshold=cfg.safety_urgent_threshold, crisis_threshold=cfg.safety_crisis_threshold,
                       decline_threshold=cfg.safety_decline_threshold, small_talk_threshold=cfg.safety_small_talk_threshold)
            action = v.action if v else None
        else:
            cut = cfg.safety_crisis_threshold if lab == "crisis" else cfg.safety_urgent_threshold
            action = URGENT if u >= cut else DECLINE if d >= cfg.safety_decline_threshold else None
        out.append(action or "ok")
    return out


def report(labels: list[str], got: list[str], title: str, langs: list[str] | None = None) -> dict[str, float]:
    """Per label: share flagged urgent, declined, given small talk; then the headline figures, per language."""
    labels_a, got_a = np.array(labels), np.array(got)
    langs_a = np.array(langs if langs is not None else ["en"] * len(labels))
    print(f"\n### {title}\n")
    print("| label | lang | n | flagged urgent | declined | small talk |")
    print("|---|---|---|---|---|---|")
    for lab in list(URGENT_LABELS) + list(DECLINE_LABELS) + list(OK_LABELS) + list(SMALL_TALK_LABELS):
        for lang in sorted(set(langs_a)):
            m = (labels_a == lab) & (langs_a == lang)
            if m.any():
                print(f"| {lab} | {lang} | {int(m.sum())} | {(got_a[m] == 'urgent').mean():.3f} | "
                      f"{(got_a[m] == 'decline').mean():.3f} | {(got_a[m] == 'small_talk').mean():.3f} |")
    figs: dict[str, float] = {}
    for lang in ["all"] + sorted(set(langs_a)):
        sel = np.ones(len(labels_a), bool) if lang == "all" else langs_a == lang
        la, ga = labels_a[sel], got_a[sel]
        urgent_m = np.isin(la, list(URGENT_LABELS))
        if not len(la):
            continue
        per_cat = [(ga[la == lab] == "urgent").mean() for lab in URGENT_LABELS if (la == lab).any()]
        ordinary = np.isin(la, ["in_scope", "out_of_scope"])
        talk = np.isin(la, list(SMALL_TALK_LABELS))
        f = {
            "urgent_recall": float((ga[urgent_m] == "urgent").mean()) if urgent_m.any() else float("nan"),
            "urgent_recall_min_category": float(min(per_cat)) if per_cat else float("nan"),
            "ordinary_false_alarm": float((ga[ordinary] == "urgent").mean()) if ordinary.any() else float("nan"),
            "near_miss_false_alarm": float((ga[la == "near_miss"] == "urgent").mean()) if (la == "near_miss").any() else float("nan"),
            "small_talk_false_alarm": float((ga[talk] == "urgent").mean()) if talk.any() else float("nan"),
            "small_talk_recall": float((ga[talk] == "small_talk").mean()) if talk.any() else float("nan"),
            "questions_taken_for_small_talk": float((ga[ordinary | (la == "near_miss")] == "small_talk").mean()),
            "decline_recall": float(np.isin(ga[np.isin(la, list(DECLINE_LABELS))], ["decline", "urgent"]).mean())
            if np.isin(la, list(DECLINE_LABELS)).any() else float("nan"),
        }
        print(f"\n{lang}: " + " · ".join(f"{k} {v:.3f}" for k, v in f.items()))
        figs.update({f"{lang}:{k}": v for k, v in f.items()})
    return figs


def choose_thresholds(texts, labels, langs, oof, cfg: Config) -> tuple[float, float]:
    """Recall first, then false alarms: of the (urgent, crisis) threshold pairs that keep urgent recall >= 0.98
    in English and in Spanish alike, out of fold, the one with the fewest urgent replies to ordinary, near-miss and
    small-talk messages (ties: the higher thresholds). The worst category's recall is printed beside each pair."""
    la, lg = np.array(labels), np.array(langs)
    calm = ~np.isin(la, list(URGENT_LABELS) + list(DECLINE_LABELS))
    rows = []
    for t in (0.1, 0.15, 0.19, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
        for tc in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5):
            got = np.array(decisions(texts, oof, cfg.replace(safety_urgent_threshold=t, safety_crisis_threshold=tc)))
            recalls, worsts = [], []
            for lang in sorted(set(lg)):
                um = np.isin(la, list(URGENT_LABELS)) & (lg == lang)
                if um.any():
                    recalls.append((got[um] == "urgent").mean())
                    worsts.append(min((got[(la == lab) & (lg == lang)] == "urgent").mean()
                                      for lab in URGENT_LABELS if ((la == lab) & (lg == lang)).any()))
            ok = min(recalls) >= 0.98  # the per-category floor (0.95) is printed; on this bank no pair meets it in both
            alarms = int((got[calm] == "urgent").sum())
            rows.append((ok, alarms, t, tc, (got[np.isin(la, list(URGENT_LABELS))] == "urgent").mean(), min(worsts)))
    print("\n| urgent threshold | crisis threshold | meets recall (en and es) | urgent recall | worst category | "
          "false alarms on calm rows |")
    print("|---|---|---|---|---|---|")
    for ok, alarms, t, tc, rec, worst in rows:
        print(f"| {t} | {tc} | {'yes' if ok else 'no'} | {rec:.3f} | {worst:.3f} | {alarms} of {int(calm.sum())} |")
    good = [r for r in rows if r[0]]
    # none meets both floors: recall still comes first (the worst category, then overall), then false alarms
    best = min(good, key=lambda r: (r[1], -r[2], -r[3])) if good else \
        max(rows, key=lambda r: (round(r[5], 3), round(r[4], 3), -r[1]))
    print(f"\nchosen: urgent {best[2]}, crisis {best[3]} ({best[1]} false alarms on {int(calm.sum())} calm rows; "
          f"{'meets' if good else 'NO pair meets'} the recall floors)")
    return best[2], best[3]


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


def outcome(ans) -> str:
    """What the patient got: urgent | decline | small_talk | other_language | ok (an answer or no answer)."""
    if ans.status == "urgent":
        return "urgent"
    if ans.reason.startswith("small_talk"):
        return "small_talk"
    if ans.reason in DECLINE_LABELS:
        return "decline"
    return "other_language" if ans.reason == "other_language" else "ok"


def heldout(cfg: Config, embedder, paths: list[Path]) -> None:
    """Held-out files (text, label, lang, kind) through Engine.ask: urgent recall and false alarms per language
    and kind, small talk and junk, the reply's language, and other languages (urgent or the recognised-language
    reply, both with the emergency number)."""
    from rag import Engine

    engine = Engine.load(cfg, embedder)
    for path in paths:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        results = []
        for r in rows:
            ans = engine.ask(r["text"])
            calm = r.get("kind") == "near_miss" or r["label"] == "near_miss"  # an older file names the topic as label
            want = ("ok" if calm else "urgent" if r["label"] in URGENT_LABELS else "decline" if r["label"] in DECLINE_LABELS
                    else "small_talk" if r["label"] in SMALL_TALK_LABELS else "ok")
            results.append((r, want, outcome(ans), ans))
        print(f"\n### held-out {path.name}: {len(rows)} messages through Engine.ask\n")
        print("| lang | kind | n | urgent recall | urgent replies to non-urgent | small talk right | declined right | "
              "reply in the message's language |")
        print("|---|---|---|---|---|---|---|---|")
        groups: dict[tuple[str, str], list] = {}
        for res in results:
            groups.setdefault((res[0].get("lang", "en"), res[0].get("kind", "")), []).append(res)
        for (lang, kind), rs in sorted(groups.items()):
            urg = [x for x in rs if x[1] == "urgent"]
            non = [x for x in rs if x[1] != "urgent"]
            talk = [x for x in rs if x[1] == "small_talk"]
            dec = [x for x in rs if x[1] == "decline"]
            in_lang = [x[3].language == lang or (lang not in engine.catalog.languages and x[2] in ("urgent", "other_language"))
                       for x in rs]
            fmt = lambda xs, ok: f"{sum(ok(x) for x in xs)}/{len(xs)}" if xs else "–"  # noqa: E731
            print(f"| {lang} | {kind} | {len(rs)} | {fmt(urg, lambda x: x[2] == 'urgent')} | "
                  f"{fmt(non, lambda x: x[2] == 'urgent')} | {fmt(talk, lambda x: x[2] == 'small_talk')} | "
                  f"{fmt(dec, lambda x: x[2] in ('decline', 'urgent'))} | {sum(in_lang)}/{len(rs)} |")
        other = [x for x in results if x[0].get("lang", "en") not in engine.catalog.languages]
        if other:
            ok = [x for x in other if x[2] in ("urgent", "other_language") and
                  any(n in x[3].answer for n in ("911", "emergency number", engine.config.emergency_number or "911"))]
            print(f"\nother languages: {len(ok)}/{len(other)} got an urgent or recognised-language reply with the "
                  "emergency number")
        for r, want, got, ans in results:
            if (want == "urgent") != (got == "urgent") or (want in ("small_talk", "decline") and got == "ok"):
                print(f"  MISS want {want:10} got {got:14} [{r['label']}/{r.get('lang', 'en')}] {r['text']}")


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
    langs = [e.lang for e in bank]
    t0 = time.perf_counter()
    oof = cross_validate(bank, sentence, frame, args.folds, cfg.safety_c)
    print(f"{args.folds}-fold group cross-validation in {time.perf_counter() - t0:.1f} s "
          f"(C={cfg.safety_c}, thresholds urgent {cfg.safety_urgent_threshold}, crisis {cfg.safety_crisis_threshold}, "
          f"decline {cfg.safety_decline_threshold}, small talk {cfg.safety_small_talk_threshold})")
    rules = [("urgent" if r and r[0] == URGENT else "decline" if r else "ok") for r in map(rule_check, texts)]
    report(labels, rules, "rules alone (no training involved)", langs)
    report(labels, decisions(texts, oof, cfg, use_rules=False), "classifier alone, out-of-fold", langs)
    report(labels, decisions(texts, oof, cfg), "both layers (the engine's decision), out-of-fold", langs)
    fine_ok = [p == lab for p, lab in zip(oof.urgent_label, labels) if lab in URGENT_LABELS]
    print(f"urgent category named right (out-of-fold argmax): {np.mean(fine_ok):.3f}")
    topics = [json.loads(Path(e.source.rsplit(":", 1)[0]).read_text(encoding="utf-8").splitlines()[
        int(e.source.rsplit(":", 1)[1]) - 1]).get("topic", "") for e in bank]
    got = decisions(texts, oof, cfg)
    calm_topics: dict[str, list[int]] = {}
    for i, (lab, topic) in enumerate(zip(labels, topics)):
        if lab not in URGENT_LABELS and lab not in DECLINE_LABELS:
            calm_topics.setdefault(f"{lab}:{topic}" if topic else lab, []).append(i)
    print("\n### False alarms by calm class (out of fold)\n\n| class | n | urgent replies |\n|---|---|---|")
    for name, idx in sorted(calm_topics.items()):
        print(f"| {name} | {len(idx)} | {sum(got[i] == 'urgent' for i in idx)} |")
    if args.sweep:
        choose_thresholds(texts, labels, langs, oof, cfg)
        for t in (0.3, 0.4, 0.5, 0.6, 0.7):
            g = np.array(decisions(texts, oof, cfg.replace(safety_small_talk_threshold=t)))
            la = np.array(labels)
            talk = np.isin(la, list(SMALL_TALK_LABELS))
            asked = np.isin(la, ["in_scope", "out_of_scope", "near_miss"])
            print(f"small talk threshold {t}: small talk recognised {(g[talk] == 'small_talk').mean():.3f}, "
                  f"questions taken for small talk {(g[asked] == 'small_talk').mean():.3f}")
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
    if args.heldout:
        if not args.index:
            print("--heldout needs --index: held-out files run through the whole engine (language, small talk)")
            return 2
        heldout(cfg.replace(index_dir=args.index), embedder, args.heldout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
