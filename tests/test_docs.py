"""The documentation: every ``gmgan COMMAND --option`` written in README.md and docs/ exists in that command's
parser, the generated CLI reference covers every option, and the site builds in MkDocs' strict mode."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gmgan.cli import build_parser
from gmgan.clidoc import Parsers, cli_markdown, command_markdown, command_options

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_INLINE = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)  # not across paragraphs
# where a command starts in a line of a code block: at the start (after an optional shell prompt), after
# `python -m` / `torchrun ... -m`, or inside a comment that quotes one ("# e.g.: gmgan cluster RUN ...")
_START = re.compile(r"^\s*(?:\$\s+)?(?:[\w.~/-]*/)?gmgan\s")  # also .venv/bin/gmgan
_AFTER_M = re.compile(r"(?:^|\s)-m\s+gmgan\s")
_IN_COMMENT = re.compile(r"(?:^|\s)#.*?(?<![\w./-])gmgan\s")
_OPTION = re.compile(r"^[\[(]*(--?[A-Za-z][\w-]*)(?:=.*)?$")
_END = {";", "&&", "||", "|", ">", ">>", "2>&1", "->"}


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    command: str
    option: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why} (in `{self.command}`)"


def _tokens(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:  # an unbalanced quote in prose: split on blanks
        return text.split()


def hidden_options(parsers: Parsers) -> dict[str, dict[str, str]]:
    """For each command (``""``: the top level), the options it accepts but hides from --help (old names), each
    with the name --help shows for the same setting (same dest), or ``""`` when there is none."""
    parser, commands = parsers
    out = {}
    for name, p in {"": parser, **commands}.items():
        hidden = [a for a in p._actions if a.help is argparse.SUPPRESS]
        shown = {a.dest: a.option_strings[-1] for a in p._actions if a.option_strings and a not in hidden}
        out[name] = {o: shown.get(a.dest, "") for a in hidden for o in a.option_strings}
    return out


def _check_invocation(text: str, path: str, line: int, options: dict[str, set[str]],
                      hidden: dict[str, dict[str, str]], strict_command: bool) -> list[Problem]:
    """``text`` starts right after the word ``gmgan``. ``strict_command``: an unknown command word is itself a
    problem (a command line in a code block); else (prose, comments) only known commands are checked."""
    tokens = _tokens(text)
    if not tokens:
        return []
    shown = f"gmgan {text.strip()}"[:120]
    command = tokens[0]
    if command.startswith("-"):  # gmgan --version, gmgan --help
        command, rest = "", tokens
    elif command in options:
        rest = tokens[1:]
    else:
        unknown_word = re.fullmatch(r"[a-z][a-z0-9-]*", command) is not None
        if strict_command and unknown_word:
            return [Problem(path, line, shown, command, f"gmgan has no command {command!r}")]
        return []  # a placeholder (COMMAND, ...), or prose such as "a gmgan run"
    problems = []
    for token in rest:
        if token in _END or token.startswith("#"):
            break
        m = _OPTION.match(token.rstrip(";,.:)]"))
        if m is None:
            continue
        option = m.group(1)
        label = f"gmgan {command}" if command else "gmgan"
        if option in options[command]:
            pass
        elif option in hidden[command]:
            instead = f"write {hidden[command][option]}" if hidden[command][option] else "leave it out"
            problems.append(Problem(path, line, shown, option,
                                    f"{label}: {option} is an old name, hidden from --help; {instead}"))
        else:
            problems.append(Problem(path, line, shown, option, f"{label} has no option {option}"))
        if token.endswith(";"):
            break
    return problems


def _logical_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join shell line continuations (a trailing backslash); each logical line keeps its first line's number."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in lines:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.lstrip()
            pending = None
        if text.rstrip().endswith("\\"):
            pending = (number, text.rstrip()[:-1])
        else:
            out.append((number, text))
    if pending is not None:
        out.append(pending)
    return out


def check_markdown(text: str, path: str, allow_hidden: bool = False, parsers: Parsers | None = None) -> list[Problem]:
    """Every option of a ``gmgan`` command line written in ``text`` (fenced code blocks and inline code) that
    the command's parser does not show in --help (``allow_hidden``: or accept at all), in line order.
    ``parsers``: as ``gmgan.cli.build_parser()`` returns (the default)."""
    parsers = parsers or build_parser()
    options = command_options(include_hidden=allow_hidden, parsers=parsers)
    hidden = {name: {} for name in options} if allow_hidden else hidden_options(parsers)
    problems: list[Problem] = []
    prose: list[str] = []  # the text outside fenced blocks (blanked inside them, so offsets keep line numbers)
    block: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = _FENCE.match(line)
        if fence is None and m:
            fence, block = m.group(1), []
            prose.append("")
            continue
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(
                    m.group(1)):].strip():
                fence = None
                problems += _check_block(block, path, options, hidden)
            else:
                block.append((number, line))
            prose.append("")
            continue
        prose.append(line)
    if fence is not None:  # an unclosed block runs to the end of the file, as Markdown reads it
        problems += _check_block(block, path, options, hidden)
    joined = "\n".join(prose)
    for m in _INLINE.finditer(joined):
        code = " ".join(m.group(2).split())
        if code.startswith("gmgan "):
            line = joined.count("\n", 0, m.start(2)) + 1
            problems += _check_invocation(code[len("gmgan "):], path, line, options, hidden, strict_command=False)
    return sorted(problems, key=lambda p: p.line)


def _check_block(block: list[tuple[int, str]], path: str, options: dict[str, set[str]],
                 hidden: dict[str, dict[str, str]]) -> list[Problem]:
    problems: list[Problem] = []
    for number, text in _logical_lines(block):
        starts = []
        if m := _START.match(text):
            starts.append((m.end(), True))
        starts += [(m.end(), True) for m in _AFTER_M.finditer(text)]
        starts += [(m.end(), False) for m in _IN_COMMENT.finditer(text)]
        for end, strict in starts:
            problems += _check_invocation(text[end:], path, number, options, hidden, strict_command=strict)
    return problems


# ------------------------------------------------------------------------------------------------- tests


# The results pages record the commands that produced each number as they were typed, and the changelog names
# old options: an option since renamed (still accepted, hidden from --help) may stay there. README, the guides
# and the reference teach: current names only.
RECORDS = {ROOT / "docs" / name for name in ("RESULTS.md", "results-archive.md", "CHANGELOG.md")} | set(
    (ROOT / "docs" / "results").rglob("*.md"))


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_options_exist(doc):
    problems = check_markdown(doc.read_text(encoding="utf-8"), str(doc.relative_to(ROOT)), allow_hidden=doc in RECORDS)
    assert not problems, ("options written in the docs that the parser (gmgan.cli.build_parser) does not have; "
                          "fix the text or the parser:\n" + "\n".join(map(str, problems)))


def _made_up_parsers() -> Parsers:
    """A small stand-in for gmgan's parser, so that the checker's own test does not move with the real CLI."""
    parser = argparse.ArgumentParser(prog="gmgan")
    parser.add_argument("--version", action="version", version="0")
    sub = parser.add_subparsers(dest="command")
    commands = {name: sub.add_parser(name) for name in ("train", "evaluate", "sample", "cluster", "sweep",
                                                        "interpolate")}
    for name, flags in {"train": ("--preset", "--out"), "evaluate": ("--scale",), "sample": ("--n", "--scale"),
                        "cluster": ("--method",), "sweep": ("--scales",), "interpolate": ("--components",)}.items():
        for flag in flags:
            commands[name].add_argument(flag)
    commands["interpolate"].add_argument("--length", type=int, help="images per strip")
    commands["interpolate"].add_argument("--steps", dest="length", type=int, help=argparse.SUPPRESS)  # old name
    return parser, commands


def test_the_option_check_reports_what_is_wrong():
    text = "\n".join([
        "# Title",                                                       # 1
        "```bash",                                                       # 2
        "gmgan train --preset digits --out runs/x   # fine",             # 3
        "gmgan train --preset digits --bogus-flag 3 --out runs/y",       # 4
        "gmgan evaluate runs/x \\",                                      # 5
        "    --scale 0.5 --not-an-option",                               # 6
        "torchrun --nproc_per_node=2 -m gmgan sample RUN --nope=1",      # 7
        "# e.g.: gmgan cluster RUN --method mixture --wrong",            # 8
        "gmgan frobnicate --n 3",                                        # 9
        "gmgan COMMAND --help; gmgan --version",                         # 10
        ".venv/bin/gmgan interpolate RUN --components 2,7 --steps 8",    # 11
        "```",                                                           # 12
        "Run `gmgan sample RUN_DIR --n 4 --scale 0.5` or `gmgan",        # 13
        "sweep RUN --scalez 0.5:2:0.1`; a `gmgan run` is a folder.",     # 14
        "`--anything` alone is not a command line.",                    # 15
    ])
    parsers = _made_up_parsers()
    problems = check_markdown(text, "made-up.md", parsers=parsers)
    found = {(p.line, p.option) for p in problems}
    assert found == {(4, "--bogus-flag"), (5, "--not-an-option"), (7, "--nope"), (8, "--wrong"),
                     (9, "frobnicate"), (11, "--steps"), (13, "--scalez")}
    messages = {p.option: str(p) for p in problems}
    assert messages["--bogus-flag"].startswith("made-up.md:4: gmgan train has no option --bogus-flag (in `gmgan train")
    assert "--steps is an old name, hidden from --help; write --length" in messages["--steps"]
    # the results pages may keep an old name (hidden, still accepted); never an option that does not exist
    lenient = check_markdown(text, "made-up.md", allow_hidden=True, parsers=parsers)
    assert {(p.line, p.option) for p in lenient} == found - {(11, "--steps")}


def test_cli_reference_lists_every_option():
    _, commands = build_parser()
    options = command_options()
    for name, parser in commands.items():
        section = command_markdown(name, parser)
        assert section.startswith(f"## gmgan {name} {{ #{name} }}")
        missing = [o for o in options[name] if f"`{o}" not in section and f", {o}" not in section]
        assert not missing, f"the CLI reference of gmgan {name} leaves out {missing}"
        if parser.epilog:
            assert parser.epilog.strip().splitlines()[0] in section
    page = cli_markdown()
    assert all(f"](#{name})" in page for name in commands)


def test_docs_build_strict(tmp_path):
    missing = [m for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python") if _no_module(m)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (pip install -e '.[dev]', as make test does)")
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        line for line in log.splitlines() if not line.startswith("INFO"))
    cli = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    assert 'id="train"' in cli and "--data-dir" in cli, "the generated CLI reference is missing"
    api = (site / "reference" / "priors.html").read_text(encoding="utf-8")
    assert "GaussianMixture" in api, "the API reference has no content"


def _no_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True
