"""Every ```python block of README.md, CHANGELOG.md and docs/ runs as a test.

A page's blocks run in order, each as its own program (a subprocess), in one fresh directory with
a fresh backend (CHUTE_URL: a new SQLite file; a few pages also on Redis). HTML comments right
before a block (invisible on GitHub and on the docs site) say how to run it:

    <!-- not-run: REASON -->         skipped: a fragment, or code for another system (REASON required)
    <!-- save-as: NAME.py -->        write the block to NAME.py, where later blocks can import or run it
    <!-- before: COMMAND -->         run COMMAND to completion first (repeatable)
    <!-- background: COMMAND -->     run COMMAND while the block runs, then stop it (repeatable)
    <!-- run: COMMAND -->            run COMMAND instead of `python FILE`

Commands start with `chute` or `python` (both: this interpreter). A block run as `python FILE`
that uses a named object (`from_name(`) runs twice: copied examples must work when run again.
Every python block, run or not, must compile: no top-level `await` (wrap it in `async def main()`
and `asyncio.run(main())`). ```bash blocks are commands for a reader and are not run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda p: str(p.relative_to(ROOT)),
)
# Pages whose plain blocks (no commands) also run on Redis: quick, and every Queue/Dict feature.
REDIS_PAGES = {"README.md", "docs/guides/queues.md", "docs/guides/dicts.md"}
DIRECTIVES = ("not-run", "save-as", "before", "background", "run")
DIRECTIVE = re.compile(r"^\s*<!--\s*([a-z][a-z-]*)\s*:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
TIMEOUT = 180


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    directives: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> list[str]:
        return [value for key, value in self.directives if key == name]

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the directive comments right before each."""
    lines = path.read_text().splitlines()
    page = str(path.relative_to(ROOT))
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m["indent"], m["fence"]
        lang = (m["info"].strip().split() or [""])[0].strip("{}.").lower()
        directives: list[tuple[str, str]] = []
        j = i - 1
        while j >= 0 and (not lines[j].strip() or DIRECTIVE.match(lines[j])):
            d = DIRECTIVE.match(lines[j])
            if d:
                directives.insert(0, (d[1], d[2]))
            j -= 1
        body: list[str] = []
        k = i + 1
        while k < len(lines) and lines[k].strip() != fence[0] * len(fence):
            body.append(lines[k][len(indent) :] if lines[k].startswith(indent) else lines[k].lstrip())
            k += 1
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n", directives))
        i = k + 1
    return blocks


ALL_BLOCKS = [b for p in PAGES for b in parse(p)]
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py")]


def test_blocks_are_found() -> None:
    assert len(PYTHON) >= 30
    assert {b.page for b in PYTHON} >= {"README.md", "docs/guides/jobs.md", "docs/migrate/celery.md"}


def test_directives_are_known_and_on_python_blocks() -> None:
    for b in ALL_BLOCKS:
        for name, value in b.directives:
            assert name in DIRECTIVES, f"{b}: unknown directive {name!r} (known: {DIRECTIVES})"
            assert b.lang in ("python", "py"), f"{b}: a {name!r} directive on a {b.lang or 'plain'} block"
            assert value, f"{b}: {name!r} needs a value"


def test_every_skipped_block_says_why() -> None:
    skipped = [b for b in PYTHON if b.get("not-run")]
    for b in skipped:
        assert len(b.get("not-run")[0]) >= 10, f"{b}: say why the block is not run"
        assert len(b.directives) == 1, f"{b}: a not-run block takes no other directive"
    # Skipping is for fragments and other systems' code, not a way out: keep the list short.
    assert len(skipped) <= len(PYTHON) // 3, [str(b) for b in skipped]


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_every_python_block_compiles(block: Block) -> None:
    """Top-level `await` and fragments that are not Python fail here, run or not."""
    compile(block.code, str(block), "exec")


def run_command(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] == "chute":
        return [sys.executable, "-m", "chute", *argv[1:]]
    assert argv[0] == "python", f"commands start with chute or python: {command!r}"
    return [sys.executable, *argv[1:]]


@contextlib.contextmanager
def background(commands: list[str], cwd: Path, env: dict[str, str]) -> Iterator[list[Path]]:
    """Start the commands (each in its own process group), yield their log files, stop them."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for n, command in enumerate(commands):
            log = cwd / f"background-{n}.log"
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        run_command(command),
                        cwd=cwd,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            logs.append(log)
        yield logs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):  # executors left behind, if any
                os.killpg(proc.pid, signal.SIGKILL)


class BlockFailed(Exception):
    pass


def check(block: Block, argv: list[str], cwd: Path, env: dict[str, str], logs: list[Path]) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        background_output = "".join(f"\n--- {log.name}:\n{log.read_text()[-3000:]}" for log in logs)
        raise BlockFailed(
            f"{block} failed ({' '.join(argv[1:])}, exit {result.returncode}):\n{block.code}\n"
            f"--- stdout:\n{result.stdout[-3000:]}\n--- stderr:\n{result.stderr[-5000:]}{background_output}"
        )


def run_page(page: str, url: str, tmp_path: Path, *, plain_only: bool = False) -> None:
    """Run the page's blocks in order; ``plain_only`` leaves out those that need commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUTE_")}
    env.update(CHUTE_URL=url, CHUTE_WEB_PORT=str(free_port()), PYTHONUNBUFFERED="1")
    for n, block in enumerate(b for b in PYTHON if b.page == page):
        commands = block.get("before") + block.get("background") + block.get("run")
        if block.get("not-run") or (plain_only and commands):
            continue
        name = (block.get("save-as") or [f"block_{n}_line_{block.line}.py"])[0]
        (tmp_path / name).write_text(block.code)
        for command in block.get("before"):
            check(block, run_command(command), tmp_path, env, [])
        with background(block.get("background"), tmp_path, env) as logs:
            runs = block.get("run")
            if runs:
                check(block, run_command(runs[0]), tmp_path, env, logs)
                continue
            times = 1 if plain_only or "from_name(" not in block.code else 2
            for _ in range(times):
                check(block, [sys.executable, name], tmp_path, env, logs)


def page_weight(page: str, backend: str) -> int:
    """A rough cost of running a page: a process per run of a block, more for a command."""
    weight = 0
    for block in (b for b in PYTHON if b.page == page and not b.get("not-run")):
        commands = len(block.get("before") + block.get("background") + block.get("run"))
        if backend == "redis" and commands:
            continue
        weight += 3 * commands if commands else 1 + ("from_name(" in block.code and backend == "sqlite")
    return weight


RUN_PAGES = sorted({b.page for b in PYTHON if not b.get("not-run")})
CASES = [(page, "sqlite") for page in RUN_PAGES] + [(page, "redis") for page in sorted(REDIS_PAGES)]
# Pages run concurrently (their blocks mostly wait: on workers starting, on timeouts), each in
# its own directory with its own backend; the tests then report one page each.
CONCURRENT_PAGES = 4


@pytest.fixture(scope="module")
def page_outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], str | None]:
    """Run every selected (page, backend) case; map each to its failure message, or None."""
    selected = {
        (item.callspec.params["page"], item.callspec.params["backend"])
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "backend" in item.callspec.params
    }
    redis_url = request.getfixturevalue("redis_srv").url if any(b == "redis" for _, b in selected) else ""

    # Longest first (pages with commands start workers and servers), so that a long page does
    # not start last and run alone at the end.
    cases = sorted(selected, key=lambda case: (-page_weight(*case), case))
    # Made here, not in the threads: the first mktemp creates pytest's base temp folder, and
    # threads racing to create it each got their own one (then a ValueError, with -n 0).
    tmps = {case: tmp_path_factory.mktemp("docs") for case in cases}

    def one(case: tuple[str, str]) -> str | None:
        page, backend = case
        tmp = tmps[case]
        if backend == "sqlite":
            url = f"sqlite://{tmp}/chute.db"
        else:
            url = f"{redis_url}?prefix=docs{uuid.uuid4().hex[:10]}:"
        try:
            run_page(page, url, tmp, plain_only=backend == "redis")
        except BlockFailed as exc:
            return str(exc)
        return None

    with ThreadPoolExecutor(CONCURRENT_PAGES) as pool:
        return dict(zip(cases, pool.map(one, cases), strict=True))


# The first test also runs every page (the fixture): the whole set's time, not one page's.
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("page", "backend"), CASES, ids=[f"{p}-{b}" for p, b in CASES])
def test_page_runs(page: str, backend: str, page_outcomes: dict[tuple[str, str], str | None]) -> None:
    failure = page_outcomes[(page, backend)]
    if failure:
        pytest.fail(failure, pytrace=False)
