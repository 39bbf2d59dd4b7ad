"""Document choice: of the documents retrieval found, which one the question is about.

The library has siblings: the childhood and adult summaries of one cancer, a cancer's treatment, prevention and
screening summaries, melanoma and skin cancer. Passage similarity barely separates them, while the question
usually says which it means: "my 6-year-old", "screening test", the cancer's name. Each candidate document is
scored on what the question says about its audience (child or adult), its purpose (treatment, prevention,
screening, genetics) and its name (title and cancerTypes), beside how retrieval ranked it. The weights are a
logistic model learned on labelled questions (`rag calibrate`, benchmarks/bench_answerability.py), not a table of
bonuses; the cues below only say what the question mentions.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import RagError
from ..store.index import PassageIndex
from .lexical import term_groups, tokenize
from .retriever import Hit

FEATURES = ("first_rank", "passages", "dense", "coverage", "name_share", "name_missing", "child_match",
            "child_mismatch", "adult_asks_child", "purpose_match", "purpose_mismatch")
_ACRONYM = re.compile(r"\(([A-Z][A-Za-z]{1,5})\)")  # "myelodysplastic syndromes (MDS)": the name patients use
DEFAULT_MODEL = "choice.json"
CANDIDATES = 6  # documents considered: the distinct documents of the first hits, in order

_CHILD = re.compile(r"\b(?:child|children|childhood|kids?|son|daughter|baby|babies|infant|toddler|teen\w*|"
                    r"adolescen\w*|pediatric|paediatric|boy|girl|grandson|granddaughter|little one|school)\b", re.I)
_AGE = re.compile(r"\b(\d{1,2})[- ]?(?:y/?o|yrs?|years?)(?:[- ]old)?\b|"
                  r"\b(?:aged?|i'?m|i am|(?:he|she)(?:'s| is)|is only|just turned|\()\s*(\d{1,2})\b(?!\s*(?:weeks|months|%))",
                  re.I)
_ADULT = re.compile(r"\b(?:adults?|grown[- ]ups?|husband|wife|mom|mum|mother|dad|father|grandma|grandpa|"
                    r"grandmother|grandfather|elderly|retired)\b", re.I)
PURPOSES: dict[str, re.Pattern] = {
    "screening": re.compile(r"\bscreen\w*|check[- ]?ups?|checked for|early detection|test(?:ed|s)? for\b", re.I),
    "prevention": re.compile(r"\bprevent\w*|avoid\w*|lower\w* (?:the |my |your |his |her )?(?:risk|chance)|"
                             r"reduc\w* (?:the |my |your |his |her )?(?:risk|chance)|protect\w*\b", re.I),
    "genetics": re.compile(r"\bgene(?:s|tic\w*)?\b|\binherit\w*|hereditary|runs? in (?:the |my |our )?famil\w*", re.I),
    "treatment": re.compile(r"\btreat\w*|therap\w*|chemo\w*|radiation|surgery|cure\w*|managed?\b", re.I),
}


def question_audience(text: str) -> tuple[bool, bool]:
    """(mentions a child, mentions an adult): a child word, or an age under 18 ("my 6 yr old", "aged 12")."""
    child = bool(_CHILD.search(text))
    for m in _AGE.finditer(text):
        age = int(m.group(1) or m.group(2))
        child = child or age < 18
        adult = age >= 18
        if adult and not child:
            return False, True
    return child, bool(_ADULT.search(text)) and not child


def question_purposes(text: str) -> set[str]:
    return {name for name, cue in PURPOSES.items() if cue.search(text)}


@dataclass
class DocProfile:
    """What a document is for, from its title, metadata and text: how much it is about children, its purpose,
    and the words that name it."""
    child: float  # 1 for a childhood summary by title, else the share of its passages that speak of children
    purposes: set[str]
    name_terms: set[str]


def profile(info: Any, texts: Sequence[str]) -> DocProfile:
    m = info.metadata
    words = " ".join([info.title, *map(str, m.get("cancerTypes") or []), *map(str, m.get("tags") or [])])
    purposes = question_purposes(words) & set(PURPOSES)
    if "genetics" not in purposes and re.search(r"\bgenetic", info.title, re.I):
        purposes.add("genetics")
    titled = bool(re.search(r"\b(?:child\w*|pediatric|paediatric)\b", info.title, re.I))
    child = 1.0 if titled else (sum(bool(_CHILD.search(t)) for t in texts) / len(texts) if texts else 0.0)
    acronyms = " ".join(_ACRONYM.findall(" ".join(texts[:2])))
    return DocProfile(child, purposes,
                      set(tokenize(" ".join([info.title, *map(str, m.get("cancerTypes") or []), acronyms]))))


_GENERIC = set(tokenize("treatment prevention screening patient version pdq cancer cancers adult childhood"))


def features(text: str, hits: Sequence[Hit], index: PassageIndex, profiles: Mapping[str, DocProfile]
             ) -> tuple[list[str], np.ndarray]:
    """The candidate documents (first-seen order) and one feature row each."""
    docs: list[str] = []
    for h in hits:
        if h.chunk.doc_id not in docs:
            docs.append(h.chunk.doc_id)
        if len(docs) >= CANDIDATES:
            break
    groups = term_groups(text)
    weights = index.lexical.group_weights(groups, known_only=True)
    total = sum(weights) or 1.0
    asked_terms = set().union(*groups) if groups else set()
    child, adult = question_audience(text)
    purposes = question_purposes(text)
    rows = []
    for rank, doc in enumerate(docs, 1):
        own = [h for h in hits if h.chunk.doc_id == doc]
        p = profiles[doc]
        named = [t for t in p.name_terms - _GENERIC]
        name_share = sum(w for g, w in zip(groups, weights) if g & p.name_terms - _GENERIC) / total
        idf = [index.lexical.idf(t) for t in named]
        missing = sum(i for t, i in zip(named, idf) if t not in asked_terms) / (sum(idf) or 1.0)
        rows.append([
            1.0 / rank, math.log1p(len(own)), max(h.dense for h in own), max(h.coverage for h in own),
            name_share, missing if named else 0.0,
            float(child) * p.child, float(child) * (1.0 - p.child), float(not child) * p.child,
            float(bool(purposes & p.purposes)), float(bool(purposes) and not purposes & p.purposes),
        ])
    x = np.array(rows, dtype=np.float64).reshape(len(docs), len(FEATURES))
    if len(docs):  # closeness in meaning and coverage relative to the best candidate: a choice is a comparison
        x[:, 2] -= x[:, 2].max()
        x[:, 3] -= x[:, 3].max()
    return docs, x


@dataclass
class ChoiceModel:
    """A linear score per candidate document (a conditional-logit view fitted as a logistic model)."""
    weights: list[float]
    features: tuple[str, ...] = FEATURES
    fitted: dict[str, Any] = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return x @ np.array(self.weights)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "document choice model") -> "ChoiceModel":
        try:
            model = cls([float(w) for w in d["weights"]], tuple(d["features"]), dict(d.get("fitted") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise RagError(f"{where}: unreadable ({err}); refit it with: python -m rag calibrate") from None
        if model.features != FEATURES or len(model.weights) != len(FEATURES):
            raise RagError(f"{where}: fitted on features {list(model.features)}, this version reads {list(FEATURES)}; "
                           "refit it with: python -m rag calibrate")
        return model

    @classmethod
    def default(cls) -> "ChoiceModel":
        import json

        text = (resources.files("rag.retrieval") / DEFAULT_MODEL).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text), f"rag/retrieval/{DEFAULT_MODEL}")


class DocumentChooser:
    """Puts the passages of the likeliest document first; the rest keep retrieval's order."""

    def __init__(self, index: PassageIndex, model: ChoiceModel):
        self.index = index
        self.model = model
        texts: dict[str, list[str]] = {}
        for chunk in index.chunks:
            texts.setdefault(chunk.doc_id, []).append(chunk.text)
        self.profiles = {doc: profile(info, texts.get(doc, [])) for doc, info in index.docs.items()}

    def choose(self, text: str, hits: list[Hit]) -> list[Hit]:
        if len({h.chunk.doc_id for h in hits}) < 2:
            return hits
        docs, x = features(text, hits, self.index, self.profiles)
        chosen = docs[int(np.argmax(self.model.scores(x)))]
        if chosen == hits[0].chunk.doc_id:
            return hits
        out = [h for h in hits if h.chunk.doc_id == chosen] + [h for h in hits if h.chunk.doc_id != chosen]
        for i, h in enumerate(out, 1):
            h.rank = i
        return out


def fit(rows: Sequence[tuple[np.ndarray, int, str]], c: float = 10.0, n_folds: int = 10) -> tuple[ChoiceModel, dict]:
    """rows: (candidate features, index of the gold candidate, paraphrase group). A logistic model on candidate
    rows (gold vs not), without intercept (only differences between candidates matter); out-of-fold accuracy of
    the top choice by group k-fold, beside retrieval's own first document."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    usable = [r for r in rows if r[1] >= 0 and len(r[0]) > 1]
    group_ids = np.unique([r[2] for r in usable], return_inverse=True)[1]

    def train(idx: Sequence[int]) -> np.ndarray:
        x = np.concatenate([usable[i][0] for i in idx])
        y = np.concatenate([np.arange(len(usable[i][0])) == usable[i][1] for i in idx])
        clf = LogisticRegression(C=c, max_iter=2000, fit_intercept=False, class_weight="balanced").fit(x, y)
        return clf.coef_[0]

    right = 0
    for tr, te in GroupKFold(n_splits=min(n_folds, len(set(group_ids)))).split(usable, groups=group_ids):
        w = train(tr)
        right += sum(int(np.argmax(usable[i][0] @ w)) == usable[i][1] for i in te)
    weights = train(range(len(usable)))
    figures = {"questions": len(usable), "out_of_fold_top_right": round(right / max(len(usable), 1), 4),
               "retrieval_top_right": round(sum(r[1] == 0 for r in usable) / max(len(usable), 1), 4)}
    return ChoiceModel([float(w) for w in weights], fitted=figures), figures
