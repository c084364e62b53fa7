"""Fetch the CLIP BPE vocabulary from the open-clip-torch wheel on PyPI (never importing the package).

The file lands in `.cache/clip/bpe_simple_vocab_16e6.txt.gz`; `comfy_core.text` looks for it there
(or at $COMFY_CORE_CLIP_BPE). Idempotent: does nothing once the file exists.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "open-clip-torch==3.3.0"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / ".cache" / "clip" / "bpe_simple_vocab_16e6.txt.gz"


def main() -> int:
    if TARGET.exists() and TARGET.stat().st_size > 1_000_000:
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp]
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            TARGET.write_bytes(zf.read(MEMBER))
    print(f"CLIP vocabulary -> {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
