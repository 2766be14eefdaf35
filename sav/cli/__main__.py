"""`python -m sav.cli …` is the `sav` console script."""

from __future__ import annotations

import sys

from sav.cli.main import main

sys.exit(main())
