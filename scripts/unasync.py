"""Generate the sync twins of chute's async sources (httpcore's scripts/unasync.py is the model).

    python scripts/unasync.py           # rewrite the generated files
    python scripts/unasync.py --check   # fail if a generated file is stale (run by .ci/run)

Every rule must be used at least once across all files, so a rule made dead by a refactor
is noticed. Output is formatted with ``ruff format`` so diffs stay readable.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Source folder -> generated folder (httpcore's layout): every ``*.py`` under a source folder
# has a twin under its generated folder. Generated folders are excluded from lint by one glob.
DIRS = {
    "chute/_async": "chute/_sync",
    "chute/backends/_async": "chute/backends/_sync",
    "tests/_async": "tests/_sync",
}

RULES: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\bawait ", ""),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\.aio\(", "("),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\bredis\.asyncio\b", "redis"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio$", "import time"),
    (r"\baclose\b", "close"),
    (r"\basync_([a-z_]+)\b", r"sync_\1"),
    (r"\._async\b", "._sync"),
]
_COMPILED = [(re.compile(p, re.MULTILINE), r) for p, r in RULES]


def header(src: str) -> str:
    return f"# Auto-generated from {src} by scripts/unasync.py: DO NOT EDIT.\n"


def transform(text: str, used: set[int]) -> str:
    for i, (pattern, repl) in enumerate(_COMPILED):
        text, n = pattern.subn(repl, text)
        if n:
            used.add(i)
    return text


def ruff_format(text: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False, dir=ROOT) as f:
        f.write(text)
        tmp = Path(f.name)
    try:
        subprocess.run(
            [sys.executable, "-m", "ruff", "format", "--quiet", "--line-length", "110", str(tmp)], check=True
        )
        return tmp.read_text()
    finally:
        tmp.unlink()


def pairs() -> list[tuple[Path, Path]]:
    out = []
    for src_dir, dst_dir in DIRS.items():
        for src in sorted((ROOT / src_dir).rglob("*.py")):
            out.append((src, ROOT / dst_dir / src.relative_to(ROOT / src_dir)))
    return out


def orphans() -> list[Path]:
    """Generated files whose source is gone (a renamed or deleted source)."""
    out = []
    for src_dir, dst_dir in DIRS.items():
        for dst in sorted((ROOT / dst_dir).rglob("*.py")):
            if not (ROOT / src_dir / dst.relative_to(ROOT / dst_dir)).exists():
                out.append(dst)
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    used: set[int] = set()
    stale: list[str] = []
    for src, dst in pairs():
        rel = src.relative_to(ROOT).as_posix()
        text = header(rel) + transform(src.read_text(), used)
        text = ruff_format(text)
        if check:
            if not dst.exists() or dst.read_text() != text:
                stale.append(dst.relative_to(ROOT).as_posix())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.read_text() != text:
                dst.write_text(text)
                print(f"wrote {dst.relative_to(ROOT)}")
    for orphan in orphans():
        rel = orphan.relative_to(ROOT).as_posix()
        if check:
            stale.append(rel)
        else:
            orphan.unlink()
            print(f"deleted {rel} (its source is gone)")
    unused = [RULES[i][0] for i in range(len(RULES)) if i not in used]
    if unused:
        print(f"unasync: rules never used (delete them): {unused}", file=sys.stderr)
        return 1
    if stale:
        print(f"unasync: stale generated files, run scripts/unasync.py: {stale}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
