"""The README keeps up with the code: every setting and every command is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hub.cli import app
from hub.config import SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")


def test_every_setting_is_documented_with_its_option() -> None:
    for name, (variable, _default, _meaning) in SETTINGS.items():
        assert f"`{variable}`" in README, variable
        assert f"`--{name.replace('_', '-')}`" in README, name


def _commands(command: Any, prefix: str) -> list[str]:
    if hasattr(command, "commands"):  # a group
        found = []
        for name, sub in command.commands.items():
            found += _commands(sub, f"{prefix} {name}")
        return found
    return [prefix]


def test_every_command_is_documented() -> None:
    commands = _commands(typer.main.get_command(app), "caigou")
    assert "caigou ingest" in commands
    for command in commands:
        assert f"`{command}" in README, command


def test_every_graphql_field_is_described() -> None:
    from graphql import GraphQLInputObjectType, GraphQLObjectType

    from hub.graphql.schema import schema

    missing = [
        f"{name}.{field}"
        for name, kind in schema._schema.type_map.items()
        if not name.startswith("__")
        and isinstance(kind, GraphQLObjectType | GraphQLInputObjectType)
        for field, definition in kind.fields.items()
        if not definition.description
    ]
    assert missing == []
