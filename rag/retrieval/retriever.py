"""Retrieval stage: dense (FAISS) and lexical (BM25) rankings fused by reciprocal rank, filtered, de-duplicated."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .aspects import Aspect
from ..ingest.chunker import Chunk
from ..store.index import PassageIndex
from .lexical import expand, term_groups

FILTER_FIELDS = ("cancerTypes", "audienceLevel", "language")


@dataclass
class Hit:
    chunk: Chunk
    row: int
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 score
    dense_rank: int | None  # 1-based rank in each list (None: not in that list's top)
    lexical_rank: int | None
    fused: float  # reciprocal-rank fusion plus the coverage bonus
    rank: int = 0  # 1-based rank after fusion and de-duplication
    coverage: float = 0.0  # share of the question's rarity-weighted words the passage holds


def _matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    for key, wanted in filters.items():
        if wanted in (None, "", []):
            continue
        have = metadata.get(key)
        have_set = {str(h).lower() for h in (have if isinstance(have, list) else [have]) if h is not None}
        wanted_set = {str(w).lower() for w in (wanted if isinstance(wanted, (list, tuple, set)) else [wanted])}
        if not have_set & wanted_set:
            return False
    return True


class Retriever:
    def __init__(self, index: PassageIndex, dense_k: int = 50, lexical_k: int = 50, rrf_k: int = 60,
                 dedup_cosine: float = 0.95, lexical_weight: float = 1.0, coverage_weight: float = 0.03,
                 rerank_depth: int = 50):
        self.index = index
        self.dense_k = dense_k
        self.lexical_k = lexical_k
        self.rrf_k = rrf_k
        self.dedup_cosine = dedup_cosine
        self.lexical_weight = lexical_weight
        self.coverage_weight = coverage_weight
        self.rerank_depth = rerank_depth
        self._doc_rows: dict[str, list[int]] = {}  # each document's passage rows, for section preference
        for row, chunk in enumerate(index.chunks):
            self._doc_rows.setdefault(chunk.doc_id, []).append(row)

    def allowed_rows(self, filters: Mapping[str, Any] | None) -> np.ndarray | None:
        if not filters or not any(filters.values()):
            return None
        unknown = set(filters) - set(FILTER_FIELDS)
        if unknown:
            raise ValueError(f"unknown filter(s) {sorted(unknown)}; allowed: {', '.join(FILTER_FIELDS)}")
        ok_docs = {d for d, info in self.index.docs.items() if _matches(info.metadata, filters)}
        return np.array([c.doc_id in ok_docs for c in self.index.chunks], dtype=bool)

    def search(self, query: str, query_vector: np.ndarray, k: int = 5, filters: Mapping[str, Any] | None = None,
               mode: str = "hybrid") -> list[Hit]:
        """mode: hybrid | dense | lexical (the single-list modes exist for benchmarking)."""
        n = len(self.index.chunks)
        if n == 0:
            return []
        allowed = self.allowed_rows(filters)
        dense_ranked: list[int] = []
        if mode in ("hybrid", "dense"):
            want = n if allowed is not None else min(self.dense_k, n)
            _, ids = self.index.faiss.search(query_vector.reshape(1, -1).astype(np.float32), want)
            dense_ranked = [int(i) for i in ids[0] if i >= 0 and (allowed is None or allowed[i])][: self.dense_k]
        lexical_ranked: list[int] = []
        lex_scores = self.index.lexical.scores(expand(query))
        if mode in ("hybrid", "lexical"):
            scores = np.where(allowed, lex_scores, 0.0) if allowed is not None else lex_scores
            top = np.argsort(-scores, kind="stable")[: self.lexical_k]
            lexical_ranked = [int(i) for i in top if scores[i] > 0]
        fused: dict[int, float] = {}
        d_rank = {row: r for r, row in enumerate(dense_ranked, 1)}
        l_rank = {row: r for r, row in enumerate(lexical_ranked, 1)}
        for ranks, weight in ((d_rank, 1.0), (l_rank, self.lexical_weight)):
            for row, r in ranks.items():
                fused[row] = fused.get(row, 0.0) + weight / (self.rrf_k + r)
        order = sorted(fused, key=lambda row: -fused[row])[: self.rerank_depth]
        coverage = passage_coverage(query, order, self.index)
        if mode == "hybrid" and self.coverage_weight:
            # a passage that holds more of what was asked ("kidney" and "smoking", not just "smoking") moves up
            for row in order:
                fused[row] += self.coverage_weight * coverage[row]
            order.sort(key=lambda row: -fused[row])
        cos = self.index.vectors[order] @ query_vector if order else np.zeros(0)
        hits: list[Hit] = []
        kept_hashes: set[str] = set()
        for row, dense in zip(order, cos):
            chunk = self.index.chunks[row]
            if chunk.body_hash in kept_hashes:
                continue
            if hits and self.dedup_cosine < 1.0:
                kept = self.index.vectors[[h.row for h in hits]]
                if float((kept @ self.index.vectors[row]).max()) >= self.dedup_cosine:
                    continue
            kept_hashes.add(chunk.body_hash)
            hits.append(Hit(chunk, row, float(dense), float(lex_scores[row]), d_rank.get(row), l_rank.get(row),
                            fused[row], len(hits) + 1, coverage[row]))
            if len(hits) >= k:
                break
        return hits


    def prefer_section(self, hits: list[Hit], aspect: Aspect | None, query_vector: np.ndarray,
                       k: int = 5, per_section: int = 2) -> tuple[list[Hit], int]:
        """Put the passages of the likeliest document's section on the asked aspect first ("who is at risk" ->
        "## Risk factors"): the closest ones to the question, whether or not they ranked in the top k. Returns the
        hits and how many lead from that section (0: no aspect or no such section, ranking unchanged)."""
        if aspect is None or not hits:
            return hits, 0
        doc = hits[0].chunk.doc_id
        rows = [r for r in self._doc_rows.get(doc, [])
                if any(aspect.section.search(h.lstrip("#").strip()) for h in self.index.chunks[r].heading_path[1:])]
        if not rows:
            return hits, 0
        cos = self.index.vectors[rows] @ query_vector
        best = [rows[i] for i in np.argsort(-cos, kind="stable")[:per_section]]
        by_row = {h.row: h for h in hits}
        promoted = [by_row.get(r) or Hit(self.index.chunks[r], r, float(self.index.vectors[r] @ query_vector), 0.0,
                                         None, None, 0.0) for r in best]
        seen = {h.chunk.body_hash for h in promoted}
        rest = [h for h in hits if h.row not in best and h.chunk.body_hash not in seen]
        out = (promoted + rest)[:k]
        for i, h in enumerate(out, 1):
            h.rank = i
        return out, len(promoted)


def passage_coverage(query: str, rows: Sequence[int], index: PassageIndex) -> dict[int, float]:
    """Per passage, the idf-weighted share of the question's word groups (lay words included) it contains."""
    groups = term_groups(query)
    weights = index.lexical.group_weights(groups)
    total = sum(weights)
    if not total:
        return {row: 0.0 for row in rows}
    return {row: sum(w for g, w in zip(groups, weights) if g & index.terms[row]) / total for row in rows}


def doc_ranking(hits: list[Hit]) -> list[str]:
    """Distinct document ids in hit order (what doc-level hit@k and MRR are computed on)."""
    seen: list[str] = []
    for h in hits:
        if h.chunk.doc_id not in seen:
            seen.append(h.chunk.doc_id)
    return seen
