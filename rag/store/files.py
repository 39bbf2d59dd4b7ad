"""Writing a file so that readers see the old one or the whole new one, never half: the index's pointer and
manifests, imported leaflets, the safety caches."""
from __future__ import annotations

import os
import uuid
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, overwrite: bool = True) -> None:
    """Temp file beside `path`, fsynced, then renamed over it. With overwrite=False an existing file is kept and
    FileExistsError raised (a hard link of the finished temp file: no window for a race)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
