"""Cost of sentence vectors at index time (issue 8): embedding passages alone vs passages plus a vector per
sentence pooled from the same forward pass, interleaved in one process on the same passages of seeds/.

    python benchmarks/bench_sentences.py [--passages 600] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_safety import cpu_model  # noqa: E402
from rag import Config  # noqa: E402
from rag.ingest.chunker import chunk_document  # noqa: E402
from rag.ingest.documents import load_documents  # noqa: E402
from rag.engine import make_embedder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    config = Config.from_env()
    embedder = make_embedder(config)
    chunks = []
    for doc in load_documents(config.docs_dir, config.max_file_bytes).documents:
        chunks += chunk_document(doc, embedder.count_tokens, config.chunk_max_tokens, config.chunk_overlap_sentences)
        if len(chunks) >= args.passages:
            break
    chunks = chunks[: args.passages]
    texts = [c.embed_text for c in chunks]
    spans = [[(len(c.prefix) + 2 + a, len(c.prefix) + 2 + b) for a, b in c.body_sentence_spans()] for c in chunks]
    print(f"CPU: {cpu_model()}")
    print(f"model: {embedder.model_id}; {len(texts)} passages, {sum(map(len, spans))} sentences")
    plain, pooled = [], []
    for _ in range(args.rounds):  # interleaved, so both see the same machine state
        t = time.perf_counter()
        embedder.encode(texts)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        embedder.encode_spans(texts, spans)
        pooled.append(time.perf_counter() - t)
    a, b = statistics.median(plain), statistics.median(pooled)
    print(f"passages only:            {a:6.2f} s (median of {args.rounds})")
    print(f"passages + sentence vecs: {b:6.2f} s  -> {b / a:.2f}x")


if __name__ == "__main__":
    main()
