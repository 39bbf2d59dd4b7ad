import os
import shutil

import numpy as np
import pytest

from rag.config import MINILM_SHA256
from rag.encode.embeddings import Embedder, bundled_model_dir, sha256_file
from rag.errors import ModelError


def test_the_bundled_model_is_the_official_all_minilm_l6_v2_file():
    assert sha256_file(bundled_model_dir() / "model.safetensors") == MINILM_SHA256


def test_hugging_face_is_told_to_stay_offline(embedder):
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_embeddings_are_unit_vectors_that_rank_related_text_higher(embedder):
    q, near, far = embedder.encode(["symptoms of leukemia", "Signs of leukemia include fever and tiredness.",
                                    "The stock market closed higher today."])
    assert np.allclose([np.linalg.norm(v) for v in (q, near, far)], 1.0, atol=1e-3)
    assert q @ near > q @ far + 0.2


def test_weights_that_differ_from_the_pinned_checksum_are_refused(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    with open(model / "model.safetensors", "r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 1]))
    with pytest.raises(ModelError, match="SHA-256 .* expected " + MINILM_SHA256):
        Embedder(model, MINILM_SHA256)


def test_a_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Embedder(tmp_path / "nowhere", MINILM_SHA256)


def test_another_model_can_be_named_by_path_and_optionally_pinned(tmp_path):
    from rag.config import Config
    from rag.engine import make_embedder

    model = tmp_path / "my-model"
    shutil.copytree(bundled_model_dir(), model)
    assert make_embedder(Config(model_path=model)).sha256 == MINILM_SHA256
    with pytest.raises(ModelError, match="SHA-256"):
        make_embedder(Config(model_path=model, model_sha256="0" * 64))


def test_sentence_vectors_pooled_in_a_passage_are_closest_to_their_own_sentence(embedder):
    """One forward pass gives the passage vector and one vector per sentence (issue 8: sentence meaning at no
    extra model cost); a question finds the pooled vector of the sentence that answers it."""
    sentences = ["Daratumumab is a monoclonal antibody that targets the CD38 protein.",
                 "Patients were followed for a median of 13.5 months.",
                 "Infusion reactions happened in about half of the patients."]
    text = "Drug news: " + " ".join(sentences)
    spans, pos = [], len("Drug news: ")
    for s in sentences:
        spans.append((pos, pos + len(s)))
        pos += len(s) + 1
    vectors, per_text = embedder.encode_spans([text], [spans])
    assert np.allclose(vectors[0], embedder.encode(text), atol=1e-4)
    pooled = per_text[0]
    assert pooled.shape == (3, embedder.dim) and np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-4)
    questions = embedder.encode(["what protein does the antibody target", "how long was the follow-up",
                                 "how often were there infusion reactions"])
    assert list((pooled @ questions.T).argmax(axis=0)) == [0, 1, 2]

# ---- backends: ONNX Runtime by default, PyTorch when configured or when the ONNX route fails ---------------------
ODD_TEXTS = ["symptoms of leukemia", "  my dad collapsed and is NOT breathing?  ", "Café naïve — 5–10 mg/m² ± 2",
             "中文 text 😀", "", "word " * 400, "Is it normal that I can't sleep now?"]


@pytest.fixture(scope="module")
def torch_float32():
    return Embedder(None, MINILM_SHA256, "float32", backend="torch")


def test_onnx_runtime_is_the_default_backend_in_float32(embedder):
    assert embedder.backend == "onnx" and embedder.dtype == "float32" and embedder.onnx_path.is_file()
    assert embedder.model_id.endswith("/onnx-float32") and embedder.max_seq_length == 256 and embedder.dim == 384


def test_onnx_float32_vectors_and_token_counts_match_pytorch_float32(embedder, torch_float32):
    assert torch_float32.backend == "torch" and torch_float32.dtype == "float32" and torch_float32.onnx_path is None
    assert embedder.count_tokens(ODD_TEXTS) == torch_float32.count_tokens(ODD_TEXTS)
    cos = (embedder.encode(ODD_TEXTS) * torch_float32.encode(ODD_TEXTS)).sum(axis=1)
    assert cos.min() > 0.9999, cos
    (s1, f1), (s2, f2) = embedder.encode_with_frame(ODD_TEXTS), torch_float32.encode_with_frame(ODD_TEXTS)
    assert (s1 * s2).sum(axis=1).min() > 0.9999
    assert np.allclose(f1, f2, atol=1e-4)  # the same function-word tokens pooled (zero where a text has none)
    assert np.allclose(embedder.encode(ODD_TEXTS[0]), embedder.encode_with_frame(ODD_TEXTS[0])[0], atol=1e-6)


def test_when_the_onnx_route_fails_auto_falls_back_to_pytorch_with_one_warning(tmp_path, capfd):
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # an export folder that cannot be created
    fallback = Embedder(None, MINILM_SHA256, backend="auto", onnx_dir=blocker / "onnx")
    warning = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "PyTorch, not ONNX Runtime" in warning[0] and "RAG_ONNX_DIR" in warning[0]
    assert fallback.backend == "torch" and fallback.dtype == "float32"  # still answers a float32 index
    with pytest.raises(ModelError, match="ONNX Runtime backend unavailable.*RAG_EMBED_BACKEND=torch"):
        Embedder(None, MINILM_SHA256, backend="onnx", onnx_dir=blocker / "onnx")


def test_backend_and_precision_are_checked_and_named(tmp_path):
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="embed_backend must be one of auto, onnx, torch"):
        Embedder(None, MINILM_SHA256, backend="tensorflow")
    with pytest.raises(ModelError, match="ONNX Runtime runs float32 or int8, not bfloat16"):
        Embedder(None, MINILM_SHA256, "bfloat16", backend="onnx", onnx_dir=tmp_path)
    bf16 = Embedder(None, MINILM_SHA256, "bfloat16", backend="auto", onnx_dir=tmp_path)
    assert bf16.backend == "torch" and bf16.dtype == "bfloat16" and not list(tmp_path.iterdir())


def test_sentence_vectors_pooled_by_onnx_runtime_and_pytorch_agree(embedder, torch_float32):
    """Index time may run either backend: the pooled sentence vectors must not depend on which."""
    text = "Drug news: Daratumumab targets CD38. Patients were followed for 13.5 months."
    spans = [[(11, 36), (37, len(text))]]
    onnx_vecs, onnx_spans = embedder.encode_spans([text], spans)
    torch_vecs, torch_spans = torch_float32.encode_spans([text], spans)
    assert float(onnx_vecs[0] @ torch_vecs[0]) > 0.9999
    assert np.all(np.sum(onnx_spans[0] * torch_spans[0], axis=1) > 0.999)
