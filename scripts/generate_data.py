"""Generate synthetic landing data and the oracle: ``python scripts/generate_data.py --customers 10000``."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from clvlake.datagen.cli import main
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    from clvlake.datagen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
