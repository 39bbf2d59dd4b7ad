"""Shared fixtures: the real model, loaded once; a small real corpus indexed once per session."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Config, Engine, build_index
from rag.encode.embeddings import Embedder
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
def config(docs_dir, tmp_path_factory) -> Config:
    return Config(docs_dir=docs_dir, index_dir=tmp_path_factory.mktemp("index"), today="2026-11-25",
                  audit_log=tmp_path_factory.mktemp("audit") / "audit.db",
                  cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def built(config, embedder):
    return build_index(config, embedder)


@pytest.fixture(scope="session")
def engine(config, embedder, built) -> Engine:
    return Engine.load(config, embedder)


@pytest.fixture()
def index_copy(config, built, tmp_path) -> Path:
    """A private copy of the session's fixture index (e.g. to damage); its build folder is `current_build(copy)`."""
    dest = tmp_path / "index"
    shutil.copytree(config.index_dir, dest)
    return dest


def overwrite_with_garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(9).integers(0, 256, max(path.stat().st_size, 64), dtype=np.uint8).tobytes())


def assert_one_actionable_line(err: str, index_dir: Path, names: str) -> None:
    """What a damaged index must produce: one `error:` line naming the file and the rebuild command."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert names in lines[0] and f"python -m rag index --index {index_dir}" in lines[0]
    assert "Traceback" not in err


def write_doc(folder: Path, name: str, body: str = "# Topic\n\nSome text about a topic. It has two sentences.\n",
              **front: object) -> Path:
    """A small knowledge-base file; front-matter values are written as given (strings verbatim)."""
    fields = {"title": "A test document", "url": "https://example.org/docs/page", "status": "active", **front}
    lines = ["---"] + [f"{k}: {v}" for k, v in fields.items() if v is not None] + ["---", "", body]
    path = folder / name
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


XSS_DOC = """---
title: "Nausea care <b>test</b> sheet"
url: https://example.org/nausea
status: active
audienceLevel: patient
cancerTypes:
- general
---

# Nausea care sheet

## Anti-nausea medicines

Ondansetron helps prevent nausea caused by chemotherapy <script>alert('doc')</script> and is given before treatment.
"""


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory) -> Path:
    """The fixture corpus plus a document carrying markup (for the XSS checks)."""
    folder = copy_fixture_docs(tmp_path_factory.mktemp("docs"))
    (folder / "xss-nausea.md").write_text(XSS_DOC, encoding="utf-8")
    return folder


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_app(config, engine, tmp_path_factory):
    """The real app on a loopback port, in a background thread, with a staff password."""
    import threading
    import time

    import uvicorn

    from ui.app import create_app

    cfg = config.replace(staff_password="s3cret-test", port=free_port(),
                         audit_log=tmp_path_factory.mktemp("live") / "audit.db")
    server = uvicorn.Server(uvicorn.Config(create_app(cfg, engine), host="127.0.0.1", port=cfg.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    assert server.started, "app did not start"
    yield f"http://127.0.0.1:{cfg.port}", cfg
    server.should_exit = True
    thread.join(timeout=10)
