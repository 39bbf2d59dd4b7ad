"""Semantic safety layer: a classifier over the question's MiniLM embedding, trained on a labelled bank of messages.

The rules in `safety.py` catch unmistakable wordings; this layer catches the same situations said in other words
("my dad keeled over", "38.4 day 9 of cycle 3"). Its knowledge is data — `rag/safety/bank/*.jsonl`, plus a clinic's
own examples — so it is improved by adding examples and measured by cross-validation (`benchmarks/bench_safety.py`).
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SafetyBankError
from ..message.smalltalk import SMALL_TALK_LABELS
from ..store.files import atomic_write

BANK_DIR = Path(__file__).with_name("bank")

# fine label -> the kind of urgent reply (which fixed message the patient sees)
URGENT_LABELS: dict[str, str] = {
    "breathing": "medical_emergency", "chest_pain": "medical_emergency", "collapse": "medical_emergency",
    "seizure": "medical_emergency", "stroke": "medical_emergency", "bleeding": "medical_emergency",
    "allergic_reaction": "medical_emergency", "extravasation": "oncology_emergency",
    "spinal_cord_compression": "oncology_emergency", "svc_obstruction": "medical_emergency",
    "dehydration": "oncology_emergency", "neutropenic_fever": "chemo_fever", "crisis": "crisis",
}
DECLINE_LABELS = ("dosing", "personal_verdict", "injection")
# messages the bot handles normally (answer or "no answer"): kept in the bank so the classifier learns the boundary
OK_LABELS = ("near_miss", "in_scope", "out_of_scope")
# greetings, thanks, … and noise: a fixed reply (message/smalltalk.py), never an alarm
LABELS = tuple(URGENT_LABELS) + DECLINE_LABELS + OK_LABELS + SMALL_TALK_LABELS


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    group: str  # paraphrases of one message share a group (kept in one cross-validation fold)
    source: str  # file:line, for error messages and the staff console
    lang: str = "en"  # the message's language (ISO 639-1), for per-language figures


@dataclass(frozen=True)
class Triage:
    """The classifier's view of one message: how urgent, how much a decline, and the closest bank example."""
    urgent_score: float
    urgent_label: str
    decline_score: float
    decline_label: str
    out_of_scope_score: float  # P(out_of_scope): the question asks what the library does not cover
    top_label: str  # the likeliest bank label of all, and its probability (small talk is read from these)
    top_score: float
    nearest_text: str
    nearest_label: str
    nearest_similarity: float
    nearest_lang: str = "en"
    urgent_mass: float = 0.0  # P(any urgent label) and P(any small-talk label), from the topic model
    talk_mass: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"urgent_score": round(self.urgent_score, 4), "urgent_label": self.urgent_label,
                "decline_score": round(self.decline_score, 4), "decline_label": self.decline_label,
                "out_of_scope_score": round(self.out_of_scope_score, 4),
                "top_label": self.top_label, "top_score": round(self.top_score, 4),
                "nearest": {"text": self.nearest_text, "label": self.nearest_label, "lang": self.nearest_lang,
                            "similarity": round(self.nearest_similarity, 4)}}


def _read_bank_file(path: Path, prefix: str) -> list[Example]:
    out: list[Example] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise SafetyBankError(f"{path}: cannot read safety examples ({err})") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SafetyBankError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise SafetyBankError(f"{where}: each line needs a non-empty \"text\" and a \"label\"")
        label = row.get("label")
        if label not in LABELS:
            raise SafetyBankError(f"{where}: label {label!r} is not one of: {', '.join(LABELS)}")
        group = str(row.get("group") or f"{prefix}{path.stem}:{no}")
        out.append(Example(" ".join(row["text"].split()), label, f"{prefix}{group}", where, str(row.get("lang") or "en")))
    return out


def load_bank(extra_dir: Path | None = None) -> list[Example]:
    """The shipped bank, then a clinic's own examples (every *.jsonl in `extra_dir`), de-duplicated by text."""
    files = sorted(BANK_DIR.glob("*.jsonl"))
    if not files:
        raise SafetyBankError(f"{BANK_DIR}: the safety bank is missing (reinstall the package)")
    examples = [e for f in files for e in _read_bank_file(f, "")]
    if extra_dir is not None:
        extra_dir = Path(extra_dir)
        if not extra_dir.is_dir():
            raise SafetyBankError(f"{extra_dir}: safety examples folder not found (RAG_SAFETY_EXAMPLES_DIR)")
        examples += [e for f in sorted(extra_dir.glob("*.jsonl")) for e in _read_bank_file(f, "clinic:")]
    seen: dict[str, Example] = {}
    for e in examples:  # a clinic's later example wins over the shipped one with the same text
        seen[e.text.lower()] = e
    return list(seen.values())


# function words whose contextual embeddings make the frame vector (see Embedder.encode_with_frame): pronouns,
# auxiliaries, question words and time words, in the model's own word-piece spelling
FRAME_WORDS = frozenset("""
i me my mine myself we us our you your he him his she her they them their it its this that someone somebody
is are was were be been being am do does did done can could should would will shall may might must have has had
not no never now just right still again keep keeps today tonight yesterday already last ago since ever if when
what how why which who where whats hows ' ? ! im ive dont cant wont isnt
""".split())


def bank_key(examples: Sequence[Example], model_id: str) -> str:
    h = hashlib.sha256(f"{model_id}|frame-v1".encode())
    for e in examples:
        h.update(b"\x00" + e.text.encode("utf-8"))
    return h.hexdigest()[:20]


def _read_cache(path: Path | None) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when there is none or it is damaged (then it is recomputed)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _write_cache(path: Path | None, arrays: dict[str, np.ndarray]) -> None:
    """Written whole (atomic_write); a read-only install still works, it recomputes at each start."""
    if path is None:
        return
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buffer.getvalue())
    except OSError:
        pass


def embed_bank(examples: Sequence[Example], embedder, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(sentence, frame) vectors of the bank from the engine's own embedder, cached on disk by model and content."""
    key = bank_key(examples, embedder.model_id)
    path = Path(cache_dir) / f"safety-bank-{key}.npz" if cache_dir else None
    cached = _read_cache(path)
    if cached and {"sentence", "frame"} <= set(cached) and \
            cached["sentence"].shape == cached["frame"].shape == (len(examples), embedder.dim):
        return cached["sentence"], cached["frame"]
    sentence, frame = embedder.encode_with_frame([e.text for e in examples])
    _write_cache(path, {"sentence": sentence, "frame": frame})
    return sentence, frame


def sample_weights(labels: Sequence[str]) -> np.ndarray:
    """Urgent labels together weigh as much as one ordinary class (and so do the decline labels, and the small-talk
    labels): the urgent score sums 13 labels, and per-label balancing would give it 13 times the weight of the
    near-misses."""
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    present_urgent = sum(1 for lab in counts if lab in URGENT_LABELS) or 1
    present_decline = sum(1 for lab in counts if lab in DECLINE_LABELS) or 1
    present_talk = sum(1 for lab in counts if lab in SMALL_TALK_LABELS) or 1
    w = np.array([1.0 / (counts[lab] * (present_urgent if lab in URGENT_LABELS else
                                         present_decline if lab in DECLINE_LABELS else
                                         present_talk if lab in SMALL_TALK_LABELS else 1)) for lab in labels])
    return w * len(labels) / w.sum()


class SafetyClassifier:
    """Two logistic regressions over four views of a message — its sentence embedding (what it is about), its
    frame vector (how it is said), word n-gram tf-idf (the exact words: "last year", "right now", "if") and
    character n-gram tf-idf (pieces of words, which carry Spanish forms and typos: "respirar"/"respira"):

    * `topic`: which bank label the message is closest to (13 urgent labels, 3 decline labels, near-miss,
      in-scope, out-of-scope, 6 small-talk labels);
    * `situation`: trained on urgent messages against near-misses only, it learns what separates "it is happening
      now" from asking about, remembering or planning for the same symptom.

    urgent score = P(an urgent label or a near-miss) × P(happening now): an AND of the two, which one linear
    model over the concatenated views cannot express. decline score = P(a decline label). The character view is
    computed once per message and read by both models."""

    PARTS = (("topic", 2), ("situation", 3))  # (model, longest word n-gram of its tf-idf view)

    def __init__(self, topic: tuple, situation: tuple, bank: Sequence[Example], bank_vectors: np.ndarray,
                 chars=None):
        self.topic_vectorizer, self.topic = topic
        self.situation_vectorizer, self.situation = situation
        self.chars = chars
        self._views = {id(v): OneMessageTfidf(v) for v in (self.topic_vectorizer, self.situation_vectorizer, chars)
                       if v is not None}
        self.bank = list(bank)
        self.bank_vectors = bank_vectors
        self.labels: list[str] = [str(label) for label in self.topic.classes_]
        self._urgent = np.array([lab in URGENT_LABELS for lab in self.labels])
        self._alarm = self._urgent | np.array([lab == "near_miss" for lab in self.labels])
        self._decline = np.array([lab in DECLINE_LABELS for lab in self.labels])
        self._talk = np.array([lab in SMALL_TALK_LABELS for lab in self.labels])
        self._now = list(self.situation.classes_).index(True)

    @staticmethod
    def _vectorizer(max_n: int):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, max_n), sublinear_tf=True, min_df=2,
                               token_pattern=r"(?u)\b\w+\b|[?]")

    @staticmethod
    def _char_vectorizer():
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=3,
                               max_features=20000)

    def _char_view(self, texts: Sequence[str]):
        return None if self.chars is None else self._views[id(self.chars)].transform(texts)

    @staticmethod
    def _features(vectorizer, texts: Sequence[str], sentence: np.ndarray, frame: np.ndarray, chars=None):
        from scipy.sparse import csr_matrix, hstack

        views = [vectorizer.transform(list(texts))] + ([chars] if chars is not None else [])
        return hstack(views + [csr_matrix(np.atleast_2d(sentence)), csr_matrix(np.atleast_2d(frame))]).tocsr()

    @classmethod
    def fit(cls, examples: Sequence[Example], sentence: np.ndarray, frame: np.ndarray,
            c: float = 10.0, c_situation: float = 30.0) -> "SafetyClassifier":
        from sklearn.linear_model import LogisticRegression

        texts = [e.text for e in examples]
        labels = np.array([e.label for e in examples])
        alarm = np.flatnonzero(np.isin(labels, list(URGENT_LABELS) + ["near_miss"]))
        if not len(alarm) or len(set(np.isin(labels[alarm], list(URGENT_LABELS)))) < 2:
            raise SafetyBankError("the safety bank needs both urgent and near_miss examples")
        chars = cls._char_vectorizer().fit(texts) if CHAR_NGRAMS else None
        cm = chars.transform(texts) if chars is not None else None
        tv = cls._vectorizer(2).fit(texts)
        topic = LogisticRegression(C=c, max_iter=5000)
        topic.fit(cls._features(tv, texts, sentence, frame, cm), labels, sample_weight=sample_weights(labels))
        alarm_texts = [texts[i] for i in alarm]
        sv = cls._vectorizer(3).fit(alarm_texts)
        situation = LogisticRegression(C=c_situation, max_iter=5000, class_weight="balanced")
        situation.fit(cls._features(sv, alarm_texts, sentence[alarm], frame[alarm], cm[alarm] if cm is not None else None),
                      np.isin(labels[alarm], list(URGENT_LABELS)))
        return cls((tv, topic), (sv, situation), examples, sentence, chars)

    def parameters(self) -> dict[str, np.ndarray]:
        """What scoring needs, as plain arrays (no pickle): each view's vocabulary and idf, each model's weights."""
        arrays: dict[str, np.ndarray] = {}
        views = [(name, getattr(self, f"{name}_vectorizer")) for name, _ in self.PARTS] + \
            ([("chars", self.chars)] if self.chars is not None else [])
        for name, vectorizer in views:
            arrays[f"{name}_terms"] = np.array(sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get), dtype=str)
            arrays[f"{name}_idf"] = np.asarray(vectorizer.idf_)
        for name, _ in self.PARTS:
            model = getattr(self, name)
            arrays[f"{name}_coef"], arrays[f"{name}_intercept"] = model.coef_, model.intercept_
            arrays[f"{name}_classes"] = np.asarray(model.classes_)
        return arrays

    @classmethod
    def from_parameters(cls, arrays: dict[str, np.ndarray], bank: Sequence[Example],
                        bank_vectors: np.ndarray) -> "SafetyClassifier":
        def view(vectorizer, name: str):
            vectorizer.set_params(vocabulary={str(t): i for i, t in enumerate(arrays[f"{name}_terms"])})
            vectorizer.idf_ = arrays[f"{name}_idf"]
            return vectorizer

        parts = [(view(cls._vectorizer(max_n), name), FittedLinear(arrays[f"{name}_coef"], arrays[f"{name}_intercept"],
                                                                    arrays[f"{name}_classes"]))
                 for name, max_n in cls.PARTS]
        chars = view(cls._char_vectorizer(), "chars") if CHAR_NGRAMS else None
        return cls(parts[0], parts[1], bank, bank_vectors, chars)

    def scores(self, texts: Sequence[str], sentence: np.ndarray, frame: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(urgent score, decline score, label probabilities) per message."""
        cm = self._char_view(texts)
        p = _softmax(self._logits(self.topic, self._views[id(self.topic_vectorizer)], texts, sentence, frame, cm))
        now = self.now(texts, sentence, frame, cm)
        return p[:, self._alarm].sum(axis=1) * now, p[:, self._decline].sum(axis=1), p

    def now(self, texts: Sequence[str], sentence: np.ndarray, frame: np.ndarray, chars=None) -> np.ndarray:
        """P(happening now) from the situation model."""
        cm = self._char_view(texts) if chars is None else chars
        z = self._logits(self.situation, self._views[id(self.situation_vectorizer)], texts, sentence, frame, cm)[:, 0]
        return 1.0 / (1.0 + np.exp(-z if self._now == 1 else z))

    @staticmethod
    def _logits(model, vectorizer, texts: Sequence[str], sentence: np.ndarray, frame: np.ndarray,
                chars=None) -> np.ndarray:
        """The fitted model's decision function, without building the concatenated matrix (a message is answered
        in well under a millisecond): tf-idf parts as sparse products, the two dense views as plain ones."""
        words = vectorizer.transform(list(texts))
        coef = model.coef_
        n = words.shape[1]
        z = words @ coef[:, :n].T + model.intercept_
        if chars is not None:
            z = z + chars @ coef[:, n:n + chars.shape[1]].T
            n += chars.shape[1]
        dim = np.atleast_2d(sentence).shape[1]
        z = z + np.atleast_2d(sentence) @ coef[:, n:n + dim].T + np.atleast_2d(frame) @ coef[:, n + dim:].T
        return np.asarray(z)

    def likeliest_urgent_label(self, p: np.ndarray) -> str:
        """The urgent label with the highest probability in one row of `scores`' probabilities."""
        return self.labels[int(np.argmax(np.where(self._urgent, p, -1.0)))]

    def triage(self, text: str, sentence: np.ndarray, frame: np.ndarray) -> Triage:
        # one message is a tiny product: BLAS worker threads only contend with the model's own threads (measured:
        # p95 85 ms with them, 7 ms without), so this runs single-threaded
        with _single_thread():
            return self._triage(text, sentence, frame)

    def _triage(self, text: str, sentence: np.ndarray, frame: np.ndarray) -> Triage:
        urgent, decline, p = self.scores([text], sentence, frame)
        p = p[0]
        d_idx = np.flatnonzero(self._decline)
        sims = self.bank_vectors @ sentence
        i = int(np.argmax(sims))
        oos = float(p[self.labels.index("out_of_scope")]) if "out_of_scope" in self.labels else 0.0
        top = int(np.argmax(p))
        return Triage(float(urgent[0]), self.likeliest_urgent_label(p),
                      float(decline[0]), self.labels[d_idx[np.argmax(p[d_idx])]], oos, self.labels[top], float(p[top]),
                      self.bank[i].text, self.bank[i].label, float(sims[i]), self.bank[i].lang,
                      float(p[self._urgent].sum()), float(p[self._talk].sum()))


# character n-grams within words (a fourth view, shared by both models): out of fold on the bank, at the same
# recall (>= 0.98 in English and in Spanish), they let the urgent threshold rise from 0.15 to 0.20: 180 instead of
# 225 false alarms on 2,770 calm messages (benchmarks/bench_safety.py --sweep)
CHAR_NGRAMS: tuple[int, int] | None = (2, 4)


class OneMessageTfidf:
    """A fitted TfidfVectorizer's transform for one message at a time, from its own analyzer, vocabulary and idf:
    the same numbers (tests/test_triage.py), without scikit-learn's per-call overhead (0.33 ms -> 0.03 ms a view,
    three views a message)."""

    def __init__(self, vectorizer):
        self.vectorizer = vectorizer
        self.analyzer = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.sublinear = vectorizer.sublinear_tf
        self.size = len(self.idf)

    def transform(self, texts: Sequence[str]):
        from scipy.sparse import csr_matrix

        texts = list(texts)
        if len(texts) != 1:
            return self.vectorizer.transform(texts)
        counts: dict[int, int] = {}
        for gram in self.analyzer(texts[0]):
            j = self.vocabulary.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        cols = np.array(sorted(counts), dtype=np.int32)
        tf = np.array([counts[j] for j in cols], dtype=np.float64)
        values = ((np.log(tf) + 1.0) if self.sublinear else tf) * self.idf[cols]
        norm = np.sqrt(np.dot(values, values))
        if norm > 0:
            values = values / norm
        return csr_matrix((values, cols, np.array([0, len(cols)], dtype=np.int32)), shape=(1, self.size))


@dataclass
class FittedLinear:
    """A fitted logistic regression's parameters: all that scoring reads (SafetyClassifier._logits)."""
    coef_: np.ndarray
    intercept_: np.ndarray
    classes_: np.ndarray


_CONTROLLER = None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _single_thread():
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def group_folds(examples: Sequence[Example], n_folds: int = 10, seed: int = 0) -> np.ndarray:
    """Fold number per example; all paraphrases of one message (one group) fall in the same fold, and each
    label's groups are spread evenly over the folds (a stratified group split)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[str]] = {}
    for e in examples:
        groups = by_label.setdefault(e.label, [])
        if e.group not in groups:
            groups.append(e.group)
    fold_of: dict[str, int] = {}
    offset = 0
    for label in sorted(by_label):
        groups = [g for g in by_label[label] if g not in fold_of]
        rng.shuffle(groups)
        for j, g in enumerate(groups):
            fold_of[g] = (offset + j) % n_folds
        offset += len(groups)
    return np.array([fold_of[e.group] for e in examples])


@dataclass
class OutOfFold:
    """Each bank example scored by a model that never saw its group: what the thresholds are chosen on."""
    urgent: np.ndarray  # urgent score
    decline: np.ndarray  # decline score
    urgent_label: list[str]  # the likeliest urgent label (for "was the urgent category named right")
    top_label: list[str]  # the likeliest label of all, and its probability (small talk)
    top_score: np.ndarray
    probabilities: np.ndarray  # every label's probability (columns: labels), and P(happening now)
    now: np.ndarray
    labels: list[str]


def cross_validate(examples: Sequence[Example], sentence: np.ndarray, frame: np.ndarray, n_folds: int = 10,
                   c: float = 10.0, seed: int = 0, c_situation: float | None = None) -> OutOfFold:
    """Out-of-fold scores for every example (10-fold, paraphrase groups kept in one fold)."""
    folds = group_folds(examples, n_folds, seed)
    n = len(examples)
    labels = sorted({e.label for e in examples})
    oof = OutOfFold(np.zeros(n), np.zeros(n), [""] * n, [""] * n, np.zeros(n), np.zeros((n, len(labels))), np.zeros(n),
                    labels)
    for k in range(n_folds):
        test = np.flatnonzero(folds == k)
        train = np.flatnonzero(folds != k)
        if not len(test):
            continue
        clf = SafetyClassifier.fit([examples[i] for i in train], sentence[train], frame[train], c,
                                   *(() if c_situation is None else (c_situation,)))
        u, d, p = clf.scores([examples[i].text for i in test], sentence[test], frame[test])
        oof.urgent[test], oof.decline[test] = u, d
        oof.now[test] = clf.now([examples[i].text for i in test], sentence[test], frame[test])
        oof.probabilities[np.ix_(test, [labels.index(lab) for lab in clf.labels])] = p
        for i, row in zip(test, p):
            top = int(np.argmax(row))
            oof.urgent_label[i] = clf.likeliest_urgent_label(row)
            oof.top_label[i], oof.top_score[i] = clf.labels[top], float(row[top])
    return oof


def classifier_key(examples: Sequence[Example], model_id: str, c: float) -> str:
    """Everything the fit depends on: the bank's texts and labels, the model, the settings, scikit-learn."""
    import sklearn

    h = hashlib.sha256(f"{bank_key(examples, model_id)}|c={c!r}|chars={CHAR_NGRAMS}|sklearn={sklearn.__version__}|fit-v3".encode())
    for e in examples:
        h.update(b"\x00" + e.label.encode("utf-8"))
    return h.hexdigest()[:20]


def load_classifier(embedder, extra_dir: Path | None = None, cache_dir: Path | None = None,
                    c: float = 10.0) -> SafetyClassifier:
    """The bank (shipped + the clinic's), embedded by the engine's embedder, and the classifier fitted on it. The
    fit (≈ 4 s, most of a one-shot `rag ask`) is cached beside the bank's vectors, keyed by all it depends on."""
    bank = load_bank(extra_dir)
    sentence, frame = embed_bank(bank, embedder, cache_dir)
    path = Path(cache_dir) / f"safety-classifier-{classifier_key(bank, embedder.model_id, c)}.npz" if cache_dir else None
    cached = _read_cache(path)
    if cached is not None:
        try:
            return SafetyClassifier.from_parameters(cached, bank, sentence)
        except (KeyError, ValueError):
            pass  # not a classifier this code can read: fitted again below
    classifier = SafetyClassifier.fit(bank, sentence, frame, c)
    _write_cache(path, classifier.parameters())
    return classifier
