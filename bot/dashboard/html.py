"""A few lines of HTML building that escape by default.

Text goes through `html.escape` unless it is already `Html` (markup this module built), so what
an applicant typed can only ever be text on the page. Templates would do the same; these pages
are small enough that functions read as well and need no new dependency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

# Elements without a closing tag.
_VOID = frozenset({"br", "input", "meta", "link", "hr", "img"})

class Html(str):
    """Markup that is safe to put on the page as it is."""

    __slots__ = ()


def text(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(escape(str(value), quote=True))


def render(children: Iterable[object]) -> Html:
    out: list[str] = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str | int | float):
            out.append(text(child))
        else:  # a list or generator of children
            out.append(render(child))  # type: ignore[arg-type]
    return Html("".join(out))


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Html:
    """`<tag attrs>children</tag>`; an attribute that is None or False is left out, True is
    written bare (`disabled`), `class_` and `for_` lose their underscore."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{escape(str(value), quote=True)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in _VOID:
        return Html(opening)
    return Html(f"{opening}{render(children)}</{tag}>")


def join(parts: Iterable[object], separator: str = "") -> Html:
    return Html(text(separator).join(render([part]) for part in parts))
