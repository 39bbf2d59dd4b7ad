from pathlib import Path

import pytest

from rag.config import Config
from rag.errors import ConfigError


def test_defaults_point_at_the_bundled_seeds_and_index():
    cfg = Config()
    assert cfg.docs_dir == Path("seeds") and cfg.index_dir == Path("models/index")
    assert cfg.host == "127.0.0.1"


def test_environment_overrides_defaults_and_flags_override_environment():
    env = {"RAG_TOP_K": "7", "RAG_INDEX_DIR": "/tmp/x", "RAG_ANSWERABILITY_CUT": "0.3"}
    cfg = Config.from_env(env)
    assert (cfg.top_k, cfg.index_dir, cfg.answerability_cut) == (7, Path("/tmp/x"), 0.3)
    assert Config.from_env(env, index_dir=Path("/tmp/y")).index_dir == Path("/tmp/y")


def test_a_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="RAG_TOP_K"):
        Config.from_env({"RAG_TOP_K": "many"})


def test_the_embedding_backend_is_set_by_environment():
    assert (Config().embed_backend, Config().model_dtype, Config().onnx_dir) == ("auto", "auto", Path("models/onnx"))
    cfg = Config.from_env({"RAG_EMBED_BACKEND": "torch", "RAG_ONNX_DIR": "/srv/onnx", "RAG_EMBED_THREADS": "1"})
    assert (cfg.embed_backend, cfg.onnx_dir, cfg.embed_threads) == ("torch", Path("/srv/onnx"), 1)
