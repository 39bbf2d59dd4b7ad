"""ONNX export of the verified weights: made offline on first use, cached by key, checked on every load.

The export lives in `<onnx_dir>/<key>/model.onnx` beside a manifest that records its SHA-256. The key covers
the source weights' SHA-256 and every setting that changes the file (precision, opset, exporter, versions), so a
new torch or a new precision gets a new folder instead of a stale file. A folder appears only by one rename of a
finished temp folder: an interrupted export leaves a `.partial` folder that is never used (and is swept later).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ModelError

EXPORT_VERSION = 2  # bump when the export recipe below changes (2: TorchScript exporter first, BERT fusion)
OPSET = 18
PRECISIONS = ("float32", "int8")
OUTPUT = "token_embeddings"  # last hidden state: the sentence vector and the frame vector both pool it


class OnnxExportError(ModelError):
    """The ONNX route cannot be used for this model (export, check or file system failed); names the cause."""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def export_settings(weights_sha256: str, precision: str) -> dict[str, Any]:
    """Everything that decides the exported bytes; its hash names the cache folder."""
    if precision not in PRECISIONS:
        raise OnnxExportError(f"ONNX precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    settings: dict[str, Any] = {
        "export_version": EXPORT_VERSION, "source_sha256": weights_sha256, "precision": precision, "opset": OPSET,
        "attention": "eager", "fusion": "bert" if precision == "float32" else "none", "torch": _version("torch"), "transformers": _version("transformers"),
        "onnxruntime": _version("onnxruntime"),  # its optimizer fuses float32, its quantizer makes int8
    }
    return settings


def export_key(settings: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return f"{settings['source_sha256'][:12]}-{settings['precision']}-{digest[:12]}"


def supported(model_dir: Path) -> None:
    """The ONNX route reproduces Transformer → mean pooling (→ Normalize) only; refuse anything else by name."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_path = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((model_dir / pooling_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as err:
        raise OnnxExportError(f"{model_dir}: cannot read the sentence-transformers layout ({err})") from None
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise OnnxExportError(f"{model_dir / 'modules.json'}: modules {kinds} are not Transformer, Pooling[, Normalize]")
    if not pooling.get("pooling_mode_mean_tokens") or any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"):
        raise OnnxExportError(f"{model_dir / pooling_path / 'config.json'}: only mean pooling is exported")
    if not (model_dir / "tokenizer.json").is_file():
        raise OnnxExportError(f"{model_dir / 'tokenizer.json'}: not found (the ONNX route tokenizes with it)")


def onnx_model(model_dir: Path, weights_sha256: str, precision: str, onnx_dir: Path,
               say: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Path of a verified export for these weights and precision, exporting it first when missing or altered."""
    from .embeddings import sha256_file

    supported(model_dir)
    settings = export_settings(weights_sha256, precision)
    folder = Path(onnx_dir) / export_key(settings)
    problem = _check(folder, settings, sha256_file)
    if problem is None:
        return folder / "model.onnx"
    if problem != "missing":
        say(f"{folder}: {problem}; exporting it again")
    started = time.perf_counter()
    _publish(folder, lambda tmp: _export(model_dir, settings, tmp))
    problem = _check(folder, settings, sha256_file)
    if problem is not None:
        raise OnnxExportError(f"{folder}: the export just written does not verify ({problem})")
    say(f"exported the embedding model to ONNX ({precision}) in {time.perf_counter() - started:.1f} s: {folder}")
    return folder / "model.onnx"


def _check(folder: Path, settings: dict[str, Any], sha256_file: Callable[[Path], str]) -> str | None:
    """None when the folder holds the export these settings name, with the bytes its manifest recorded."""
    if not folder.is_dir():
        return "missing"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"unreadable manifest ({type(err).__name__})"
    if manifest.get("settings") != settings:
        return "manifest is for other export settings"
    model = folder / "model.onnx"
    if not model.is_file():
        return "model.onnx is missing"
    if sha256_file(model) != manifest.get("onnx_sha256"):
        return "model.onnx does not match the SHA-256 in its manifest (altered or truncated)"
    return None


def _publish(folder: Path, build: Callable[[Path], None]) -> None:
    """Build into a temp folder beside `folder`, then put it in place by rename (the old one, if any, moved aside)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        for old in folder.parent.glob(f".{folder.name}.*"):  # leftovers of interrupted exports of this key
            shutil.rmtree(old, ignore_errors=True)
        tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.partial"
        tmp.mkdir()
    except OSError as err:
        raise OnnxExportError(f"{folder.parent}: cannot write the ONNX export there ({err}); set RAG_ONNX_DIR "
                              "to a writable folder or RAG_EMBED_BACKEND=torch") from None
    try:
        build(tmp)
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        if folder.exists():
            aside = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.old"
            os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
        os.rename(tmp, folder)
    except OSError as err:
        if folder.is_dir() and (folder / "manifest.json").is_file():
            return  # another process published the same key first; the caller verifies what is there
        raise OnnxExportError(f"{folder}: cannot write the ONNX export ({err}); set RAG_ONNX_DIR to a writable "
                              "folder or RAG_EMBED_BACKEND=torch") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export(model_dir: Path, settings: dict[str, Any], tmp: Path) -> None:
    """torch → ONNX float32 (checked against torch) → fused (checked again), or int8 weights by ONNX Runtime's
    dynamic quantizer."""
    from .embeddings import sha256_file

    plain = tmp / "model-plain.onnx"
    exporter, probe, expected = _torch_export(model_dir, plain)
    _check_probe(plain, probe, expected, f"exporter {exporter}")
    final = tmp / "model.onnx"
    fused: dict[str, int] = {}
    if settings["precision"] == "int8":  # the quantizer knows the plain graph's ops, not the fused contrib ops
        with _quiet():
            from onnxruntime.quantization import QuantType, quantize_dynamic
            quantize_dynamic(str(plain), str(final), per_channel=True, weight_type=QuantType.QInt8)
    else:
        fused = _fuse(model_dir, plain, final)
        if fused:
            _check_probe(final, probe, expected, "fused graph")
        else:
            os.replace(plain, final)
    plain.unlink(missing_ok=True)
    manifest = {"settings": settings, "exporter": exporter, "fused": fused,
                "onnx_sha256": sha256_file(tmp / "model.onnx"), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _fuse(model_dir: Path, plain: Path, out: Path) -> dict[str, int]:
    """ONNX Runtime's BERT fusions (one Attention op per layer, SkipLayerNorm, BiasGelu, fused embeddings): the same
    arithmetic in fewer, faster kernels (benchmarks/bench_embed.py). Returns the fused ops, or {} when the graph is
    not a BERT the optimizer recognises (the plain export is then used as it is)."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert":
            return {}
        with _quiet():
            from onnxruntime.transformers.optimizer import optimize_model
            model = optimize_model(str(plain), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                   hidden_size=int(config["hidden_size"]), opt_level=0)
            fused = {op: n for op, n in model.get_fused_operator_statistics().items() if n}
            if not fused.get("Attention"):
                return {}
            model.save_model_to_file(str(out))
        return fused
    except Exception:  # the optimizer is an accelerator, not a requirement: any failure keeps the plain graph
        out.unlink(missing_ok=True)
        return {}


def _check_probe(path: Path, probe: tuple, expected: Any, what: str) -> None:
    """The ONNX graph must give torch's token embeddings (under the mask) on a probe batch with padding."""
    import numpy as np

    ids, mask = probe
    got = _run(path, ids, mask)
    real = mask.astype(bool)
    if got.shape != expected.shape or not np.allclose(got[real], expected[real], atol=1e-4):
        raise OnnxExportError(f"{path.name}: ONNX Runtime output differs from torch on a probe ({what})")


def _torch_export(model_dir: Path, out: Path) -> tuple[str, tuple, Any]:
    """Export the transformer (input_ids, attention_mask → token embeddings); return which exporter worked, the
    probe inputs and torch's output on them."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as err:
        raise OnnxExportError(f"the ONNX export needs torch and transformers ({err})") from None

    class Body(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    with _quiet():
        # eager attention exports as plain MatMul/Softmax, which ONNX Runtime runs faster than the SDPA graph
        body = Body(AutoModel.from_pretrained(str(model_dir), local_files_only=True,
                                              attn_implementation="eager")).eval()
        ids = torch.tensor([[101, 2054, 2003, 1037, 3231, 1029, 102], [101, 7592, 102, 0, 0, 0, 0]])
        mask = (ids != 0).long()
        names = {"input_names": ["input_ids", "attention_mask"], "output_names": [OUTPUT]}
        errors = []
        # TorchScript's graph is the one ONNX Runtime's optimizer fuses; dynamo's is the fallback
        for exporter in ("torchscript", "dynamo"):
            try:
                if exporter == "dynamo":
                    longest = int(body.model.config.max_position_embeddings)
                    batch, seq = torch.export.Dim("batch", min=1, max=4096), torch.export.Dim("seq", min=1, max=longest)
                    program = torch.onnx.export(body, (ids, mask), dynamo=True, opset_version=OPSET, verbose=False,
                                                optimize=True, dynamic_shapes={"input_ids": {0: batch, 1: seq},
                                                                               "attention_mask": {0: batch, 1: seq}},
                                                **names)
                    program.save(str(out), external_data=False)
                else:
                    axes = {n: {0: "batch", 1: "seq"} for n in names["input_names"] + names["output_names"]}
                    torch.onnx.export(body, (ids, mask), str(out), dynamo=False, opset_version=OPSET,
                                      dynamic_axes=axes, **names)
                break
            except Exception as err:  # any exporter failure: try the other, then report both
                errors.append(f"{exporter}: {type(err).__name__}: {str(err)[:200]}")
                out.unlink(missing_ok=True)
        else:
            raise OnnxExportError(f"{model_dir}: torch.onnx.export failed ({'; '.join(errors)})")
        with torch.no_grad():
            expected = body(ids, mask).numpy()
    return exporter, (ids.numpy(), mask.numpy()), expected


def _run(path: Path, ids, mask):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter and quantizer chatter (warnings, root-logger advice, progress bars): keep stderr to one line."""
    root = logging.getLogger()
    null = logging.NullHandler()
    root.addHandler(null)  # stops logging.warning() from installing a stderr handler for the rest of the process
    logging.disable(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    except ImportError:
        hf_logging, bar = None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        root.removeHandler(null)
        if hf_logging is not None and bar:
            hf_logging.enable_progress_bar()
