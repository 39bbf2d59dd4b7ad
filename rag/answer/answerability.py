"""Answerability: does the library hold an answer to this question? A small logistic model on retrieval signals.

One dense-similarity threshold, calibrated on clean templated questions, refused half of what patients type
(typos, lay words, a trial's name). The decision now weighs several signals of what retrieval found, with weights
learned on labelled questions (answerable ones in patients' wording, grouped by paraphrase, and out-of-scope
ones), cross-validated by group; its threshold is chosen on out-of-fold probabilities. `rag calibrate` refits it
on a clinic's own library and stores it with the index; the package carries a fit on the bundled seeds.

The out-of-scope classifier stays a separate veto after this model: its scores on the bank's own rows are
in-sample (it was trained on them), so as a feature here it would teach the model to trust it too much.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import RagError
from ..retrieval.lexical import term_groups, tokenize
from ..retrieval.retriever import Hit
from ..store.index import PassageIndex

FEATURES = ("dense_top", "dense_mean", "sentence_top", "coverage", "unknown_share", "rare_match",
            "rare_coverage", "title_match", "log_terms")
DEFAULT_MODEL = "answerability.json"


@dataclass
class Signals:
    """What retrieval found, as the model reads it (shown to staff in the inspector)."""
    dense_top: float  # best cosine similarity of question and passage among the answer passages
    dense_mean: float  # mean similarity of the top three passages (one lucky passage is weaker evidence)
    sentence_top: float  # best similarity of the question and one sentence of the answer passages
    coverage: float  # idf-weighted share of the question's library words found in one answer passage
    unknown_share: float  # idf-weighted share of the question's words the library never uses ("migraine")
    rare_match: float  # rarest question word found in the answer passages, as a share of the rarest possible
    rare_coverage: float  # coverage x rare_match: every word found, a rare one among them ("POLLUX", a drug's name)
    title_match: float  # idf-weighted share of the question's library words in the top document's title or types
    log_terms: float  # log(1 + content words): coverage means more on a longer question

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def signals(text: str, hits: Sequence[Hit], index: PassageIndex, vector: np.ndarray, passages: int = 3) -> Signals:
    """The signals for a question (its corrected words, and the vector retrieval searched with) and its hits."""
    top = list(hits[:passages])
    sentence = 0.0
    for h in top:
        rows = index.passage_sentence_vectors(h.row)
        if len(rows):
            sentence = max(sentence, float((rows.astype(np.float32) @ vector).max()))
    dense = [h.dense for h in hits[:3]]
    groups = term_groups(text)
    lex = index.lexical
    every = lex.group_weights(groups)
    known = lex.group_weights(groups, known_only=True)
    total_every, total_known = sum(every), sum(known)
    unknown = 1.0 - total_known / total_every if total_every else 0.0
    coverage, rare = 0.0, 0.0
    if total_known:
        for h in top:
            terms = index.terms[h.row]
            present = [w for g, w in zip(groups, known) if g & terms]
            coverage = max(coverage, sum(present) / total_known)
            rare = max(rare, max(present, default=0.0))
        rare /= math.log(1.0 + (lex.n_docs + 0.5) / 0.5)
    title = 0.0
    if top and total_known:
        info = index.docs.get(top[0].chunk.doc_id)
        if info is not None:
            named = set(tokenize(" ".join([info.title, *map(str, info.metadata.get("cancerTypes") or [])])))
            title = sum(w for g, w in zip(groups, known) if g & named) / total_known
    return Signals(max((h.dense for h in top), default=0.0), float(np.mean(dense)) if dense else 0.0, sentence, coverage,
                   unknown, rare, coverage * rare, title, math.log1p(len(groups)))


@dataclass
class AnswerabilityModel:
    """Standardized logistic regression: P(answerable) = sigmoid(w · (x - mean) / scale + b); answer at ≥ threshold."""
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    threshold: float
    features: tuple[str, ...] = FEATURES
    fitted: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, and its out-of-fold figures

    def probability(self, s: Signals) -> float:
        z = (s.vector() - np.array(self.mean)) / np.array(self.scale)
        return float(1.0 / (1.0 + math.exp(-(float(np.dot(self.weights, z)) + self.bias))))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "answerability model") -> "AnswerabilityModel":
        try:
            model = cls([float(w) for w in d["weights"]], float(d["bias"]), [float(m) for m in d["mean"]],
                        [float(s) for s in d["scale"]], float(d["threshold"]), tuple(d["features"]),
                        dict(d.get("fitted") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise RagError(f"{where}: unreadable ({err}); refit it with: python -m rag calibrate") from None
        if model.features != FEATURES or not (len(model.weights) == len(model.mean) == len(model.scale) == len(FEATURES)):
            raise RagError(f"{where}: fitted on features {list(model.features)}, this version reads {list(FEATURES)}; "
                           "refit it with: python -m rag calibrate")
        return model

    @classmethod
    def default(cls) -> "AnswerabilityModel":
        """The fit on the bundled seeds (benchmarks/bench_answerability.py --write-default)."""
        text = (resources.files(__package__) / DEFAULT_MODEL).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text), f"rag/answer/{DEFAULT_MODEL}")


@dataclass
class Fit:
    model: AnswerabilityModel
    out_of_fold: np.ndarray  # P(answerable) of each row from a model that never saw its paraphrase group


def _logistic(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=1000, class_weight="balanced").fit(x, y)


def fit(x: np.ndarray, y: np.ndarray, groups: Sequence[str], max_refused_oos: float = 0.04, c: float = 1.0,
        n_folds: int = 10, seed: int = 0) -> Fit:
    """Weights on all rows; the threshold on out-of-fold probabilities (group k-fold): the lowest probability that
    answers at most `max_refused_oos` of the out-of-scope rows, so as many answerable ones as possible are answered."""
    from sklearn.model_selection import GroupKFold

    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        raise RagError("answerability needs both answerable and out-of-scope questions to fit")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    oof = np.zeros(len(y))
    group_ids = np.unique(np.asarray(groups), return_inverse=True)[1]
    splitter = GroupKFold(n_splits=min(n_folds, len(np.unique(group_ids))))
    for train, test in splitter.split(z, y, group_ids):
        if y[train].all() or not y[train].any():
            oof[test] = 0.5
            continue
        oof[test] = _logistic(z[train], y[train], c).predict_proba(z[test])[:, 1]
    threshold = choose_threshold(oof, y, max_refused_oos)
    model = _logistic(z, y, c)
    return Fit(AnswerabilityModel([float(w) for w in model.coef_[0]], float(model.intercept_[0]),
                                  [float(m) for m in mean], [float(s) for s in scale], threshold), oof)


def choose_threshold(p: np.ndarray, y: np.ndarray, max_oos_answered: float) -> float:
    """The lowest cut answering at most the ceiling's share of out-of-scope rows, set midway to the next
    out-of-scope probability below it so small drifts do not flip a decision."""
    oos = np.sort(p[~y])[::-1]
    allowed = int(math.floor(max_oos_answered * len(oos)))
    if allowed >= len(oos):
        return 0.0
    refused = oos[allowed]  # the highest out-of-scope probability that must stay below the cut
    higher = p[p > refused]
    return float((refused + higher.min()) / 2) if higher.size else float(refused + 1e-6)


def report(p: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    y = np.asarray(y, dtype=bool)
    answered = p >= threshold
    return {"answerable_answered": round(float(answered[y].mean()), 4),
            "out_of_scope_answered": round(float(answered[~y].mean()), 4),
            "answerable": int(y.sum()), "out_of_scope": int((~y).sum())}
