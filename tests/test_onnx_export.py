"""The ONNX export: made on first use from the verified weights, recorded by checksum, never used when altered."""
import json
import shutil
import time

import numpy as np
import pytest

from rag.config import MINILM_SHA256
from rag.encode.embeddings import Embedder, bundled_model_dir, sha256_file
from rag.encode.onnx_export import OnnxExportError, _check, export_key, export_settings, onnx_model, supported

TEXTS = ["symptoms of leukemia", "my dad collapsed and is not breathing?", "Chemotherapy may cause hair loss."]


def load(onnx_dir) -> Embedder:
    return Embedder(None, MINILM_SHA256, "float32", backend="onnx", onnx_dir=onnx_dir)


def test_a_missing_export_is_made_once_with_its_checksum_recorded(tmp_path, capfd, embedder):
    started = time.perf_counter()
    fresh = load(tmp_path)
    seconds = time.perf_counter() - started  # ≈ 5 s on 2 cores (export, BERT fusion, two probe checks)
    err = capfd.readouterr().err
    assert "exported the embedding model to ONNX (float32)" in err, err
    folder = fresh.onnx_path.parent
    assert folder.parent == tmp_path and folder.name == export_key(export_settings(MINILM_SHA256, "float32"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["onnx_sha256"] == sha256_file(fresh.onnx_path)
    assert manifest["settings"]["source_sha256"] == MINILM_SHA256 and manifest["exporter"] in ("dynamo", "torchscript")
    assert manifest["fused"].get("Attention") == 6  # one fused attention op per layer of MiniLM-L6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    again = load(tmp_path)
    assert "exported" not in capfd.readouterr().err  # the second load reuses it
    assert np.allclose(again.encode(TEXTS), embedder.encode(TEXTS), atol=1e-5), f"export took {seconds:.1f} s"


def test_a_tampered_export_is_detected_and_exported_again_not_used(tmp_path, capfd, embedder):
    folder = tmp_path / embedder.onnx_path.parent.name
    shutil.copytree(embedder.onnx_path.parent, folder)
    model = folder / "model.onnx"
    with open(model, "r+b") as fh:  # one flipped bit in the middle of the weights
        fh.seek(model.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 1]))
    assert "does not match the SHA-256" in _check(folder, export_settings(MINILM_SHA256, "float32"), sha256_file)
    reloaded = load(tmp_path)
    err = capfd.readouterr().err
    assert "does not match the SHA-256 in its manifest" in err and "exporting it again" in err
    assert sha256_file(model) == json.loads((folder / "manifest.json").read_text())["onnx_sha256"]
    assert np.allclose(reloaded.encode(TEXTS), embedder.encode(TEXTS), atol=1e-5)


def test_truncated_missing_or_foreign_files_fail_the_check(tmp_path, embedder):
    settings = export_settings(MINILM_SHA256, "float32")
    folder = tmp_path / "copy"
    shutil.copytree(embedder.onnx_path.parent, folder)
    assert _check(folder, settings, sha256_file) is None
    assert _check(folder, export_settings(MINILM_SHA256, "int8"), sha256_file) == "manifest is for other export settings"
    with open(folder / "model.onnx", "r+b") as fh:  # what an interrupted copy would leave
        fh.truncate(1000)
    assert "does not match" in _check(folder, settings, sha256_file)
    (folder / "model.onnx").unlink()
    assert _check(folder, settings, sha256_file) == "model.onnx is missing"
    assert _check(tmp_path / "none", settings, sha256_file) == "missing"


def test_an_unwritable_export_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OnnxExportError, match="cannot write the ONNX export there.*RAG_ONNX_DIR"):
        onnx_model(bundled_model_dir(), MINILM_SHA256, "float32", blocker / "onnx")


def test_only_mean_pooled_sentence_transformers_layouts_are_exported(tmp_path):
    supported(bundled_model_dir())
    model = tmp_path / "cls-model"
    shutil.copytree(bundled_model_dir(), model, ignore=shutil.ignore_patterns("model.safetensors"))
    pooling = model / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**cfg, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(OnnxExportError, match="only mean pooling"):
        supported(model)


def test_a_graph_the_optimizer_does_not_know_is_kept_plain(tmp_path, embedder):
    from rag.encode.onnx_export import _fuse

    other = tmp_path / "model"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "roberta", "num_attention_heads": 12, "hidden_size": 384}))
    out = tmp_path / "fused.onnx"
    assert _fuse(other, embedder.onnx_path, out) == {} and not out.exists()  # the plain export is used as it is
