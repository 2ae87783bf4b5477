"""What a broadcast says: Telegram's HTML subset, checked before anyone confirms, and texts
cut into messages Telegram accepts (4,096 characters; 1,024 under a photo or document).

Telegram counts the text it shows (tags and entities gone) in UTF-16 code units, and refuses
a message whose HTML it cannot parse; both are checked here so a broadcast is never refused
at its 2,000th recipient. Long texts are cut between paragraphs, then lines, then words, and
never inside a tag, so every part is valid on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.programme import LANGUAGES
from db.models import Broadcast

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class BroadcastError(Exception):
    """Why a broadcast step cannot be taken; `code` (+ `params`) is explained in
    bot/staff_views.py (`broadcast_error`)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


_TAGS = frozenset(
    (
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    )
)
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d{1,8}|#[xX][0-9a-fA-F]{1,7});")
_ATTR = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


@dataclass(frozen=True)
class _Token:
    kind: str  # text, open, close
    raw: str
    name: str = ""


def _tokens(source: str) -> list[_Token]:
    """Tokens of Telegram-flavoured HTML; raises BroadcastError("html", ...) as Telegram would."""
    tokens: list[_Token] = []
    stack: list[str] = []
    i = 0
    while i < len(source):
        start = source.find("<", i)
        if start == -1:
            tokens.append(_Token("text", source[i:]))
            break
        if start > i:
            tokens.append(_Token("text", source[i:start]))
        end = source.find(">", start)
        inner = source[start + 1 : end] if end != -1 else ""
        if end == -1 or "<" in inner or not inner.strip("/ "):
            raise BroadcastError("html", problem="stray", at=source[start : start + 20])
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack or (name and name != stack[-1]):
                raise BroadcastError("html", problem="unmatched", at=f"</{name}>")
            tokens.append(_Token("close", source[start : end + 1], stack.pop()))
        else:
            name, _, rest = inner.partition(" ")
            name = name.strip().lower()
            attrs = {
                m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
                for m in _ATTR.finditer(rest)
            }
            if name not in _TAGS:
                raise BroadcastError("html", problem="tag", at=f"<{name}>")
            if name == "a" and not attrs.get("href"):
                raise BroadcastError("html", problem="href", at=f"<{inner}>")
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise BroadcastError("html", problem="tag", at=f"<{inner}>")
            stack.append(name)
            tokens.append(_Token("open", source[start : end + 1], name))
        i = end + 1
    if stack:
        raise BroadcastError("html", problem="unclosed", at=f"<{stack[-1]}>")
    return tokens


def _visible(tokens: list[_Token]) -> int:
    """Length Telegram counts (UTF-16 code units of the text once tags and entities are gone)."""
    text = "".join(_ENTITY.sub("_", t.raw) for t in tokens if t.kind == "text").strip()
    return len(text.encode("utf-16-le")) // 2


def visible_length(source: str) -> int:
    return _visible(_tokens(source))


def _pieces(tokens: list[_Token], separator: str | None, limit: int) -> list[list[_Token]]:
    """Cut at `separator` where no tag is open (None: hard cuts of at most `limit` characters)."""
    pieces: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        depth += {"open": 1, "close": -1}.get(token.kind, 0)
        if token.kind != "text" or depth:
            pieces[-1].append(token)
            continue
        chunks = (
            token.raw.split(separator)
            if separator
            else [token.raw[i : i + limit] for i in range(0, len(token.raw), limit)]
        )
        for n, chunk in enumerate(chunks):
            if n:
                pieces.append([])
            if chunk:
                pieces[-1].append(_Token("text", chunk))
    return [piece for piece in pieces if _visible(piece)]


def split_text(source: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Messages of at most `limit` characters, cut between paragraphs where possible, then
    between lines, then between words; never inside a formatting tag."""

    def split(tokens: list[_Token], separators: tuple[str | None, ...]) -> list[str]:
        if _visible(tokens) <= limit:
            return ["".join(t.raw for t in tokens).strip()]
        if not separators:
            raise BroadcastError("formatted_too_long", limit=limit)
        separator, rest = separators[0], separators[1:]
        pieces = _pieces(tokens, separator, limit)
        if len(pieces) < 2:
            return split(tokens, rest)
        parts: list[str] = []
        current: list[_Token] = []
        for piece in pieces:
            glue = [_Token("text", separator)] if current and separator else []
            if _visible(current + glue + piece) <= limit:
                current += glue + piece
                continue
            if current:
                parts += split(current, rest)
            current = piece
        return parts + split(current, rest)

    return split(_tokens(source), ("\n\n", "\n", " ", None))


def check_text(source: str) -> str:
    """The text as it will be stored, or BroadcastError: empty, invalid HTML, unsplittable."""
    text = source.strip()
    if not text or not visible_length(text):
        raise BroadcastError("empty")
    split_text(text)
    return text


# ---------------------------------------------------------------------- what recipients get


@dataclass(frozen=True)
class Message:
    text: str
    media: tuple[str, str] | None = None


def text_for(broadcast: Broadcast, language: str | None) -> str:
    texts = broadcast.texts or {}
    for candidate in (language, broadcast.fallback_language, *LANGUAGES):
        if candidate and texts.get(candidate):
            return texts[candidate]
    return ""


def messages(broadcast: Broadcast, language: str | None) -> list[Message]:
    """What one recipient gets, in order: one message, or several for a long text."""
    text = text_for(broadcast, language)
    media = broadcast.media
    if not media:
        return [Message(part) for part in split_text(text)]
    attachment = (str(media["kind"]), str(media["file_id"]))
    if visible_length(text) <= CAPTION_LIMIT:
        return [Message(text, attachment)]
    return [Message("", attachment), *(Message(part) for part in split_text(text))]
