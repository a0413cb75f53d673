"""The shape of config.toml, checked by a JSON Schema kept as data (mailbot/config_schema.json).

`problems(data, text)` validates the parsed TOML with jsonschema (Draft 2020-12) and returns every
mistake as one plain sentence that names the key, says what it must be and what was found, and
starts with the line of config.toml when the text is given:

    line 31: [security] rate_limit_emails must be a whole number from 1 to 10000 (found 0).
    line 40: [security] rate_limit_email is not a setting mailbot knows; did you mean rate_limit_emails?
    line 55: [[members]] entry 2 (Hebble Youth Service) may_submit must be true or false, without quotes (found "false").

The sentences come from the schema itself, so a new key needs no Python: its line in its
section's ``properties`` is all (see mailbot/config.py for the how-to). Per subschema:

- ``description``: what follows "must be" (left out: said from ``type``, ``minimum``/
  ``exclusiveMinimum``, ``maximum``: "a whole number from 1 to 32", "true or false");
- ``errorMessage``: the whole sentence instead, with ``{key}`` (where), ``{found}`` (the value) and
  ``{section}`` (its [section]).

Everything the shape cannot say (a time zone that exists, an address listed twice, a password file
that can be read) is checked afterwards in mailbot.config, with the same kind of sentence.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent / "config_schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    s = schema()
    Draft202012Validator.check_schema(s)  # a damaged schema file fails loudly, in the tests
    return Draft202012Validator(s)


# -- where: key paths and their lines in the TOML text -----------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def key_text(key) -> str:
    """A key as written in TOML: bare, or quoted (a key may hold spaces, quotes, line breaks)."""
    key = str(key)
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _section_name(path: tuple) -> str:
    if not path:
        return "the configuration"
    if path[0] == "members":
        return "[[members]]"
    return f"[{key_text(path[0])}]"


def where(path: tuple, data: dict) -> str:
    """("members", 1, "contacts", 0) -> '[[members]] entry 2 (Hebble Youth Service) contacts'."""
    if not path:
        return "the configuration"
    head = _section_name(path)
    rest = list(path[1:])
    if path[0] == "members" and rest and isinstance(rest[0], int):
        i = rest.pop(0)
        members = data.get("members") if isinstance(data, dict) else None
        agency = None
        if isinstance(members, list) and i < len(members) and isinstance(members[i], dict):
            agency = members[i].get("agency")
        head += f" entry {i + 1}" + (f" ({agency.strip()})" if isinstance(agency, str) and agency.strip() else "")
    keys = [key_text(k) for k in rest if not isinstance(k, int)]  # an item of a list: named by its list
    return " ".join([head] + keys)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]\s][^\]]*?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_key(text: str) -> tuple:
    return tuple(part.strip().strip("\"'") for part in re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text))


def key_lines(text: str) -> dict[tuple, int]:
    """Line numbers (1-based) of every table header and `key =` in a TOML text, by key path."""
    lines: dict[tuple, int] = {}
    table: tuple = ()
    arrays: dict[tuple, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m and "=" not in line.split("]")[0]:
            name = _split_key(m.group(2))
            if m.group(1) == "[[":
                arrays[name] = arrays.get(name, -1) + 1
                table = name + (arrays[name],)
            else:
                table = name
            lines.setdefault(table, n)
            continue
        m = _KEY.match(line)
        if m:
            lines.setdefault(table + _split_key(m.group(1)), n)
    return lines


def _line(path: tuple, lines: dict[tuple, int] | None) -> int | None:
    if not lines:
        return None
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None


# -- what: one sentence per error ----------------------------------------------------------------

def found(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 60 else text[:57] + '..."'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return f"the date/time {value.isoformat()}"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _num(x) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def expected(s: dict) -> str:
    """What a value of this subschema must be, in words."""
    if "description" in s:
        return s["description"]
    t = s.get("type")
    if t == "boolean":
        return "true or false"
    if t in ("integer", "number"):
        noun = "a whole number" if t == "integer" else "a number"
        lo, xlo, hi = s.get("minimum"), s.get("exclusiveMinimum"), s.get("maximum")
        if lo is not None and hi is not None:
            return f"{noun} from {_num(lo)} to {_num(hi)}"
        if xlo is not None and hi is not None:
            return f"{noun} above {_num(xlo)} and at most {_num(hi)}"
        if lo is not None:
            return f"{noun} of at least {_num(lo)}"
        if xlo is not None:
            return f"{noun} above {_num(xlo)}"
        if hi is not None:
            return f"{noun} of at most {_num(hi)}"
        return noun
    if t == "string":
        return "text in quotes"
    if t == "array":
        return "a list, e.g. [\"...\"]"
    if t == "object":
        return "a table"
    if "enum" in s:
        return "one of " + ", ".join(found(v) for v in s["enum"])
    return "something else"


def _resolve(ref: str) -> dict:
    node = schema()
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _own_schemas(error) -> list[dict]:
    """The subschemas that describe the error's value itself: its property schema and what it
    refers to ($ref, outermost first), not those of the tables and lists around it."""
    def expand(node: dict, own: list[dict], step=None) -> dict:
        while isinstance(node, dict) and "$ref" in node and (step is None or step not in node):
            node = _resolve(node["$ref"])
            own.append(node)
        return node

    node = schema()
    own = [node]
    steps = list(error.absolute_schema_path)[:-1]  # the last step is the failing keyword
    i = 0
    while i < len(steps):
        step = steps[i]
        node = expand(node, own, step)
        if step in ("properties", "patternProperties", "$defs") and i + 1 < len(steps):
            node = node[step][steps[i + 1]]
            own = [node]
            i += 2
            continue
        node = node[step]
        own = [node] if step == "items" else own + [node]
        i += 1
    expand(node, own)
    return own


def _known(section_schema: dict) -> list[str]:
    return list(section_schema.get("properties", {}))


def _home_of(key: str) -> list[str]:
    """The sections that have this key."""
    props = schema()["properties"]
    homes = []
    for name, sec in props.items():
        sec = sec.get("items", sec)
        if key in sec.get("properties", {}):
            homes.append("[[members]]" if name == "members" else f"[{name}]")
    return homes


def _all_keys() -> list[str]:
    keys: list[str] = []
    for sec in schema()["properties"].values():
        for k in sec.get("items", sec).get("properties", {}):
            if k not in keys:
                keys.append(k)
    return keys


def _unknown(key: str, path: tuple, section_schema: dict, data: dict) -> str:
    known = _known(section_schema)
    if not _BARE.match(str(key)):
        shown = key_text(key)
        return (f"{shown} is not a section mailbot knows." if not path else
                f"{where(path, data)} {shown} is not a setting mailbot knows.")
    if not path:
        what = f"[{key}] is not a section mailbot knows"
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return f"{what}; did you mean [{close[0]}]?" if close[0] != "members" else f"{what}; did you mean [[members]]?"
        homes = _home_of(key)
        if homes:
            return f"{key} is not a section: it is a setting of {homes[0]} (write it below that line)."
        return f"{what} (the sections are {', '.join('[[members]]' if k == 'members' else f'[{k}]' for k in known)})."
    what = f"{where(path, data)} {key} is not a setting mailbot knows"
    here = _section_name(path)
    homes = [h for h in _home_of(key) if h != here]
    if homes:  # the right key in the wrong section
        return f"{what} in {here}; it belongs in {homes[0]} (a key belongs to the last [section] above it)."
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"{what}; did you mean {close[0]}?"
    for other in _all_keys():
        if other not in known and difflib.get_close_matches(key, [other], n=1, cutoff=0.8):
            home = [h for h in _home_of(other) if h != here][0]
            return f"{what}; did you mean {other}, in {home} (a key belongs to the last [section] above it)?"
    return f"{what} (the settings of {_section_name(path)} are: {', '.join(known)})."


def _sentences(error, data: dict) -> list[tuple[tuple, str]]:
    path = tuple(error.absolute_path)
    kw = error.validator
    if kw == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [(path + (k,), _unknown(k, path, error.schema, data)) for k in extra]
    if kw == "required":
        out = []
        for k in error.validator_value:
            if isinstance(error.instance, dict) and k not in error.instance:
                if not path:
                    name = "[[members]]" if k == "members" else f"[{k}]"
                    text = ("The member directory ([[members]]) is empty." if k == "members"
                            else f"The {name} section is missing.")
                else:
                    text = f"{where(path, data)} {k} is missing."
                out.append((path, text))
        return out
    own = _own_schemas(error)
    template = next((s["errorMessage"] for s in own if isinstance(s, dict) and "errorMessage" in s), None)
    key = where(path, data)
    if template:
        return [(path, template.format(key=key, found=found(error.instance), section=_section_name(path)))]
    described = next((s for s in own if isinstance(s, dict) and "description" in s), None)
    base = described or (own[-1] if own else {})
    return [(path, f"{key} must be {expected(base)} (found {found(error.instance)}).")]


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def one_line(text: str) -> str:
    """Control characters (line breaks...) shown as '?': an error is one line."""
    return _CONTROL.sub("?", text)


def problems(data, text: str | None = None) -> list[str]:
    """Every mistake in the shape of `data` (parsed TOML), as plain sentences, in the file's order."""
    lines = key_lines(text) if text else None
    if not isinstance(data, dict):
        return ["The configuration must be a TOML file of [sections]."]
    found_: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for order, error in enumerate(_validator().iter_errors(data)):
        for path, sentence in _sentences(error, data):
            if sentence in seen:
                continue
            seen.add(sentence)
            sentence = one_line(sentence)  # whatever the file holds
            n = _line(path, lines)
            found_.append((n if n is not None else 10**9, order, f"line {n}: {sentence}" if n else sentence))
    return [s for _, _, s in sorted(found_)]
