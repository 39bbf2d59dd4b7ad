import os
import signal
import subprocess
import sys
import time

from pathlib import Path

import faiss
import numpy as np
import pytest

from conftest import ROOT, assert_one_actionable_line, copy_fixture_docs, overwrite_with_garbage, write_doc
from rag import Config, build_index
from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.store.index import PassageIndex, current_build, make_faiss_index
from rag.retrieval.lexical import LexicalIndex, tokenize


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


def test_every_passage_has_one_vector_per_sentence_saved_with_the_index(engine):
    index = engine.index
    assert len(index.sentence_start) == len(index.chunks) + 1
    assert index.sentence_vectors.shape == (index.sentence_start[-1], index.vectors.shape[1])
    for row in (0, len(index.chunks) // 2, len(index.chunks) - 1):
        vecs = index.passage_sentence_vectors(row)
        assert len(vecs) == len(index.chunks[row].sentences)
        assert np.allclose(np.linalg.norm(vecs.astype(np.float32), axis=1), 1.0, atol=1e-2)


def test_a_rebuild_reuses_the_sentence_vectors_of_unchanged_documents(small_corpus, embedder):
    cfg, _ = small_corpus
    before = PassageIndex.load(cfg.index_dir)
    build_index(cfg, embedder)
    after = PassageIndex.load(cfg.index_dir)
    assert np.array_equal(before.sentence_start, after.sentence_start)
    assert np.array_equal(before.sentence_vectors, after.sentence_vectors)


# ---- a damaged index: one line naming the file and the rebuild command, exit code 2 ---------------------------
INDEX_FILES = ["manifest.json", "documents.json", "passages.jsonl", "index.faiss", "vectors.npy",
               "sentence_vectors.npy", "sentence_start.npy",
               "bm25/params.index.json", "bm25/vocab.index.json", "bm25/df.json", "bm25/data.csc.index.npy",
               "bm25/indices.csc.index.npy", "bm25/indptr.csc.index.npy"]


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def one_passage_short(build, name):
    """Rewrite one file of the build, valid on its own, describing one passage fewer than the others."""
    index = PassageIndex.load(build.parent)
    if name == "vectors.npy":
        np.save(build / name, index.vectors[:-1])
    elif name == "sentence_vectors.npy":
        np.save(build / name, index.sentence_vectors[:-1])
    elif name == "passages.jsonl":
        lines = (build / name).read_text(encoding="utf-8").splitlines(keepends=True)
        (build / name).write_text("".join(lines[:-1]), encoding="utf-8")
    elif name == "index.faiss":
        faiss.write_index(make_faiss_index(index.vectors[:-1], 10**9), str(build / name))
    elif name == "bm25/":
        LexicalIndex.build([tokenize(c.embed_text) for c in index.chunks[:-1]]).save(build / "bm25")


DAMAGE = ([(name, how) for name in INDEX_FILES for how in (overwrite_with_garbage, truncate, Path.unlink)]
          + [(name, one_passage_short) for name in ("vectors.npy", "sentence_vectors.npy", "passages.jsonl",
                                                    "index.faiss", "bm25/")])


def ask_exit_code_and_stderr(index_dir, capsys):
    from rag.cli import main

    code = main(["ask", "what is melanoma?", "--index", str(index_dir)])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


@pytest.mark.parametrize("name,damage", DAMAGE, ids=[f"{n}-{d.__name__}" for n, d in DAMAGE])
def test_a_damaged_index_file_is_one_line_naming_it_and_the_rebuild_command(index_copy, capsys, name, damage):
    build = current_build(index_copy)
    if damage is one_passage_short:
        damage(build, name)
    else:
        damage(build / name)
    code, err = ask_exit_code_and_stderr(index_copy, capsys)
    assert code == 2
    assert_one_actionable_line(err, index_copy, str(build / name) if damage is not one_passage_short else name)
    if damage is one_passage_short:
        assert "files disagree" in err


@pytest.mark.parametrize("pointer", [b"build-20000101T000000-000000\n", b"\xff\xfe\x00\x81garbage", b"", b"../elsewhere\n"],
                         ids=["names-a-missing-build", "garbage", "empty", "outside-the-folder"])
def test_a_current_pointer_to_no_build_is_damage_not_a_missing_index(index_copy, capsys, pointer):
    (index_copy / "CURRENT").write_bytes(pointer)
    code, err = ask_exit_code_and_stderr(index_copy, capsys)
    assert code == 2 and "no index found" not in err
    assert_one_actionable_line(err, index_copy, str(index_copy / "CURRENT"))


def test_rag_index_replaces_a_damaged_index(small_corpus, embedder):
    cfg, first = small_corpus
    overwrite_with_garbage(current_build(cfg.index_dir) / "vectors.npy")
    said = []
    again = build_index(cfg, embedder, progress=said.append)
    assert any("previous index damaged" in line and "vectors.npy" in line for line in said)
    assert (again.embedded, again.passages) == (first.passages, first.passages)
    assert len(PassageIndex.load(cfg.index_dir).chunks) == first.passages
