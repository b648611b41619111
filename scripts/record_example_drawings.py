"""Re-record tests/data/example_drawings.json: the PNG hashes of `apdraw draw` on examples/.

    python scripts/record_example_drawings.py

Run it only when a drawing is *meant* to change (new shipped weights, a
deliberate change of an engine); tests/test_pipeline.py then guards the new
bytes. The commands stay those already in the file; the CPU capability and
torch version of this machine are recorded with the hashes (the test skips
elsewhere, since float kernels differ between instruction sets).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data" / "example_drawings.json"


def main() -> int:
    import torch

    from apdraw.cli import main as apdraw
    from apdraw.io import save_text

    torch.set_num_threads(2)  # as the test suite (tests/conftest.py)
    ref = json.loads(REFERENCE.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for folder, args in ref["commands"].items():
            if apdraw(["draw", str(REPO / "examples"), "-o", str(out / folder), *args]) != 0:
                print(f"apdraw draw failed for {folder}", file=sys.stderr)
                return 1
        hashes = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*/*.png"))}
    changed = sorted(k for k in hashes if ref["sha256"].get(k) != hashes[k])
    ref["recorded_with"] = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__.split("+")[0]}
    ref["sha256"] = hashes
    save_text(REFERENCE, json.dumps(ref, indent=1) + "\n")
    print(f"recorded {len(hashes)} drawings; changed: {changed or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
