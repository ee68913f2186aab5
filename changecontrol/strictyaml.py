"""YAML as every file of the project is read: plain data, one meaning, no tricks.

PyYAML's safe loader still accepts what an attacker or a careless edit can use to make a file mean
something other than it seems: anchors and aliases (one edit changes several places, and an alias
bomb), explicit tags (``!!binary``, ``!!python/...``), duplicate keys (the last one silently wins),
YAML 1.1 scalars (``yes`` as true, ``2027-02-30`` as a date that crashes the reader) and merge
keys. This reader refuses all of them and resolves scalars as YAML 1.2's core schema does (the way
the Pulumi CLI reads stack files): ``true``/``false`` are booleans, decimal numbers are numbers,
``null`` is null and everything else, dates included, is a string.

Every error names the file, the line and what to do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, ScalarNode

MAX_BYTES = 1024 * 1024  # no file the project reads is anywhere near this size


class StrictYamlError(ValueError):
    """A file that is not plain, unambiguous YAML (or JSON) data."""

    def __init__(self, where: str, message: str, line: int | None = None):
        self.where = where
        self.line = line
        self.problem = message
        super().__init__(f"{where}{f' line {line}' if line else ''}: {message}")


class _Resolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core schema: no dates, no yes/no/on/off, no octal-looking ints, no merge keys."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


class _Constructor(yaml.constructor.SafeConstructor):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, got {node.id}", node.start_mark)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(None, None, "a key must be a plain value, not a list or mapping",
                                       key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if key in mapping:
                raise ConstructorError(None, None, f"duplicate key {key!r}: each key may appear once",
                                       key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: ScalarNode) -> int:
        value = self.construct_scalar(node)
        if len(value.lstrip("+-")) > 64:
            raise ConstructorError(None, None, "a number of more than 64 digits", node.start_mark)
        return int(value)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_mapping)


class _Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
              _Constructor, _Resolver):
    def __init__(self, stream: str):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)

    def compose_node(self, parent, index):  # every node passes here: refuse aliases, anchors and tags
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise ConstructorError(None, None, f"alias *{event.anchor}: anchors and aliases are not accepted, "
                                               "write the value out", event.start_mark)
        if getattr(event, "anchor", None):
            raise ConstructorError(None, None, f"anchor &{event.anchor}: anchors and aliases are not accepted, "
                                               "write the value out", event.start_mark)
        tag = getattr(event, "tag", None)
        explicit = (isinstance(event, ScalarEvent) and tag is not None and not any(event.implicit)) or (
            isinstance(event, CollectionStartEvent) and tag is not None and not event.implicit)
        if explicit:
            raise ConstructorError(None, None, f"tag {tag}: tags are not accepted, write plain data",
                                   event.start_mark)
        return super().compose_node(parent, index)


def _text(data: str | bytes, where: str) -> str:
    if isinstance(data, str):
        text = data
    else:
        if len(data) > MAX_BYTES:
            raise StrictYamlError(where, f"{len(data)} bytes: larger than the {MAX_BYTES} bytes any file here may be")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StrictYamlError(where, f"not UTF-8 text (byte {e.start}): save the file as UTF-8") from None
    if len(text) > MAX_BYTES:
        raise StrictYamlError(where, f"larger than the {MAX_BYTES} bytes any file here may be")
    return text.removeprefix("\ufeff")


def loads(data: str | bytes, where: str) -> Any:
    """The plain data of one YAML document (None for an empty one); StrictYamlError otherwise."""
    text = _text(data, where)
    try:
        loader = _Loader(text)  # the reader refuses control characters already here
    except yaml.reader.ReaderError as e:
        raise StrictYamlError(where, f"character #x{e.character:04x} at position {e.position} is not allowed in "
                                     "YAML: remove it (control characters other than tab and newline)") from None
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = " ".join(p for p in (e.context, e.problem) if p) or "not valid YAML"
        raise StrictYamlError(where, what, mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as e:
        raise StrictYamlError(where, f"not valid YAML ({e})") from None
    finally:
        loader.dispose()


def load(path: Path, where: str | None = None) -> Any:
    """Read and parse a YAML file; `where` names it in errors (default: the path)."""
    where = where or str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise StrictYamlError(where, "no such file") from None
    except OSError as e:
        raise StrictYamlError(where, f"cannot be read ({e.strerror or e})") from None
    return loads(data, where)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}: each key may appear once")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON: write a number")


def loads_json(data: str | bytes, where: str) -> Any:
    """JSON with the same refusals: duplicate keys, NaN/Infinity, non-UTF-8, oversized input."""
    text = _text(data, where)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise StrictYamlError(where, f"not valid JSON ({e.msg})", e.lineno) from None
    except (ValueError, RecursionError) as e:
        raise StrictYamlError(where, f"not valid JSON ({e})") from None


class _Dumper(yaml.SafeDumper):
    """Writes what :func:`loads` reads back unchanged: a string that YAML 1.2 would read as another
    type is quoted, multi-line text is a literal block, and keys keep their order."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    tag = _Resolver().resolve(ScalarNode, value, (True, False))
    style = "'" if tag != "tag:yaml.org,2002:str" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dumps(data: Any) -> str:
    """YAML text of plain data that :func:`loads` reads back equal (checked before it is returned)."""
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    if loads(text, "<written>") != data:
        raise ValueError("data that does not survive a YAML round trip (only plain str, int, float, bool, None, "
                         "list and dict are written)")
    return text
