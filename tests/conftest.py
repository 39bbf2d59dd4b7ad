"""Shared fixtures: the real model, loaded once; a small real corpus indexed once per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag import Config, Engine, build_index
from rag.embeddings import Embedder
from rag.engine import make_embedder

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
FIXTURE_DOCS = [
    "000_33357ef47611650a.txt",
    "pdq/0000001_1-adult-all-treatment-pdq.md",
    "pdq/0000026_1-kidney-treatment-pdq.md",
    "pdq/0000028_1-skin-treatment-pdq.md",
    "pdq/0000028_2-melanoma-treatment-pdq.md",
    "pdq/0000030_1-myeloma-treatment-pdq.md",
    "pdq/0000037_1-colon-treatment-pdq.md",
]


def copy_fixture_docs(dest: Path) -> Path:
    for rel in FIXTURE_DOCS:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SEEDS / rel, target)
    return dest


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return make_embedder(Config())


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory) -> Path:
    return copy_fixture_docs(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="session")
def config(docs_dir, tmp_path_factory) -> Config:
    return Config(docs_dir=docs_dir, index_dir=tmp_path_factory.mktemp("index"), today="2026-11-25",
                  audit_log=tmp_path_factory.mktemp("audit") / "audit.jsonl")


@pytest.fixture(scope="session")
def built(config, embedder):
    return build_index(config, embedder)


@pytest.fixture(scope="session")
def engine(config, embedder, built) -> Engine:
    return Engine.load(config, embedder)


def write_doc(folder: Path, name: str, body: str = "# Topic\n\nSome text about a topic. It has two sentences.\n",
              **front: object) -> Path:
    """A small knowledge-base file; front-matter values are written as given (strings verbatim)."""
    fields = {"title": "A test document", "url": "https://example.org/docs/page", "status": "active", **front}
    lines = ["---"] + [f"{k}: {v}" for k, v in fields.items() if v is not None] + ["---", "", body]
    path = folder / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
