import os
import shutil

import numpy as np
import pytest

from rag.config import MINILM_SHA256
from rag.embeddings import Embedder, bundled_model_dir, sha256_file
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
