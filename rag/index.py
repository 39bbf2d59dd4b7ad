"""Index stage: FAISS vectors + BM25 + passages + manifest, saved atomically, rebuilt incrementally."""
from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np

from .chunker import Chunk, chunk_document
from .documents import LoadResult, Skipped
from .embeddings import Embedder
from .errors import IndexMismatchError, IndexNotFoundError, RagError
from .lexical import LexicalIndex, tokenize

FORMAT_VERSION = 1
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


def dense_texts(chunks: list[Chunk], rows: list[int]) -> tuple[list[str], list[int]]:
    """Texts to embed for `rows`, and for each row the position of its text.

    A passage body that recurs verbatim in several documents (PDQ boilerplate such as the clinical-trials
    section) is embedded once, under its section heading only: the copies collapse into one hit at retrieval
    anyway, and it saves about a tenth of the build.
    """
    docs_by_body: dict[str, set[str]] = {}
    for c in chunks:
        docs_by_body.setdefault(c.body_hash, set()).add(c.doc_id)
    texts: list[str] = []
    position: dict[str, int] = {}
    targets: list[int] = []
    for i in rows:
        c = chunks[i]
        if len(docs_by_body[c.body_hash]) > 1:
            key = "shared:" + c.body_hash
            heading = c.heading_path[-1].lstrip("#").strip() if c.heading_path else ""
            text = f"{heading}: {c.embed_text[len(c.prefix) + 2:]}"
        else:
            key, text = f"row:{i}", c.embed_text
        if key not in position:
            position[key] = len(texts)
            texts.append(text)
        targets.append(position[key])
    return texts, targets


class PassageIndex:
    """Everything retrieval reads, in memory; one folder per build, switched by an atomic pointer file."""

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, docs: dict[str, DocInfo],
                 lexical: LexicalIndex, manifest: dict[str, Any], faiss_index: faiss.Index | None = None,
                 path: Path | None = None):
        self.chunks = chunks
        self.vectors = vectors
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
        docs: dict[str, DocInfo] = {}
        to_embed: list[int] = []
        for doc in loaded.documents:
            old = previous.docs.get(doc.doc_id) if previous is not None else None
            if old is not None and old.content_hash == doc.content_hash and doc.doc_id in reusable:
                for i in reusable[doc.doc_id]:
                    chunks.append(previous.chunks[i])
                    rows.append(previous.vectors[i])
                doc_chunks = len(reusable[doc.doc_id])
            else:
                new = chunk_document(doc, embedder.count_tokens, max_tokens, overlap_sentences)
                for c in new:
                    to_embed.append(len(chunks))
                    chunks.append(c)
                    rows.append(None)
                doc_chunks = len(new)
            docs[doc.doc_id] = DocInfo(doc.doc_id, doc.title, doc.url, doc.path, doc.metadata, doc.content_hash,
                                       [dataclasses.asdict(link) for link in doc.links], doc_chunks)
        say(f"{len(chunks)} passages: {len(to_embed)} to embed, {len(chunks) - len(to_embed)} reused")
        vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
        for i, row in enumerate(rows):
            if row is not None:
                vectors[i] = row
        if to_embed:
            texts, targets = dense_texts(chunks, to_embed)
            say(f"embedding {len(texts)} distinct passage texts")
            unique = embedder.encode(texts, show_progress=progress is not None)
            vectors[to_embed] = unique[targets]
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
        if previous is not None and "no_answer_threshold" in previous.manifest:
            manifest["no_answer_threshold"] = previous.manifest["no_answer_threshold"]
            manifest["calibration"] = previous.manifest.get("calibration")
        return cls(chunks, vectors, docs, lexical, manifest), len(to_embed), len(chunks) - len(to_embed)

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
            _atomic_write(index_dir / POINTER, name + "\n")
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
        index_dir = Path(index_dir)
        build = current_build(index_dir)
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        rebuild = f"rebuild it with: python -m rag index --index {index_dir}"
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(f"{index_dir}: index format {manifest.get('format_version')} is not {FORMAT_VERSION}; {rebuild}")
        if expect_dtype and manifest.get("model_dtype") != expect_dtype:
            raise IndexMismatchError(f"{index_dir}: index was built with model precision {manifest.get('model_dtype')}, "
                                     f"not {expect_dtype} (RAG_MODEL_DTYPE, RAG_EMBED_BACKEND); {rebuild}")
        if expect_model_sha256 and manifest.get("model_sha256") != expect_model_sha256:
            raise IndexMismatchError(
                f"{index_dir}: index was built with model {manifest.get('model_id')} (sha256 {str(manifest.get('model_sha256'))[:12]}…), "
                f"not the configured model (sha256 {expect_model_sha256[:12]}…); {rebuild}")
        if expect_chunker and manifest.get("chunker") != expect_chunker:
            raise IndexMismatchError(
                f"{index_dir}: index was built with chunker settings {manifest.get('chunker')}, not {expect_chunker}; {rebuild}")
        chunks = []
        with open(build / "passages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                d["sentences"] = [tuple(s) for s in d["sentences"]]
                chunks.append(Chunk(**d))
        docs = {k: DocInfo(**v) for k, v in json.loads((build / "documents.json").read_text(encoding="utf-8")).items()}
        vectors = np.load(build / "vectors.npy")
        return cls(chunks, vectors, docs, LexicalIndex.load(build / "bm25"), manifest,
                   faiss.read_index(str(build / "index.faiss")), build)

    @functools.cached_property
    def terms(self) -> list[frozenset[str]]:
        """Each passage's lexical terms (prefix included), computed once per loaded index."""
        return [frozenset(tokenize(c.embed_text)) for c in self.chunks]

    @property
    def manifest_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()[:16]


def current_build(index_dir: Path) -> Path:
    pointer = Path(index_dir) / POINTER
    if not pointer.is_file():
        raise IndexNotFoundError(f"{index_dir}: no index found; build one with: python -m rag index --index {index_dir}")
    build = Path(index_dir) / pointer.read_text(encoding="utf-8").strip()
    if not (build / "manifest.json").is_file():
        raise IndexNotFoundError(f"{build}: index files are missing; rebuild with: python -m rag index --index {index_dir}")
    return build


def _write_json(path: Path, data: Any) -> None:
    _atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
