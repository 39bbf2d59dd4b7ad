import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, copy_fixture_docs, write_doc
from rag import Config, build_index
from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.index import PassageIndex


def test_a_build_writes_faiss_passages_and_a_manifest(built, config, engine):
    manifest = engine.index.manifest
    assert built.documents == 8 and built.passages == len(engine.index.chunks) > 50
    assert manifest["model_sha256"] == engine.embedder.sha256
    assert manifest["chunker"] == config.chunker_settings()
    assert set(manifest["documents"]) == set(engine.index.docs)
    assert manifest["counts"]["passages"] == engine.index.faiss.ntotal == built.passages
    assert manifest["faiss_index"] == "FlatIP" and manifest["built_at"]
    for name in ("index.faiss", "passages.jsonl", "manifest.json", "vectors.npy", "documents.json"):
        assert (engine.index.path / name).is_file()


def test_boilerplate_shared_by_documents_has_one_vector(engine):
    by_hash = {}
    for i, c in enumerate(engine.index.chunks):
        by_hash.setdefault(c.body_hash, set()).add((c.doc_id, i))
    shared = [rows for rows in by_hash.values() if len({d for d, _ in rows}) > 1]
    assert shared
    for rows in shared:
        vecs = engine.index.vectors[[i for _, i in rows]]
        assert np.allclose(vecs, vecs[0])


@pytest.fixture()
def small_corpus(tmp_path, embedder):
    docs = copy_fixture_docs(tmp_path / "docs")
    for rel in list(docs.rglob("*"))[3:]:
        if rel.is_file():
            rel.unlink()
    cfg = Config(docs_dir=docs, index_dir=tmp_path / "index")
    return cfg, build_index(cfg, embedder)


def test_a_rebuild_reuses_unchanged_documents_and_reembeds_changed_ones(small_corpus, embedder):
    cfg, first = small_corpus
    again = build_index(cfg, embedder)
    assert (again.embedded, again.reused) == (0, first.passages)
    target = next(p for p in cfg.docs_dir.rglob("*.md"))
    target.write_text(target.read_text(encoding="utf-8") + "\n\nA brand new closing sentence for this test.\n", encoding="utf-8")
    third = build_index(cfg, embedder)
    assert 0 < third.embedded < third.passages
    assert third.reused == third.passages - third.embedded


def test_loading_an_index_built_with_other_chunker_settings_says_how_to_rebuild(small_corpus):
    cfg, _ = small_corpus
    with pytest.raises(IndexMismatchError, match="python -m rag index --index"):
        PassageIndex.load(cfg.index_dir, expect_chunker={"max_tokens": 99, "overlap_sentences": 0})
    with pytest.raises(IndexMismatchError, match="model"):
        PassageIndex.load(cfg.index_dir, expect_model_sha256="0" * 64)


def test_an_index_answers_only_a_model_of_the_same_numerics(built, config, embedder):
    assert PassageIndex.load(config.index_dir, expect_dtype="float32").manifest["model_id"] == embedder.model_id
    for other in ("int8", "onnx-int8"):  # PyTorch's and ONNX Runtime's int8 differ from each other and from float32
        with pytest.raises(IndexMismatchError, match=f"precision float32, not {other} .*RAG_EMBED_BACKEND"):
            PassageIndex.load(config.index_dir, expect_dtype=other)


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFoundError, match="python -m rag index"):
        PassageIndex.load(tmp_path)


def test_a_crash_while_saving_keeps_the_previous_index(small_corpus, embedder, monkeypatch):
    cfg, first = small_corpus
    before = PassageIndex.load(cfg.index_dir)
    write_doc(cfg.docs_dir, "extra.md")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        build_index(cfg, embedder)
    after = PassageIndex.load(cfg.index_dir)
    assert after.path == before.path and len(after.chunks) == first.passages
    assert not [p for p in cfg.index_dir.iterdir() if p.name.endswith(".partial")]


def test_ctrl_c_during_a_real_build_leaves_the_previous_index_loadable(small_corpus):
    cfg, first = small_corpus
    before = PassageIndex.load(cfg.index_dir).path
    for i in range(12):  # enough new text that embedding takes seconds, not a fraction of one
        write_doc(cfg.docs_dir, f"new{i}.md", "# New\n\n" + " ".join(f"Sentence number {j} about topic {i}." for j in range(400)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rag", "index", "--docs", str(cfg.docs_dir), "--index", str(cfg.index_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "to embed" in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "previous index" in err
    assert PassageIndex.load(cfg.index_dir).path == before


def test_a_folder_whose_files_are_all_bad_is_refused_and_the_index_kept(small_corpus, embedder, tmp_path):
    from rag.errors import NoDocumentsError

    cfg, first = small_corpus
    bad = tmp_path / "bad-docs"
    bad.mkdir()
    (bad / "a.md").write_text("---\ntitle: [broken\n---\ntext\n")
    with pytest.raises(NoDocumentsError, match="all 1 skipped.*a.md: invalid YAML"):
        build_index(cfg.replace(docs_dir=bad), embedder)
    assert len(PassageIndex.load(cfg.index_dir).chunks) == first.passages
