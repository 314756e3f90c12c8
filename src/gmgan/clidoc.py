"""The command-line reference as Markdown, rendered from the parser itself (``gmgan.cli.build_parser``).

The documentation site builds its CLI page with :func:`cli_markdown` at build time, so the page cannot drift
from the code: one section per command with its usage, description, every argument with its help, and the
examples. :func:`command_options` gives the option strings each command accepts (the docs' tests check every
``gmgan COMMAND --option`` written in README.md and docs/ against it).

Examples:
    >>> "## gmgan train" in cli_markdown()
    True
    >>> "--data-dir" in command_options()["train"]
    True
"""

from __future__ import annotations

import argparse
import html
import re

__all__ = ["cli_markdown", "command_markdown", "command_options"]

Parsers = tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]
USAGE_WIDTH = 100  # fixed, so that the page does not depend on the terminal of whoever builds it
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def _escape(text: str) -> str:
    """Help text as literal Markdown: no emphasis, links, HTML or table cells made by accident."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _visible(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments --help shows (the commands themselves are listed in a table of their own)."""
    return [a for a in parser._actions
            if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)]


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(prog=parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _invocation(action: argparse.Action) -> str:
    """``--out RUN_DIR``, ``--preset {digits,mnist}``, ``RUN_DIR`` ..., as argparse writes them in --help."""
    return argparse.HelpFormatter(prog="gmgan", width=10_000)._format_action_invocation(action)


def _help(action: argparse.Action) -> str:
    """The help as --help prints it (``%(default)s`` and the like expanded), on one line."""
    text = argparse.HelpFormatter(prog="gmgan")._expand_help(action) if action.help else ""
    return " ".join(text.split())


def _default(action: argparse.Action) -> str | None:
    if action.default is None or action.default is argparse.SUPPRESS or isinstance(action.default, bool):
        return None
    if action.nargs == 0:  # flags (store_true, version, help) have no value to default
        return None
    return str(action.default)


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | help | default |", "| --- | --- | --- |"]
    for action in _visible(parser):
        name = _invocation(action)
        helptext = _escape(_help(action))
        if action.required and action.option_strings:
            helptext = f"**required.** {helptext}"
        default = _default(action)
        rows.append(f"| `{name}` | {helptext} | {'`' + default + '`' if default is not None else ''} |")
    return rows


def command_markdown(name: str, parser: argparse.ArgumentParser, level: int = 2) -> str:
    """One command's section: heading (with the anchor ``#NAME``), description, usage, arguments, examples."""
    lines = [f"{'#' * level} gmgan {name} {{ #{name} }}", ""]
    if parser.description:
        lines += [_escape(" ".join(parser.description.split())), ""]
    lines += ["```text", _usage(parser), "```", ""]
    lines += [*_argument_rows(parser), ""]
    if parser.epilog:
        lines += ["```text", parser.epilog.strip("\n"), "```", ""]
    return "\n".join(lines)


def cli_markdown() -> str:
    """The whole CLI reference page: the top-level command, a table of commands, then one section each."""
    from gmgan.cli import build_parser

    parser, commands = build_parser()
    helps = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
    lines = [
        "# Command line",
        "",
        "This page is generated from the `gmgan` command's own parser when the documentation is built, so it "
        "lists exactly the options of the installed version. Every command also prints its part with "
        "`gmgan COMMAND --help`.",
        "",
        _escape(" ".join((parser.description or "").split())),
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        *_argument_rows(parser),
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    lines += [f"| [`{name}`](#{name}) | {_escape(helps.get(name) or '')} |" for name in commands]
    lines.append("")
    for name, sub in commands.items():
        lines.append(command_markdown(name, sub))
    return "\n".join(lines).rstrip("\n") + "\n"


def command_options(include_hidden: bool = False, parsers: Parsers | None = None) -> dict[str, set[str]]:
    """The option strings (``--out``, ``-h``, ...) each command accepts; key ``""`` is the top-level parser.
    Options hidden from --help (old names kept for compatibility) count only with ``include_hidden``.
    ``parsers``: ``(parser, {command: subparser})`` as ``gmgan.cli.build_parser()`` returns (the default)."""
    if parsers is None:
        from gmgan.cli import build_parser

        parsers = build_parser()
    parser, commands = parsers

    def options(p: argparse.ArgumentParser) -> set[str]:
        actions = p._actions if include_hidden else _visible(p)
        return {s for a in actions for s in a.option_strings}

    return {"": options(parser), **{name: options(p) for name, p in commands.items()}}
