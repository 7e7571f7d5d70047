"""A plugin's options form, built from its marshmallow params schema.

Each field shows its type, its default and its description (the field's
``metadata["description"]``); values travel as text, as ``plugins set`` takes them, and
only the fields whose text changed are sent to manage.set_plugin_params, so an option the
admin did not touch keeps following its default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow.validate import OneOf

from emulator.web.registry import PluginStatus


@dataclass(frozen=True)
class ParamField:
    """One option as the form shows it."""

    name: str
    kind: str  # boolean, integer, number, text, choice, json
    default: str
    value: str  # what the form holds: the effective value, or what the admin just sent
    description: str
    choices: tuple[str, ...] = ()
    set_by_admin: bool = False
    errors: tuple[str, ...] = ()


def as_text(value: Any) -> str:
    """A param's value as the form (and the CLI) writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, indent=2)


def kind_of(field: fields.Field) -> str:
    """How the form asks for a field's value."""
    if isinstance(field, fields.Boolean):
        return "boolean"
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, fields.Number):
        return "number"
    if isinstance(field, fields.String):
        return "choice" if _choices(field) else "text"
    return "json"


def _choices(field: fields.Field) -> tuple[str, ...]:
    for validator in field.validators:
        if isinstance(validator, OneOf):
            return tuple(str(choice) for choice in validator.choices)
    return ()


def default_of(field: fields.Field) -> Any:
    """The field's default (``load_default``, called when it is a factory)."""
    default = field.load_default
    return default() if callable(default) else default


def form_fields(
    schema: type[Schema],
    status: PluginStatus,
    submitted: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> list[ParamField]:
    """The options form: every field of the schema, in its declared order."""
    shown = []
    for name, field in schema().fields.items():
        value = as_text(status.params[name])
        if submitted is not None and name in submitted:
            value = submitted[name]
        shown.append(
            ParamField(
                name=name,
                kind=kind_of(field),
                default=as_text(default_of(field)),
                value=value,
                description=str(field.metadata.get("description", "")),
                choices=_choices(field),
                set_by_admin=name in status.stored,
                errors=tuple(flatten((errors or {}).get(name))),
            )
        )
    return shown


def changed_values(status: PluginStatus, submitted: Mapping[str, str]) -> dict[str, str]:
    """The submitted values whose text differs from the effective value's (the updates)."""
    return {
        name: submitted[name]
        for name in status.plugin.params().fields
        if name in submitted and submitted[name] != as_text(status.params[name])
    }


def flatten(messages: Any) -> list[str]:
    """marshmallow's messages for one field (a list, or nested for a dict field) as lines."""
    if messages is None:
        return []
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [f"{key}: {line}" for key, value in messages.items() for line in flatten(value)]
    return [line for item in messages for line in flatten(item)]
