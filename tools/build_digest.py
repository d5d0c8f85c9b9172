"""A digest of the embedded book's build and data folders, to show that `make test` leaves them as they were.

    python tools/build_digest.py OUT          write the digest of build/ and data/ (but build/ci) to OUT
    python tools/build_digest.py --check OUT  compare with OUT; exit 1 naming every file that differs

Results files (build/results) are hashed byte for byte; every other file by size and modification time
(the corpus and the trained runs are gigabytes: a rewrite changes the time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("build", "data")
OWN = ROOT / "build" / "ci"  # make test's own folder


def digest() -> dict[str, str]:
    """Path -> hash (results) or size:mtime (the rest) of every file of the embedded build and data."""
    out = {}
    for top in FOLDERS:
        for p in sorted((ROOT / top).rglob("*")):
            if not p.is_file() or p.is_relative_to(OWN):
                continue
            rel = p.relative_to(ROOT).as_posix()
            if rel.startswith("build/results/"):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                st = p.stat()
                out[rel] = f"{st.st_size}:{st.st_mtime_ns}"
    return out


def main() -> int:
    """Write or check a digest."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", action="store_true", help="compare with OUT instead of writing it")
    args = ap.parse_args()
    now = digest()
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(now, indent=0, sort_keys=True))
        print(f"digest of {len(now)} files of the embedded build and data -> {args.out}")
        return 0
    before = json.loads(args.out.read_text())
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if changed:
        print(f"make test changed {len(changed)} file(s) outside build/ci:", file=sys.stderr)
        for k in changed[:50]:
            print(f"  {k}: {before.get(k, 'absent')} -> {now.get(k, 'absent')}", file=sys.stderr)
        return 1
    print(f"the embedded build and data are as they were ({len(now)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
