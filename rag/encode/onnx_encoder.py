"""Sentence vectors with ONNX Runtime: `tokenizers` + the exported transformer + mean pooling, no torch at run time.

It reproduces sentence-transformers' Transformer → mean Pooling → Normalize: the same tokenizer file and special
tokens, truncation at the model's max_seq_length, batches of texts sorted by length (less padding), the mean of
the token embeddings under the attention mask, L2-normalised.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .onnx_export import OUTPUT, OnnxExportError

# sentence vector, token embeddings, word-pieces, each word-piece's (start, end) characters in the text
TokenOutput = tuple[np.ndarray, np.ndarray, list[str], np.ndarray]


def max_seq_length(model_dir: Path) -> int:
    """sentence_bert_config.json's window (what sentence-transformers truncates at), else the position limit."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("config.json", "max_position_embeddings")):
        try:
            value = json.loads((model_dir / name).read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError):
            continue
        if value:
            return int(value)
    raise OnnxExportError(f"{model_dir}: no max_seq_length in sentence_bert_config.json nor config.json")


class OnnxEncoder:
    def __init__(self, model_dir: Path, onnx_path: Path, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_seq_length = max_seq_length(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)  # the file's own setting (128) is not what ST uses
        self.tokenizer.no_padding()
        self.counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0 = one per core
        # idle threads sleep instead of spinning: on 2 cores a spinning pool steals the CPU from the next request
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        width = self.session.get_outputs()[0].shape[-1]
        if not isinstance(width, int):  # an export without a static hidden size: ask the model once
            width = next(self._batches(["dimension probe"], 1))[1].shape[-1]
        self.dim = int(width)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.counter.encode_batch(list(texts), add_special_tokens=False)]

    def _batches(self, texts: Sequence[str], batch_size: int,
                 progress: bool = False) -> Iterator[tuple[list[int], np.ndarray, np.ndarray, list]]:
        """(positions in `texts`, token embeddings, attention mask, encodings) per batch, longest texts first."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc="Batches")
        for start in starts:
            idx = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, e in enumerate(encodings):
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
            tokens = self.session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]
            yield idx, tokens, mask, encodings

    def sentences(self, texts: Sequence[str], batch_size: int, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), np.float32)
        for idx, tokens, mask, _ in self._batches(texts, batch_size, progress):
            vectors[idx] = _normalize(_mean_pool(tokens, mask))
        return vectors

    def token_outputs(self, texts: Sequence[str], batch_size: int, offsets: bool = True) -> list[TokenOutput]:
        """offsets cost nothing here (the tokenizer gives them); the flag matches the PyTorch encoder's."""
        out: list[TokenOutput | None] = [None] * len(texts)
        for idx, tokens, mask, encodings in self._batches(texts, batch_size):
            pooled = _normalize(_mean_pool(tokens, mask))
            for row, (i, e) in enumerate(zip(idx, encodings)):
                out[i] = (pooled[row], tokens[row, :len(e.ids)], list(e.tokens), np.array(e.offsets).reshape(-1, 2))
        return out  # type: ignore[return-value]


def _mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)
