"""Index stage: FAISS vectors + BM25 + passages + manifest, saved atomically, rebuilt incrementally."""
from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import faiss
import numpy as np

from ..ingest.chunker import Chunk, chunk_document
from ..ingest.documents import LoadResult, OverdueReview, Skipped
from ..encode.embeddings import Embedder
from ..errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, RagError
from .files import atomic_write
from ..retrieval.lexical import LexicalIndex, tokenize
from ..progress import Progress

FORMAT_VERSION = 2  # 2: sentence vectors
POINTER = "CURRENT"


@dataclass
class DocInfo:
    """What the engine and the staff console need of a document once it is indexed."""
    doc_id: str
    title: str
    url: str
    path: str
    metadata: dict[str, Any]
    content_hash: str
    links: list[dict[str, Any]]
    n_passages: int = 0


@dataclass
class BuildReport:
    documents: int
    passages: int
    embedded: int
    reused: int
    skipped: list[Skipped]
    seconds: float
    path: Path
    overdue: list[OverdueReview] = field(default_factory=list)  # documents whose review date has passed


def make_faiss_index(vectors: np.ndarray, hnsw_min_passages: int) -> faiss.Index:
    """Exact inner product for small corpora; HNSW only where it pays off (see README)."""
    dim = vectors.shape[1]
    if len(vectors) >= hnsw_min_passages:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


def dense_texts(chunks: list[Chunk], rows: list[int]) -> tuple[list[str], list[int], list[tuple[int, int]]]:
    """Texts to embed for `rows`; for each row the position of its text; for each text (the row that defines it,
    where its body starts in it), so its sentences can be found in it.

    A passage body that recurs verbatim in several documents (PDQ boilerplate such as the clinical-trials
    section) is embedded once, under its section heading only: the copies collapse into one hit at retrieval
    anyway, and it saves about a tenth of the build.
    """
    docs_by_body: dict[str, set[str]] = {}
    for c in chunks:
        docs_by_body.setdefault(c.body_hash, set()).add(c.doc_id)
    texts: list[str] = []
    bases: list[tuple[int, int]] = []
    position: dict[str, int] = {}
    targets: list[int] = []
    for i in rows:
        c = chunks[i]
        body = c.embed_text[len(c.prefix) + 2:]
        if len(docs_by_body[c.body_hash]) > 1:
            key = "shared:" + c.body_hash
            heading = c.heading_path[-1].lstrip("#").strip() if c.heading_path else ""
            text = f"{heading}: {body}"
        else:
            key, text = f"row:{i}", c.embed_text
        if key not in position:
            position[key] = len(texts)
            texts.append(text)
            bases.append((i, len(text) - len(body)))
        targets.append(position[key])
    return texts, targets, bases


EMBED_SLICE = 64  # texts per encode call: a progress step every few seconds, and still full batches


def embed_passages(embedder: Embedder, texts: list[str], spans: list[list[tuple[int, int]]],
                   progress: Callable[[str], None] | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors of `texts` and of the sentence spans in each, encoded longest first a slice at a time so the
    progress shown is our own, whatever the backend: similar lengths share a slice (little padding), and the
    largest batches run first, before the heap fragments."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    sentences: list[np.ndarray] = [np.zeros((0, embedder.dim), np.float32)] * len(texts)
    with Progress(len(texts), "passage", progress) as bar:
        for start in range(0, len(order), EMBED_SLICE):
            rows = order[start:start + EMBED_SLICE]
            vecs, per_text = embedder.encode_spans([texts[i] for i in rows], [spans[i] for i in rows])
            vectors[rows] = vecs
            for i, v in zip(rows, per_text):
                sentences[i] = v
            bar.update(len(rows))
    return vectors, sentences


class PassageIndex:
    """Everything retrieval reads, in memory; one folder per build, switched by an atomic pointer file."""

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, docs: dict[str, DocInfo],
                 lexical: LexicalIndex, manifest: dict[str, Any], faiss_index: faiss.Index | None = None,
                 path: Path | None = None, sentence_vectors: np.ndarray | None = None,
                 sentence_start: np.ndarray | None = None):
        self.chunks = chunks
        self.vectors = vectors
        # one vector per sentence of each passage (float16: they only rank a passage's own sentences);
        # passage row r's are sentence_vectors[sentence_start[r]:sentence_start[r + 1]], aligned with chunk.sentences
        if sentence_vectors is None or sentence_start is None:
            sentence_start = np.zeros(len(chunks) + 1, np.int64)
            sentence_vectors = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), np.float16)
        self.sentence_vectors = sentence_vectors
        self.sentence_start = sentence_start
        self.docs = docs
        self.lexical = lexical
        self.manifest = manifest
        self.faiss = faiss_index if faiss_index is not None else make_faiss_index(vectors, manifest.get("hnsw_min_passages", 10**9))
        self.path = path
        self.by_id = {c.passage_id: i for i, c in enumerate(chunks)}

    # ---- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, loaded: LoadResult, embedder: Embedder, max_tokens: int, overlap_sentences: int,
              previous: "PassageIndex | None" = None, hnsw_min_passages: int = 20_000,
              progress: Callable[[str], None] | None = None) -> tuple["PassageIndex", int, int]:
        """Chunk and embed; documents whose bytes are unchanged since `previous` reuse its passages and vectors."""
        say = progress or (lambda _msg: None)
        reusable: dict[str, list[int]] = {}
        if previous is not None:
            for i, c in enumerate(previous.chunks):
                reusable.setdefault(c.doc_id, []).append(i)
        chunks: list[Chunk] = []
        rows: list[np.ndarray | None] = []
        sentence_rows: list[np.ndarray | None] = []
        docs: dict[str, DocInfo] = {}
        to_embed: list[int] = []
        for doc in loaded.documents:
            old = previous.docs.get(doc.doc_id) if previous is not None else None
            if old is not None and old.content_hash == doc.content_hash and doc.doc_id in reusable:
                for i in reusable[doc.doc_id]:
                    chunks.append(previous.chunks[i])
                    rows.append(previous.vectors[i])
                    sentence_rows.append(previous.passage_sentence_vectors(i))
                doc_chunks = len(reusable[doc.doc_id])
            else:
                new = chunk_document(doc, embedder.count_tokens, max_tokens, overlap_sentences)
                for c in new:
                    to_embed.append(len(chunks))
                    chunks.append(c)
                    rows.append(None)
                    sentence_rows.append(None)
                doc_chunks = len(new)
            docs[doc.doc_id] = DocInfo(doc.doc_id, doc.title, doc.url, doc.path, doc.metadata, doc.content_hash,
                                       [dataclasses.asdict(link) for link in doc.links], doc_chunks)
        say(f"{len(chunks)} passages: {len(to_embed)} to embed, {len(chunks) - len(to_embed)} reused")
        vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
        for i, row in enumerate(rows):
            if row is not None:
                vectors[i] = row
        if to_embed:
            texts, targets, bases = dense_texts(chunks, to_embed)
            say(f"embedding {len(texts)} distinct passage texts")
            spans = [[(base + a, base + b) for a, b in chunks[row].body_sentence_spans()] for row, base in bases]
            unique, unique_sentences = embed_passages(embedder, texts, spans, progress)
            vectors[to_embed] = unique[targets]
            for row, t in zip(to_embed, targets):
                same = len(unique_sentences[t]) == len(chunks[row].sentences)  # a shared body split alike
                sentence_rows[row] = unique_sentences[t] if same else np.zeros((len(chunks[row].sentences), embedder.dim), np.float32)
        lexical = LexicalIndex.build([tokenize(c.embed_text) for c in chunks])
        manifest = {
            "format_version": FORMAT_VERSION,
            "model_id": embedder.model_id,
            "model_sha256": embedder.sha256,
            "model_dtype": embedder.dtype,
            "chunker": {"max_tokens": max_tokens, "overlap_sentences": overlap_sentences},
            "documents": {d.doc_id: d.content_hash for d in docs.values()},
            "skipped": [dataclasses.asdict(s) for s in loaded.skipped],
            "counts": {"documents": len(docs), "passages": len(chunks), "skipped": len(loaded.skipped)},
            "hnsw_min_passages": hnsw_min_passages,
            "faiss_index": "HNSWFlat" if len(chunks) >= hnsw_min_passages else "FlatIP",
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if previous is not None and "answerability" in previous.manifest:  # a clinic's refit survives a rebuild
            manifest["answerability"] = previous.manifest["answerability"]
        sentence_start = np.zeros(len(chunks) + 1, np.int64)
        sentence_start[1:] = np.cumsum([len(c.sentences) for c in chunks])
        sentence_vectors = (np.concatenate([r for r in sentence_rows if r is not None and len(r)]).astype(np.float16)
                            if sentence_start[-1] else np.zeros((0, embedder.dim), np.float16))
        index = cls(chunks, vectors, docs, lexical, manifest, sentence_vectors=sentence_vectors, sentence_start=sentence_start)
        return index, len(to_embed), len(chunks) - len(to_embed)

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, index_dir: Path) -> Path:
        """Write a complete new build folder, then switch the pointer to it in one atomic rename."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        name = f"build-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = index_dir / f".{name}.partial"
        tmp.mkdir()
        try:
            faiss.write_index(self.faiss, str(tmp / "index.faiss"))
            np.save(tmp / "vectors.npy", self.vectors)
            np.save(tmp / "sentence_vectors.npy", self.sentence_vectors)
            np.save(tmp / "sentence_start.npy", self.sentence_start)
            with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
                for c in self.chunks:
                    fh.write(json.dumps(dataclasses.asdict(c), ensure_ascii=False) + "\n")
            (tmp / "documents.json").write_text(json.dumps({k: dataclasses.asdict(v) for k, v in self.docs.items()},
                                                           ensure_ascii=False), encoding="utf-8")
            self.lexical.save(tmp / "bm25")
            _write_json(tmp / "manifest.json", self.manifest)
            _fsync_tree(tmp)
            final = index_dir / name
            os.rename(tmp, final)
            atomic_write(index_dir / POINTER, name + "\n")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in index_dir.iterdir():  # older builds and leftovers of interrupted ones
            if old.is_dir() and old.name != name and (old.name.startswith("build-") or old.name.endswith(".partial")):
                shutil.rmtree(old, ignore_errors=True)
        self.path = final
        return final

    def save_manifest(self) -> None:
        """Update the manifest of the current build in place (atomic file replace), e.g. after calibration."""
        if self.path is None:
            raise RagError("this index was never saved; build it first")
        _write_json(self.path / "manifest.json", self.manifest)

    @classmethod
    def load(cls, index_dir: Path, expect_model_sha256: str | None = None,
             expect_chunker: dict[str, int] | None = None, expect_dtype: str | None = None) -> "PassageIndex":
        """Read every file of the current build and check they agree. A missing, unreadable or inconsistent file is
        an IndexCorruptError naming it (never a traceback out of json, numpy, faiss or bm25s); another model or
        chunker is an IndexMismatchError. Needs no model: a damaged index is reported before the model loads."""
        index_dir = Path(index_dir)
        build = current_build(index_dir)
        manifest = _read(build / "manifest.json", _read_manifest, index_dir)
        check_manifest(index_dir, manifest, expect_model_sha256, expect_chunker, expect_dtype)
        chunks = _read(build / "passages.jsonl", _read_chunks, index_dir)
        docs = _read(build / "documents.json", _read_docs, index_dir)
        vectors = _read(build / "vectors.npy", _matrix_reader(np.float32), index_dir)
        lexical = _read(build / "bm25", LexicalIndex.load, index_dir)
        faiss_index = _read(build / "index.faiss", lambda path: faiss.read_index(str(path)), index_dir)
        sentence_vectors = _read(build / "sentence_vectors.npy", _matrix_reader(np.float16), index_dir)
        sentence_start = _read(build / "sentence_start.npy", _read_sentence_start, index_dir)
        _check_agreement(build, index_dir, manifest, chunks, docs, vectors, lexical, faiss_index)
        _check_sentences(build, index_dir, chunks, vectors, sentence_vectors, sentence_start)
        return cls(chunks, vectors, docs, lexical, manifest, faiss_index, build, sentence_vectors, sentence_start)

    def passage_sentence_vectors(self, row: int) -> np.ndarray:
        """The vectors of passage `row`'s sentences, in the order of its `sentences` spans."""
        return self.sentence_vectors[self.sentence_start[row]:self.sentence_start[row + 1]]

    def check_compatible(self, model_sha256: str | None, chunker: dict[str, int] | None, dtype: str | None) -> None:
        """IndexMismatchError unless this index was built with this model, precision and chunker settings."""
        if self.path is not None:
            check_manifest(self.path.parent, self.manifest, model_sha256, chunker, dtype)

    @functools.cached_property
    def terms(self) -> list[frozenset[str]]:
        """Each passage's lexical terms (prefix included), computed once per loaded index."""
        return [frozenset(tokenize(c.embed_text)) for c in self.chunks]

    @property
    def manifest_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()[:16]


def rebuild_hint(index_dir: Path) -> str:
    return f"rebuild it with: python -m rag index --index {index_dir}"


def current_build(index_dir: Path) -> Path:
    """The build folder CURRENT names. No pointer means no index; a pointer that is unreadable or names no
    existing build is damage (a half copy, a deleted folder), reported as such and never silently built over."""
    pointer = Path(index_dir) / POINTER
    if not pointer.is_file():
        raise IndexNotFoundError(f"{index_dir}: no index found; build one with: python -m rag index --index {index_dir}")
    name = _read(pointer, lambda path: path.read_text(encoding="utf-8").strip(), index_dir)
    if not name.startswith("build-") or not name.isprintable() or "/" in name or "\\" in name:
        raise IndexCorruptError(f"{pointer}: does not name a build folder ({name[:40]!r}); {rebuild_hint(index_dir)}")
    build = Path(index_dir) / name
    if not build.is_dir():
        raise IndexCorruptError(f"{pointer}: names {name}, which does not exist; {rebuild_hint(index_dir)}")
    return build


def check_manifest(index_dir: Path, manifest: dict[str, Any], model_sha256: str | None = None,
                   chunker: dict[str, int] | None = None, dtype: str | None = None) -> None:
    rebuild = rebuild_hint(index_dir)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(f"{index_dir}: index format {manifest.get('format_version')} is not {FORMAT_VERSION}; {rebuild}")
    if dtype and manifest.get("model_dtype") != dtype:
        raise IndexMismatchError(f"{index_dir}: index was built with model precision {manifest.get('model_dtype')}, "
                                 f"not {dtype} (RAG_MODEL_DTYPE, RAG_EMBED_BACKEND); {rebuild}")
    if model_sha256 and manifest.get("model_sha256") != model_sha256:
        raise IndexMismatchError(
            f"{index_dir}: index was built with model {manifest.get('model_id')} (sha256 {str(manifest.get('model_sha256'))[:12]}…), "
            f"not the configured model (sha256 {model_sha256[:12]}…); {rebuild}")
    if chunker and manifest.get("chunker") != chunker:
        raise IndexMismatchError(
            f"{index_dir}: index was built with chunker settings {manifest.get('chunker')}, not {chunker}; {rebuild}")


# ---- reading one build's files ----------------------------------------------------------------------------
T = TypeVar("T")


def _read(path: Path, reader: Callable[[Path], T], index_dir: Path) -> T:
    """`reader(path)`, with any failure turned into one line naming the file (for bm25/, the file inside)."""
    if not path.exists():
        raise IndexCorruptError(f"{path}: missing; {rebuild_hint(index_dir)}")
    try:
        return reader(path)
    except Exception as err:  # json, numpy, faiss (RuntimeError), bm25s, a wrong shape: all mean a damaged file
        culprit = Path(err.filename) if isinstance(err, FileNotFoundError) and err.filename else _culprit(path)
        problem = "missing" if isinstance(err, FileNotFoundError) else f"unreadable ({_brief(err)})"
        raise IndexCorruptError(f"{culprit}: {problem}; {rebuild_hint(index_dir)}") from None


def _culprit(path: Path) -> Path:
    """In a folder of files read together (bm25/), the first that fails on its own; else the path itself."""
    if not path.is_dir():
        return path
    for part in sorted(path.iterdir()):
        try:
            json.loads(part.read_text(encoding="utf-8")) if part.suffix == ".json" else np.load(part)
        except Exception:
            return part
    return path


def _brief(err: Exception) -> str:
    """The gist of a library's error on one short line (faiss prefixes the C++ function and source line)."""
    text = " ".join(str(err).split())
    text = re.sub(r"^Error in .*? at \S+:\d+: (?:Error: )?", "", text)
    text = text.split(". ")[0]
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


def _read_manifest(path: Path) -> dict[str, Any]:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        raise ValueError("not a JSON object")
    return manifest


def _read_chunks(path: Path) -> list[Chunk]:
    chunks = []
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            try:
                d = json.loads(line)
                d["sentences"] = [tuple(s) for s in d["sentences"]]
                chunks.append(Chunk(**d))
            except (ValueError, TypeError, KeyError) as err:
                raise ValueError(f"line {no}: {err}") from None
    return chunks


def _read_docs(path: Path) -> dict[str, DocInfo]:
    return {k: DocInfo(**v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def _matrix_reader(dtype: type) -> Callable[[Path], np.ndarray]:
    """A reader of a .npy matrix that must hold `dtype` (passage vectors float32, sentence vectors float16)."""
    def read(path: Path) -> np.ndarray:
        vectors = np.load(path, allow_pickle=False)
        if vectors.ndim != 2 or vectors.dtype != dtype:
            raise ValueError(f"expected a {np.dtype(dtype).name} matrix, found {vectors.dtype} of shape {vectors.shape}")
        return vectors
    return read


def _read_sentence_start(path: Path) -> np.ndarray:
    start = np.load(path, allow_pickle=False)
    if start.ndim != 1 or start.dtype.kind != "i":
        raise ValueError(f"expected a vector of integers, found {start.dtype} of shape {start.shape}")
    return start


def _check_sentences(build: Path, index_dir: Path, chunks: list[Chunk], vectors: np.ndarray,
                     sentence_vectors: np.ndarray, sentence_start: np.ndarray) -> None:
    """One sentence vector per sentence of every passage, in passage order."""
    counts = np.array([len(c.sentences) for c in chunks])
    ok = (len(sentence_start) == len(chunks) + 1 and np.array_equal(np.diff(sentence_start), counts)
          and sentence_start[0] == 0 and sentence_start[-1] == len(sentence_vectors)
          and (not len(sentence_vectors) or sentence_vectors.shape[1] == vectors.shape[1]))
    if not ok:
        raise IndexCorruptError(f"{build}: files disagree (sentence_start.npy / sentence_vectors.npy do not match "
                                f"the {len(chunks)} passages of passages.jsonl); {rebuild_hint(index_dir)}")


def _check_agreement(build: Path, index_dir: Path, manifest: dict[str, Any], chunks: list[Chunk],
                     docs: dict[str, DocInfo], vectors: np.ndarray, lexical: LexicalIndex,
                     faiss_index: faiss.Index) -> None:
    """The files of one build describe the same passages; a mix of builds or a half-written file shows here."""
    counts = {"passages.jsonl": len(chunks), "vectors.npy": len(vectors), "index.faiss": int(faiss_index.ntotal),
              "bm25/": lexical.n_docs}
    stated = manifest.get("counts", {}).get("passages") if isinstance(manifest.get("counts"), dict) else None
    if stated is not None:
        counts["manifest.json"] = stated
    problems = []
    if len(set(counts.values())) > 1:
        problems.append("passage counts " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    if faiss_index.d != vectors.shape[1]:
        problems.append(f"index.faiss has {faiss_index.d} dimensions, vectors.npy {vectors.shape[1]}")
    unknown = sorted({c.doc_id for c in chunks} - set(docs))
    if unknown:
        problems.append(f"passages.jsonl cites {len(unknown)} documents missing from documents.json ({unknown[0]}…)")
    if problems:
        raise IndexCorruptError(f"{build}: files disagree ({'; '.join(problems)}); {rebuild_hint(index_dir)}")


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False))


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
