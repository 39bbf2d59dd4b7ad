"""Exact (IndexFlatIP) vs approximate (IndexHNSWFlat) search: from what corpus size does HNSW pay off?

Vectors are the real passage embeddings of models/index (if built) tiled with small noise up to each size,
so the distribution matches real data.  python benchmarks/bench_faiss.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def base_vectors() -> np.ndarray:
    try:
        from rag.store.index import current_build
        return np.load(current_build(ROOT / "models" / "index") / "vectors.npy")
    except Exception:
        rng = np.random.default_rng(0)
        v = rng.standard_normal((4000, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(1)
    base = base_vectors()
    queries = base[rng.choice(len(base), 200)] + 0.05 * rng.standard_normal((200, base.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(f"{'passages':>9} {'flat ms/q':>10} {'hnsw ms/q':>10} {'hnsw build s':>13} {'recall@10':>10}")
    for n in (4_000, 20_000, 50_000, 100_000, 200_000):
        reps = int(np.ceil(n / len(base)))
        data = np.tile(base, (reps, 1))[:n] + 0.02 * rng.standard_normal((n, base.shape[1])).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(data.shape[1])
        flat.add(data)
        t = time.perf_counter()
        for q in queries:
            _, exact = flat.search(q[None], 50)
        flat_ms = (time.perf_counter() - t) / len(queries) * 1000
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(data.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.add(data)
        build = time.perf_counter() - t
        hnsw.hnsw.efSearch = 128
        t = time.perf_counter()
        approx = [hnsw.search(q[None], 50)[1][0] for q in queries]
        hnsw_ms = (time.perf_counter() - t) / len(queries) * 1000
        exact = [flat.search(q[None], 10)[1][0] for q in queries]
        hits = sum(len(set(e) & set(a[:10])) for e, a in zip(exact, approx))
        print(f"{n:>9,} {flat_ms:>10.2f} {hnsw_ms:>10.2f} {build:>13.1f} {hits / (10 * len(queries)):>10.3f}")


if __name__ == "__main__":
    main()
