"""What users read names no internal ticket: the command's help, the rule sources printed with
every haircut, and the documents written for users and a credit committee ("(issue 19)" and
"(issue 22)" were in all three; the fresh-clone user check). The meaning stays: the sources
still say "assumed: carbonfin policy"."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from carbonfin.cli import app

ROOT = Path(__file__).resolve().parents[2]
TICKET = re.compile(r"\bissues? \d+", re.IGNORECASE)
USER_DOCS = ["README.md", "docs/collateral.md", "docs/carbon-cost.md",
             "docs/scoring-methodology.md"]  # fmt: skip


def _commands(cmd: Any, path: str = "carbonfin") -> Iterator[tuple[str, Any]]:
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_the_help_of_every_command_names_no_ticket() -> None:
    for path, cmd in _commands(get_command(app)):
        texts = [cmd.help or "", *(getattr(p, "help", None) or "" for p in cmd.params)]
        for text in texts:
            assert not TICKET.search(text), (path, text)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "carbonfin/rules").glob("*.toml")))
def test_the_rule_sources_printed_with_results_name_no_ticket(name: str) -> None:
    rules = tomllib.loads((ROOT / "carbonfin/rules" / name).read_text(encoding="utf-8"))
    for text in _strings(rules):
        assert not TICKET.search(text), (name, text)


@pytest.mark.parametrize("doc", USER_DOCS)
def test_documents_for_users_name_no_ticket(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert not TICKET.findall(text), doc
