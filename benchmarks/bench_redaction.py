"""Name redaction on a labelled set written for it (benchmarks/data/names_redaction.jsonl: 160 messages in eight
classes, self-introductions, relatives, signatures, clinicians, mixed identifiers, lowercase names, and messages
with no name but capitalised words such as eponyms, drugs and places).

    python benchmarks/bench_redaction.py

Prints, per class: names removed (recall) and messages where something that is not a name was replaced
(false redactions), for rag.store.audit.redact."""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.store.audit import redact  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "names_redaction.jsonl"


def score(rows: list[dict]) -> dict[str, dict[str, float]]:
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        out = redact(r["text"])
        removed = [n not in out for n in r["names"]]
        # a false redaction: more [name] placeholders than names given
        extra = max(0, out.count("[name]") - len(r["names"]))
        by[r["class"]].append((removed, extra))
        by["all"].append((removed, extra))
    figures = {}
    for cls, items in by.items():
        names = [x for removed, _ in items for x in removed]
        figures[cls] = {"messages": len(items), "names": len(names),
                        "recall": sum(names) / len(names) if names else None,
                        "false_redactions": sum(extra > 0 for _, extra in items)}
    return figures


def main() -> int:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    print("| class | messages | names | names removed | messages with a false redaction |")
    print("|---|---:|---:|---:|---:|")
    for cls, f in sorted(score(rows).items(), key=lambda kv: kv[0] == "all"):
        recall = "–" if f["recall"] is None else f"{f['recall']:.3f}"
        print(f"| {cls} | {f['messages']} | {f['names']} | {recall} | {f['false_redactions']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
