"""YAML for manifests: ``yaml.safe_load`` with limits, so no file can hang or exhaust us.

``yaml.safe_load`` alone accepts a billion-laughs file (a few lines of nested
aliases that expand to billions of values), nesting deep enough to overflow
the stack, self-referring anchors and duplicate keys (the last one silently
wins). ``load_yaml(text)`` composes the node graph first (with libyaml's parser
when installed, else PyYAML's) and refuses, naming the line:

- nesting deeper than MAX_YAML_DEPTH levels;
- more than MAX_YAML_NODES nodes, counting each use of an alias as a copy of
  what it refers to (so alias bombs are refused before anything is built);
- an anchor used inside itself;
- a key given twice in one mapping (``<<`` merges may still be overridden);
- a key that is not text (``1:``, ``yes:``, ``null:``);
- a value its tag cannot read (``!!int x``, an integer of 5,000 digits), where
  PyYAML itself would raise ValueError or IndexError.

Dates stay text (``launch: 2026-03-01`` is the string "2026-03-01"). Raises
yaml.YAMLError (with ``problem_mark``) for all of these, as for bad syntax.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

_CParser: Any = None
try:
    from yaml._yaml import CParser  # libyaml: parses about 4x faster

    _CParser = CParser
    _BASES: tuple[type, ...] = (Composer, CParser, SafeConstructor, Resolver)
except ImportError:  # PyYAML built without libyaml
    _BASES = (yaml.SafeLoader,)

__all__ = ["MAX_YAML_DEPTH", "MAX_YAML_NODES", "load_yaml"]

MAX_YAML_DEPTH = 32          # a manifest needs 5 (jobs -> job -> provider list)
MAX_YAML_NODES = 500_000     # about 50,000 jobs of 4 fields; aliases counted as copies
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _LimitError(yaml.YAMLError):
    def __init__(self, problem: str, node_or_mark: Any):
        self.problem = problem
        self.problem_mark = getattr(node_or_mark, "start_mark", node_or_mark)

    def __str__(self) -> str:
        return f"{self.problem}{self.problem_mark or ''}"


class _Loader(*_BASES):  # type: ignore[misc]
    """A SafeLoader whose composer counts nesting and nodes."""

    def __init__(self, stream: str):
        if _CParser is None:
            yaml.SafeLoader.__init__(self, stream)
        else:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0
        self.aliases = False  # an alias seen: the expanded size must be counted

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise _LimitError(f"more than {MAX_YAML_NODES:,} values: split the manifest", self.peek_event())
        if self._depth >= MAX_YAML_DEPTH:
            raise _LimitError(f"nested more than {MAX_YAML_DEPTH} levels deep", self.peek_event())
        if self.check_event(AliasEvent):
            self.aliases = True
        self._depth += 1
        try:
            node: Node = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, IndexError, TypeError, OverflowError) as exc:  # "!!int x", 5,000 digits
            tag = node.tag.rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"not a valid {tag}: {str(exc)[:80]}", node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):  # "!!set x": let PyYAML say it wants a mapping
            return super().construct_mapping(node, deep=deep)
        seen: dict[str, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                kind = key_node.tag.rsplit(":", 1)[-1]
                hint = f" (quote it: '{key_node.value[:40]}')" if isinstance(key_node, ScalarNode) else ""
                raise ConstructorError(None, None, f"a key must be text, not {kind}{hint}", key_node.start_mark)
            if key_node.value in seen:
                first = seen[key_node.value].start_mark.line + 1
                raise ConstructorError(None, None, f"duplicate key '{key_node.value[:60]}' (first on line {first})",
                                       key_node.start_mark)
            seen[key_node.value] = key_node
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


_Loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def _expanded_size(root: Node) -> None:
    """Count nodes with aliases expanded (memoised: linear in the graph);
    raise _LimitError above MAX_YAML_NODES or on a cycle."""
    size: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    open_: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_YAML_NODES:
                raise _LimitError(f"more than {MAX_YAML_NODES:,} values once aliases are expanded "
                                  "(an alias bomb?)", node)
            continue
        if key in size:
            continue
        if key in open_:
            raise _LimitError("an anchor is used inside itself", node)
        open_.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_:
                raise _LimitError("an anchor is used inside itself", child)
            if id(child) not in size:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str) -> tuple[Any, Node | None]:
    """The data of a one-document YAML text and its root node (None when empty).

    Raises yaml.YAMLError (``problem_mark`` gives the line) for bad syntax and
    for every limit in the module docstring.
    """
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            # libyaml (PyYAML >= 6.0.3 bundles one that checks) stops at 1,000 levels in
            # its scanner, before our composer counts: say it in our own words.
            if "maximum nesting depth" not in str(exc.problem):
                raise
            raise _LimitError(f"nested more than {MAX_YAML_DEPTH} levels deep", exc.problem_mark) from None
        if root is None:
            return None, None
        if loader.aliases:  # without aliases the expanded size is the node count, bounded above
            _expanded_size(root)
        try:
            return loader.construct_document(root), root
        except (ValueError, IndexError, TypeError, OverflowError) as exc:  # from a deferred constructor
            raise _LimitError(f"a value cannot be read: {str(exc)[:80]}", None) from None
    finally:
        loader.dispose()
