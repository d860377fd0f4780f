"""The configuration as text, generated from the model (:mod:`pfterm.core.runtime.config`):

* :func:`settings_document`: every key with its value and meaning as a commented TOML
  document (``pfterm config --defaults`` prints it for the defaults, ``pfterm config`` for the
  settings in force); it parses back into the same settings;
* :func:`key_summary`: every section and key with its default, a few lines per section, for
  ``pfterm --help``.

Meanings are the fields' ``description``; a key whose default is unset (``None``), or a table
that is empty by default, is shown commented out with the field's first example. Values are
written as TOML by :func:`toml_value` (the types the model holds: booleans, numbers, strings,
paths, lists and tables of those).
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pfterm.core.runtime.config import Settings

__all__ = ["key_summary", "settings_document", "toml_key", "toml_value"]

WIDTH = 100
"""Lines are wrapped at this many characters."""

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def toml_key(key: str) -> str:
    """``key`` as a TOML key: bare when it may be (``A-Za-z0-9_-``), else a quoted string."""
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value: booleans, integers, floats (``inf``/``nan`` included), strings
    and paths (basic strings), lists and mappings (inline tables) of those.

    Raises:
        TypeError: ``None`` (TOML has no null: unset keys are left out) or another type.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (str, Path)):
        # a JSON string is a TOML basic string: the same escapes, \uXXXX included
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML value for {type(value).__name__} {value!r}")


def plain_text(text: str) -> str:
    """A docstring or description as one plain line: reST roles reduced to their target's last
    name (``:class:`~a.b.C``` → ``C``), double backquotes dropped, whitespace collapsed."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~") else m.group(1), text)
    return " ".join(text.replace("``", "").split())


def _meaning(info: FieldInfo) -> str:
    return plain_text(info.description or "")


def _example(info: FieldInfo) -> Any:
    return info.examples[0] if info.examples else None


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)


def _pack(items: list[str], head: str, indent: str) -> list[str]:
    """``items`` joined by ``"; "`` into lines of at most :data:`WIDTH` characters (an item is
    never split; one longer than a line gets a line of its own), the first after ``head``."""
    lines: list[str] = []
    line = head
    for item in items:
        if line.strip() and len(line) + len(item) + 2 > WIDTH and len(line) > len(indent):
            lines.append(line.rstrip() + ";")
            line = indent
        line += item if line == head or line == indent else f"; {item}"
    lines.append(line.rstrip())
    return lines


def _table_lines(path: str, table: Mapping[str, Any], *, commented: bool) -> list[str]:
    """``table`` as ``[path]`` with its entries, sub-tables of mappings after them."""
    mark = "# " if commented else ""
    subtables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    entries = [f"{mark}{toml_key(str(k))} = {toml_value(v)}" for k, v in table.items() if k not in subtables]
    # a table holding only tables needs no header of its own
    lines = [f"{mark}[{path}]", *entries] if entries or not subtables else []
    for key, sub in subtables.items():
        lines += _table_lines(f"{path}.{toml_key(str(key))}", sub, commented=commented)
    return lines


def _sections(settings: Settings) -> Iterator[tuple[str, BaseModel | None, Any, FieldInfo]]:
    """``(name, section model or None, value, field)`` for each top-level field of ``settings``:
    a section (a model) or a top-level table (``urls``, ``keys``)."""
    for name, info in type(settings).model_fields.items():
        value = getattr(settings, name)
        yield name, value if isinstance(value, BaseModel) else None, value, info


def settings_document(settings: Settings | None = None) -> str:
    """``settings`` (the defaults when ``None``) as a commented TOML document: per section, each
    key's meaning as a comment above ``key = value``; unset keys and empty tables commented out
    with an example. Parsing it gives ``settings`` back (the tests check it for the defaults).

    Raises:
        TypeError: a value of a type :func:`toml_value` does not write.
    """
    s = settings if settings is not None else Settings()
    out = [
        "# pfterm configuration: every key, its value and its meaning (pfterm config --defaults).",
        "# Put the keys you change in ~/.config/pfterm/config.toml (the platform config dir) or pass",
        "# --config PATH; command-line flags override the file. A commented-out key is unset.",
    ]
    for name, section, value, info in _sections(s):
        out.append("")
        if section is None:  # a top-level table: [urls], [keys]
            out += _comment(_meaning(info))
            out += _table_value_lines(name, value, info, header_commented=False)
            continue
        out.append(f"[{name}]")
        tables = []
        for key, field in type(section).model_fields.items():
            v = getattr(section, key)
            if isinstance(v, Mapping):
                tables.append((key, v, field))
                continue
            out += _comment(_meaning(field))
            if v is None:
                example = _example(field)
                out.append(f"# {key} = {toml_value(example)}" if example is not None else f"# {key} =")
            else:
                out.append(f"{key} = {toml_value(v)}")
        for key, v, field in tables:
            out.append("")
            out += _comment(_meaning(field))
            out += _table_value_lines(f"{name}.{key}", v, field, header_commented=True)
    return "\n".join(out) + "\n"


def _table_value_lines(path: str, value: Mapping[str, Any], info: FieldInfo, *, header_commented: bool) -> list[str]:
    """A table field: its entries when it has some, else its header (commented when it is a
    sub-table, whose empty header would add nothing) and the example commented out."""
    if value:
        return _table_lines(path, value, commented=False)
    example = _example(info)
    if example:
        lines = _table_lines(path, example, commented=True)
        return lines if header_commented else [lines[0][2:], *lines[1:]]
    return [f"# [{path}]" if header_commented else f"[{path}]"]


def _summary_items(section: BaseModel) -> tuple[list[str], list[tuple[str, str]]]:
    """``key = default`` items of ``section`` and its tables as ``(key, entries or example)``."""
    items: list[str] = []
    tables: list[tuple[str, str]] = []
    for key, field in type(section).model_fields.items():
        v = getattr(section, key)
        if isinstance(v, Mapping):
            tables.append((key, _table_summary(v, field)))
        elif v is None:
            example = _example(field)
            items.append(f"{key} = unset" + (f" (e.g. {toml_value(example)})" if example is not None else ""))
        else:
            items.append(f"{key} = {toml_value(v)}")
    return items, tables


def _table_summary(value: Mapping[str, Any], info: FieldInfo) -> str:
    shown = value or _example(info) or {}
    flat: list[str] = []
    for k, v in shown.items():
        if isinstance(v, Mapping):
            flat += [f"{toml_key(str(k))}.{toml_key(str(k2))} = {toml_value(v2)}" for k2, v2 in v.items()]
        else:
            flat.append(f"{toml_key(str(k))} = {toml_value(v)}")
    text = "; ".join(flat)
    if not value:
        return f"empty by default, e.g. {text}" if text else "empty by default"
    return text


def key_summary(indent: int = 2, label_width: int = 11) -> str:
    """Every section and key of the config with its default, wrapped at :data:`WIDTH`::

          [venue]     name = "sim"; network = "mainnet"
          [trading.external_spot]  empty by default, e.g. BTC = 0.5

    Meanings are left to :func:`settings_document` (``pfterm config --defaults``).
    """
    pad = " " * indent
    lines: list[str] = []

    def add(label: str, items: list[str]) -> None:
        lines.extend(_pack(items, f"{pad}{label:<{label_width}} ", pad + " " * (label_width + 1)))

    for name, section, value, info in _sections(Settings()):
        if section is None:
            add(f"[{name}]", [_table_summary(value, info)])
            continue
        items, tables = _summary_items(section)
        if items:
            add(f"[{name}]", items)
        for key, text in tables:
            add(f"[{name}.{key}]", [text])
    return "\n".join(lines)
