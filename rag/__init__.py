"""Patient cancer-information Q&A: answers only from retrieved, cited, trusted documents."""
__version__ = "0.1.0"

from .answer.compose import Answer, Citation  # noqa: E402
from .config import Config  # noqa: E402
from .engine import Engine, build_index  # noqa: E402

__all__ = ["Answer", "Citation", "Config", "Engine", "build_index", "__version__"]
