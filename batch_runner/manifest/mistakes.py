"""One mistake, one message: checks of a whole manifest before its rows are checked.

A header typo, a missing ``prompt`` column or a template typo in ``defaults``
is the same mistake in every row. These checks say it once, where it is made
(the sheet's header row, the YAML line of the key), and ``Reported`` then
leaves that problem out of each row's own list (the rows stay invalid).

- ``key_problems``: each sheet column or YAML key that is no job field and no
  template variable, judged by columns.guess_field: a typo of a field is an
  error; a look-alike of a field (``Hero Image``, ``Length (s)``, image URLs
  in an unnamed column) is a warning naming the column and the fix, or an
  error when it stands for a required field no one gives;
- ``required_problems``: a required field (prompt, provider) that no column,
  job key, default, ``--set`` or matrix gives: one error;
- ``template_problems``: a ``defaults`` template variable that names nothing
  the rows can give, close to one that does (a typo): one error at its line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_runner.errors import Problem
from batch_runner.manifest.columns import guess_field
from batch_runner.manifest.schema import JOB_FIELDS, REQUIRED, required_message, schema
from batch_runner.manifest.sheets import header_key
from batch_runner.manifest.templates import TEMPLATE_FIELDS, missing_message, variables

__all__ = ["ENUMS", "Key", "Reported", "at", "key_problems", "required_problems", "template_problems", "used_variables"]

MAX_PLACES = 5  # rows or lines named in one message; the rest are counted
#: field -> the values a look-alike column's cells must be (columns.guess_field)
ENUMS: dict[str, Collection[str]] = {
    "model": JOB_FIELDS["model"]["enum"],
    "resolution": JOB_FIELDS["resolution"]["enum"],
    "provider": schema()["$defs"]["provider_name"]["enum"],
}
_LOST = {
    "image": "the jobs run as text-to-video without it",
    "end_image": "the jobs have no last frame without it",
    "prompt": "its text is not sent as the prompt",
    "duration": "the jobs take the default duration",
}


def at(file: str, places: list[str]) -> str:
    """``file: row 2, row 3 and 4 more`` (at most MAX_PLACES places named)."""
    shown = ", ".join(places[:MAX_PLACES])
    if len(places) > MAX_PLACES:
        shown += f" and {len(places) - MAX_PLACES} more"
    return f"{file}: {shown}" if shown else file


@dataclass
class Key:
    """A sheet column or YAML key (``name`` as written) at ``where``, with its
    non-blank values as text (``cells``). ``fix`` is how to make it the job
    field ``{field}``: e.g. ``map it: --map "Hero Image={field}"``; ``kind``:
    ``column`` or ``key``, as the message calls it."""

    where: str
    name: str
    cells: Iterable[str]
    fix: str
    kind: str = "column"


@dataclass
class Reported:
    """Problems said once for the whole manifest, left out of each row's list.

    ``everywhere``: (field, message) pairs no row repeats; ``by_key``: key
    (header_key form) -> pairs left out of the rows that have that key (the
    typo ``promt`` explains the missing ``prompt``); ``templates``: template
    field -> (the default's text, pairs) left out of rows whose field is still
    the default's text.
    """

    everywhere: set[tuple[str, str]] = field(default_factory=set)
    by_key: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    templates: dict[str, tuple[str, set[tuple[str, str]]]] = field(default_factory=dict)

    def filter(self, data: Mapping[str, Any], found: list[Problem]) -> list[Problem]:
        """The problems of one row (``data``: its fields before templates are
        filled) that were not said already."""
        if not (self.everywhere or self.by_key or self.templates) or not found:
            return found
        said = set(self.everywhere)
        for key in data:
            said |= self.by_key.get(header_key(key), set())
        for name, (text, pairs) in self.templates.items():
            if data.get(name) == text:
                said |= pairs
        return [p for p in found if (p.field, p.message) not in said]


def used_variables(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """The template variables (header_key form) the template fields of ``rows`` name."""
    used: set[str] = set()
    for data in rows:
        for name in TEMPLATE_FIELDS:
            text = data.get(name)
            if isinstance(text, str) and "{" in text:
                used |= {header_key(v) for v in variables(text)}
    return used


def key_problems(keys: list[Key], given: Collection[str], taken: Collection[str], used: Collection[str],
                 reported: Reported) -> list[Problem]:
    """Problems of the keys that are no job field and no template variable in ``used``.

    ``given``: the job fields some column, key, default, ``--set`` or matrix
    gives; ``taken``: those a column, key or matrix entry gives. A look-alike
    of a ``taken`` field is dropped (another column is that field), except
    that image cells then suggest ``end_image``. Records in ``reported`` what
    each problem explains (a typo or look-alike of a required field).
    """
    out: list[Problem] = []
    for key in keys:
        name = header_key(key.name)
        if name in JOB_FIELDS or name in used:
            continue
        guess = guess_field(key.name, name, key.cells, JOB_FIELDS, ENUMS)
        if guess is None:
            continue
        target = guess.field
        fix = key.fix.replace("{field}", target)
        if guess.how == "typo":
            out.append(Problem(key.where, key.name, f"unknown field; did you mean '{target}'? "
                               f"{key.kind.capitalize()} '{key.name}' is not a job field: {fix}"))
        else:
            if target in taken:
                if guess.how != "cells" or "end_image" in taken:
                    continue
                target, fix = "end_image", key.fix.replace("{field}", "end_image")
            why = "by its name" if guess.how == "synonym" else "its cells are image paths or URLs"
            if target in REQUIRED and target not in given:
                out.append(Problem(key.where, key.name, f"no '{target}' is given, and {key.kind} '{key.name}' "
                                   f"looks like the {target} ({why}): {fix}"))
            else:
                lost = _LOST.get(target, f"its values do not set the {target}")
                out.append(Problem(key.where, key.name, f"{key.kind} '{key.name}' is not a job field but looks "
                                   f"like '{target}' ({why}): {lost}. If it is the {target}, {fix}", "warning"))
        if target in REQUIRED:  # a row without the field: this key explains it
            pair = (target, required_message(target))
            if target in given:  # other rows give it: only the rows with this key
                reported.by_key.setdefault(name, set()).add(pair)
            else:
                reported.everywhere.add(pair)
    return out


def required_problems(where: str, given: Collection[str], reported: Reported, how: str) -> list[Problem]:
    """One error per required field nothing gives (and no key problem
    explained); ``how`` says where to add one, with ``{field}``."""
    out = []
    for name in REQUIRED:
        pair = (name, required_message(name))
        if name in given or pair in reported.everywhere:
            continue
        out.append(Problem(where, name, f"no '{name}' is given: {how.replace('{field}', name)}"))
        reported.everywhere.add(pair)
    return out


def template_problems(defaults: Mapping[str, Any], lines: Mapping[str, int], file: str,
                      available: Collection[str], reported: Reported) -> list[Problem]:
    """One error per ``defaults`` template variable that names nothing in
    ``available`` (header_key form: columns, keys, defaults, matrix entries):
    no row can fill it, so it is said once, at the YAML line of its ``defaults``
    key (``lines``), with the closest name (difflib ratio >= 0.75) as a
    suggestion, or else the names there are. A variable that names a column
    left blank in some rows stays a problem of those rows."""
    out = []
    names = sorted(set(available))
    for fld in TEMPLATE_FIELDS:
        text = defaults.get(fld)
        if not isinstance(text, str) or "{" not in text:
            continue
        pairs: set[tuple[str, str]] = set()
        for var in variables(text):
            key = header_key(var)
            if key in available:
                continue
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
            if close:
                fix = f"did you mean {{{close[0]}}}?"
            else:
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                fix = f"add that column, or use one of: {shown}" if names else "add that column"
            where = f"{file}: line {lines[fld]}" if fld in lines else file
            out.append(Problem(where, f"defaults.{fld}", f"template variable {{{var}}} names no column, "
                               f"default or matrix entry: {fix}"))
            pairs.add((fld, missing_message(var)))
        if pairs:
            reported.templates[fld] = (text, pairs)
    return out
