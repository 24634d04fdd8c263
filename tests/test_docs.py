"""Documentation is code: every fenced block of README.md and docs/*.md runs here, as written.

* ``python`` blocks are executed (each in a fresh namespace, in a temporary working directory);
  they check what the prose claims with ``assert``.
* ``sh`` blocks are run line by line with bash, in one temporary working directory per page
  (in page order, so a later command can read what an earlier one wrote), with ``specs``
  linked there so repository paths such as ``specs/instruments/XBTUSD.toml`` resolve.  Every
  line is a ``perpspec`` command; a trailing comment with ``(exit N)`` states a non-zero exit status.
* Any other block needs ``<!-- not run: REASON -->`` on the line before it.
* A table after ``<!-- figures: FILE -->`` quotes figures of a JSON file an earlier ``sh`` line of
  the page wrote (``| key | value |``); each is compared with the file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"^<!-- not run: (.+) -->$")
FIGURES = re.compile(r"^<!-- figures: (\S+) -->$")
FENCE = re.compile(r"^```(\S*)\s*$")
EXIT = re.compile(r"#.*\(exit (\d+)")
COMMENT = re.compile(r"\s+#\s.*$")  # a trailing comment: whitespace, '#', a space


@attrs.frozen(kw_only=True)
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    lang: str
    text: str
    not_run: str  # the reason, or "" when the block runs


def read_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, in order."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        start = index
        index += 1
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        previous = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        skip = SKIP.match(previous)
        blocks.append(
            Block(
                page=path.relative_to(ROOT).as_posix(),
                line=start + 1,
                lang=match.group(1),
                text="\n".join(lines[start + 1 : index]) + "\n",
                not_run=skip.group(1).strip() if skip else "",
            )
        )
        index += 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in read_blocks(page)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.lang == "python" and not block.not_run]


def commands(block: Block) -> list[tuple[str, int]]:
    """(command line, expected exit status) per non-empty line of an sh block."""
    found = []
    for raw in block.text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        expected = EXIT.search(raw)
        found.append((COMMENT.sub("", raw).strip(), int(expected.group(1)) if expected else 0))
    return found


def test_the_documentation_has_pages_and_a_short_readme() -> None:
    names = [page.name for page in PAGES]
    assert {"library.md", "rulebook.md", "engine.md", "durability.md", "performance.md", "simulate.md"} <= set(names)
    assert len((ROOT / "README.md").read_text().splitlines()) < 200


def test_every_block_runs_or_says_why_not() -> None:
    unexplained = [
        f"{block.page}:{block.line} ({block.lang or 'no language'})"
        for block in ALL_BLOCKS
        if block.lang not in ("python", "sh") and not block.not_run
    ]
    assert unexplained == []


def test_every_sh_line_is_a_perpspec_command() -> None:
    others = [
        f"{block.page}:{block.line}: {line}"
        for block in ALL_BLOCKS
        if block.lang == "sh" and not block.not_run
        for line, _ in commands(block)
        if not line.startswith("perpspec ")
    ]
    assert others == []


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"{b.page}:{b.line}" for b in PYTHON_BLOCKS])
def test_python_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = compile(block.text, f"{block.page}:{block.line}", "exec")
    exec(code, {"__name__": "__doc__"})


def figure_tables(path: Path) -> list[tuple[str, dict[str, str]]]:
    """(json file, {key: quoted value}) for every ``<!-- figures: FILE -->`` table of a page."""
    lines = path.read_text().splitlines()
    tables = []
    for index, line in enumerate(lines):
        match = FIGURES.match(line.strip())
        if match is None:
            continue
        rows: dict[str, str] = {}
        for row in lines[index + 1 :]:
            if not row.startswith("|"):
                if rows:
                    break
                continue
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            if len(cells) >= 2 and cells[0].startswith("`"):
                rows[cells[0].strip("`")] = cells[1]
        tables.append((match.group(1), rows))
    return tables


def quoted(value: object) -> str:
    """A summary figure as the documentation prints it (thousands separators)."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


SH_PAGES = [page for page in PAGES if any(b.lang == "sh" and not b.not_run for b in read_blocks(page))]
TEST_SH = "test_sh_blocks_run_and_quoted_figures_match"


def run_sh_page(page: Path, workdir: Path) -> None:
    """Run ``page``'s sh lines in order in ``workdir`` (``specs`` linked there), then check its figure tables."""
    (workdir / "specs").symlink_to(ROOT / "specs", target_is_directory=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    for block in read_blocks(page):
        if block.lang != "sh" or block.not_run:
            continue
        for line, expected in commands(block):
            done = subprocess.run(
                ["bash", "-c", line], cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
            )
            assert done.returncode == expected, f"{block.page}:{block.line}: {line}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    for name, rows in figure_tables(page):
        figures = json.loads((workdir / name).read_text())
        assert rows, f"{page.name}: the figures table of {name} is empty"
        assert {key: quoted(figures[key]) for key in rows} == rows


def _cost(page: Path) -> int:
    """A page's expected run time, roughly: a ``perpspec spec`` build counts as ten other commands."""
    lines = [line for b in read_blocks(page) if b.lang == "sh" and not b.not_run for line, _ in commands(b)]
    return len(lines) + 9 * sum(line.startswith("perpspec spec") and "--diff" not in line for line in lines)


@pytest.fixture(scope="module")
def sh_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[None]]]:
    """Every selected page's sh lines, started at once on two workers (one page's lines stay in order, in its own
    directory; the pages share nothing they write).  Each page's test waits for its own run: on two cores the pages
    overlap instead of running one after another (rulebook.md's three rulebook builds alone take as long as the rest)."""
    selected = {item.callspec.params["page"] for item in request.session.items
                if getattr(item, "originalname", "") == TEST_SH and hasattr(item, "callspec")}
    pages = sorted((page for page in SH_PAGES if page in selected), key=_cost, reverse=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {page.name: pool.submit(run_sh_page, page, tmp_path_factory.mktemp(page.stem)) for page in pages}
        yield runs
        for run in runs.values():
            run.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("page", SH_PAGES, ids=[page.name for page in SH_PAGES])
def test_sh_blocks_run_and_quoted_figures_match(page: Path, sh_runs: dict[str, Future[None]]) -> None:
    sh_runs[page.name].result()  # the page's own AssertionError, raised again here
