"""YAML text and files read within limits, every failure one `ScenarioError` line.

Used for scenario files, experiment files and `--set` values alike.  Only a regular file of
at most `MAX_BYTES` is read (not a directory, device, pipe or socket: `/dev/zero` would
read forever).  Before any node or value is built, the YAML's events are walked once,
refusing nesting deeper than `MAX_DEPTH` (PyYAML's composer recurses), more than
`MAX_NODES` values once aliases are expanded (alias bombs: nine anchors of nine aliases
are 9⁹ values) and an alias inside the value it names; each refusal names the key path
and line.  Duplicate keys are refused with both lines (YAML would keep the last one
silently), and a scalar Python cannot hold (a 5,000-digit integer, 30 February) is named
by key.  No message builds the text of a whole value: `shown` cuts it first.
"""

from __future__ import annotations

import os
import reprlib
import stat
from pathlib import Path
from typing import Any

import yaml

from .schema import ScenarioError

#: Limits on any YAML input (scenario, experiment, `--set` value).  Real files are ~5 KB,
#: a few hundred values and at most 5 levels deep; at these limits reading, checking and
#: any error message still take a small fraction of a second.
MAX_BYTES = 1_000_000
MAX_NODES = 20_000
MAX_DEPTH = 32
#: libyaml's parser when present (≈10× faster than PyYAML's own, so even a file at the
#: limits is checked quickly); PyYAML's gives the nicer syntax-error text for small files
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NICE_MESSAGES_BELOW = 16_000

_REPR = reprlib.Repr(maxlevel=2, maxtuple=4, maxlist=4, maxarray=4, maxdict=3, maxset=4, maxfrozenset=4,
                     maxdeque=4, maxstring=50, maxlong=40, maxother=50)


def shown(value: Any, limit: int = 60) -> str:
    """A value as it may appear in a one-line message: repr cut to `limit` characters,
    computed without ever building the text of a huge value."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__ from Python callers
        text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cut(text: str, limit: int = 120) -> str:
    """Free text (an exception's words, a name) on one line, cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def name_of(key: str) -> str:
    """A key as quoted in messages, cut if absurdly long."""
    return repr(key if len(key) <= 80 else key[:77] + "...")


# --------------------------------------------------------------------------- reading
def _where(stack: list[list], line: int, root: str = "") -> str:
    """'key 'a.b[2]' (line 7)': the key path of the open collections, for a message."""
    path = root
    for _, _, is_map, count, key in stack:
        if not is_map:
            path += f"[{count}]"
        elif count % 2 and key is not None:      # in a value: name its key
            path += f".{key}" if path else key
    return f"key {name_of(path)} (line {line})" if path else f"line {line}"


def _scan(text: str, origin: str, loader_class: type = _FAST, root: str = "") -> None:
    """Walk the YAML's events once, before any node or value is built, and refuse nesting
    deeper than MAX_DEPTH, more than MAX_NODES values with aliases expanded, and aliases to
    an undefined anchor or to a node that contains them (a cycle); each named by key."""
    loader = loader_class(text)
    size: dict[str, int] = {}            # anchor → values it stands for, expanded
    open_anchors: set[str] = set()
    stack: list[list] = []               # open collections: [anchor, expanded size, is mapping, children, last key]
    total = via_alias = 0
    try:
        while loader.check_event():
            ev = loader.get_event()
            line = ev.start_mark.line + 1 if ev.start_mark is not None else 0
            if isinstance(ev, yaml.DocumentStartEvent):
                size.clear()
                continue
            if isinstance(ev, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise ScenarioError(f"{origin}: {_where(stack, line, root)}: nested deeper than {MAX_DEPTH} levels")
                stack.append([ev.anchor, 1, isinstance(ev, yaml.MappingStartEvent), 0, None])
                if ev.anchor is not None:
                    open_anchors.add(ev.anchor)
                total += 1
                continue
            if isinstance(ev, yaml.CollectionEndEvent):
                anchor, n, *_ = stack.pop()
                if anchor is not None:
                    open_anchors.discard(anchor)
                    size[anchor] = n
            elif isinstance(ev, yaml.ScalarEvent):
                n = 1
                total += 1
                if ev.anchor is not None:
                    size[ev.anchor] = 1
            elif isinstance(ev, yaml.AliasEvent):
                if ev.anchor in open_anchors:
                    raise ScenarioError(f"{origin}: {_where(stack, line, root)}: YAML alias *{_cut(ev.anchor, 40)} lies inside "
                                        "the value it names (a cycle)")
                if ev.anchor not in size:
                    raise ScenarioError(f"{origin}: not valid YAML at line {line}: found undefined alias {_cut(ev.anchor, 40)!r}")
                n = size[ev.anchor]
                total += n
                via_alias += n
            else:
                continue
            if total > MAX_NODES:
                what = "YAML aliases expand to" if via_alias else "there are"
                raise ScenarioError(f"{origin}: {_where(stack, line, root)}: {what} more than {MAX_NODES:,} values; "
                                    "real files have a few hundred")
            if stack:                    # the node just finished is the parent's next child
                parent = stack[-1]
                parent[1] += n
                if parent[2] and parent[3] % 2 == 0:
                    parent[4] = _cut(ev.value, 80) if isinstance(ev, yaml.ScalarEvent) else None
                parent[3] += 1
    except yaml.YAMLError as exc:
        if "maximum nesting depth" not in str(getattr(exc, "problem", "")):
            raise
        mark = getattr(exc, "problem_mark", None)     # libyaml's own limit (1,000), met while scanning ahead
        raise ScenarioError(f"{origin}: {_where(stack, mark.line + 1 if mark else 1, root)}: nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        code = f"#x{ord(char):04x}" if isinstance(char, str) else f"#x{char:02x}" if isinstance(char, int) else "a character"
        return f"not valid YAML: {code} at position {exc.position} ({exc.reason})"
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = _cut(getattr(exc, "problem", None) or "invalid YAML", 150)
    context = _cut(getattr(exc, "context", None) or "", 80).split(";")[0]
    if context and problem.startswith("but "):     # "expected a single document in the stream but found another document"
        problem = f"{context} {problem}"
    elif context and "occurrence" in problem:      # "found duplicate anchor …; first occurrence … second occurrence"
        problem = context
    return f"not valid YAML{where}: {problem}"


def _scalar(loader: Any, node: yaml.ScalarNode, path: str, origin: str) -> Any:
    """Build one scalar; a value Python cannot hold is named by key and line."""
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:
        raise
    except (ValueError, OverflowError, TypeError) as exc:
        line = node.start_mark.line + 1
        where = f"key {name_of(path)} (line {line})" if path else f"line {line}"
        raise ScenarioError(f"{origin}: {where}: not a value YAML can hold: {_cut(str(exc).split(';')[0])}") from None


def _check_nodes(loader: Any, top: yaml.Node, origin: str, root: str = "") -> None:
    """Refuse duplicate keys (naming the key and both lines) and build every scalar here,
    so that a value Python cannot hold (a 5,000-digit integer, 30 February) is named by key."""
    todo: list[tuple[yaml.Node, str]] = [(top, root)]
    seen: set[int] = set()
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            _scalar(loader, node, path, origin)
        elif isinstance(node, yaml.SequenceNode):
            todo += [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":      # `<<: *base` merges, it is no key
                    todo.append((value_node, path))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    todo += [(key_node, path), (value_node, path)]
                    continue
                seen.add(id(key_node))
                key = _scalar(loader, key_node, path, origin)
                text = key if isinstance(key, str) else shown(key)
                sub = f"{path}.{text}" if path else text
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        raise ScenarioError(f"{origin}: duplicate key {name_of(sub)} at lines {first[key]} and {line}; "
                                            "give each key once")
                    first[key] = line
                except TypeError:  # unhashable: the constructor says so below
                    pass
                todo.append((value_node, sub))


def load_yaml_text(text: str, origin: str, root: str = "") -> Any:
    """YAML text → Python data within the limits above; every failure one ScenarioError line
    starting with `origin` (key paths in messages start with `root`, e.g. a `--set` key)."""
    if len(text) > MAX_BYTES:
        raise ScenarioError(f"{origin}: larger than {MAX_BYTES // 1_000_000} MB ({len(text):,} characters)")
    try:
        try:
            _scan(text, origin, root=root)
        except yaml.YAMLError:
            if _FAST is yaml.SafeLoader or len(text) > _NICE_MESSAGES_BELOW:
                raise
            _scan(text, origin, yaml.SafeLoader, root)   # PyYAML's own words for the same error
            raise
        loader = _FAST(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_nodes(loader, node, origin, root)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except ScenarioError:
        raise
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{origin}: {_yaml_problem(exc)}") from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        raise ScenarioError(f"{origin}: not valid YAML: {_cut(str(exc).split(';')[0])}") from None


def _a(what: str) -> str:
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what}"


def read_yaml_mapping(path: Path, what: str = "scenario") -> dict:
    """One YAML file → its raw mapping, every failure a one-line ScenarioError
    (also for experiment files: `what` names the kind of file in the messages).

    Only a regular file is read (not a directory, device, pipe or socket), and at most
    MAX_BYTES of it."""
    path = Path(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ScenarioError(f"{path}: no such file") from None
    except ValueError:   # an embedded NUL byte
        raise ScenarioError(f"{shown(str(path))}: not a usable file name") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioError(f"{path}: is a directory, not {_a(what)} file")
    if not stat.S_ISREG(st.st_mode):
        raise ScenarioError(f"{path}: not a regular file (a device, pipe or socket), so not {_a(what)} file")
    limit = f"larger than {MAX_BYTES // 1_000_000} MB"
    if st.st_size > MAX_BYTES:
        raise ScenarioError(f"{path}: {limit} ({st.st_size:,} bytes); {_a(what)} file is a few KB")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):   # replaced since the stat above
                raise ScenarioError(f"{path}: not a regular file (a device, pipe or socket), so not {_a(what)} file")
            blob = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(blob) > MAX_BYTES:
        raise ScenarioError(f"{path}: {limit}; {_a(what)} file is a few KB")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (binary data is not YAML)") from None
    if "\x00" in text:
        raise ScenarioError(f"{path}: not a text file (binary data is not YAML)")
    raw = load_yaml_text(text, str(path))
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: {_a(what)} must be a YAML mapping of keys to values, not {type(raw).__name__}")
    return raw
