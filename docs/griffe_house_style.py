"""A griffe extension for the API reference: read scan's docstring habits as numpy style.

scan's docstrings use numpy sections ("Parameters" underlined with dashes) but often write a
parameter as ``name : what it is`` on one line, where numpy style puts a *type* after the colon.
Read as it is, the description lands in the "Type" column.  Before parsing, this extension
moves such a description to its own indented line (a short type such as ``float`` or
``tuple of Cluster`` stays a type), and turns Sphinx roles (``:func:`x```) into code spans.
The source docstrings are not changed.  Loaded by mkdocs.yml (mkdocstrings' ``extensions``).
"""
from __future__ import annotations

import re

import griffe

SECTIONS = {"parameters", "other parameters", "attributes", "returns", "yields", "raises",
            "warns"}
_ROLE = re.compile(r":(?:func|class|data|mod|meth|attr|obj|exc|ref):`~?([^`]+)`")
_ITEM = re.compile(r"^(?P<names>[A-Za-z_*][\w*]*(?:\s*,\s*[A-Za-z_*][\w*]*)*)\s+:\s+(?P<rest>.+)$")
_TYPE = re.compile(r"^[\w.\[\](),|'\"{}\- ]+$")


def _type_like(text: str) -> bool:
    """Short and made of type words: ``float``, ``str or None``, ``tuple of Cluster``."""
    text = text.strip()
    return (len(text) <= 40 and not text.endswith(".") and ";" not in text
            and len(text.split()) <= 5 and bool(_TYPE.match(text)))


def rewrite(text: str) -> str:
    """The docstring with one-line descriptions moved under their names, roles as code."""
    text = _ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    lines = text.splitlines()
    out: list[str] = []
    section = None
    for k, line in enumerate(lines):
        stripped = line.strip()
        underline = k + 1 < len(lines) and set(lines[k + 1].strip()) == {"-"}
        if underline and stripped.lower() in SECTIONS:
            section = stripped.lower()
            out.append(line)
            continue
        if stripped and set(stripped) == {"-"}:
            out.append(line)
            continue
        if underline:                     # another section: leave it alone
            section = None
        indent = len(line) - len(line.lstrip())
        m = _ITEM.match(stripped) if section in SECTIONS and indent == 0 else None
        if m and not _type_like(m.group("rest")):
            out.append(m.group("names"))
            out.append("    " + m.group("rest"))
            continue
        out.append(line)
    return "\n".join(out)


class HouseStyle(griffe.Extension):
    """Rewrites every docstring before mkdocstrings parses it."""

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
