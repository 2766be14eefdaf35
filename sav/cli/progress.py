"""Progress bars for long commands (`sav replay`, `sav events import`, `sav privacy
encrypt-legacy`), drawn only on a terminal: redirected to a file or a log collector a
bar is a stream of raw carriage returns, so there the commands' closing line says it all."""

from __future__ import annotations

import sys
from typing import Any


def progress(total: int, desc: str) -> Any:
    """A tqdm bar on stderr if it is a terminal, else one that draws nothing."""
    from tqdm import tqdm

    return tqdm(total=total, unit=" events", desc=desc, unit_scale=True, file=sys.stderr,
                disable=not sys.stderr.isatty())
