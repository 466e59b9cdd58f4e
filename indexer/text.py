"""Chinese text for search: jieba tokens, the user's query syntax, whole-word highlights.

Both backends share this module, so a query means the same words and a hit shows the same
highlights whether Elasticsearch or SQLite FTS5 answers it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from indexer.search import ParsedQuery

# ASCII words and model numbers stay whole: M4360, A4, 70g, DS-2CD3T47, iR-2625/ADV.
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:[-_./+][a-z0-9]+)*")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_TOKEN_RUN = re.compile(f"{_ASCII_WORD.pattern}|{_HAN_RUN.pattern}")
_ASCII_PART = re.compile(r"[a-z0-9]+")
# Quotes a Chinese keyboard types, folded to '"' before parsing.
_QUOTES = str.maketrans({c: '"' for c in "“”„‟「」『』＂〝〞"})
_MINUSES = str.maketrans({c: "-" for c in "－−–—﹣"})
_SEPARATORS = set(" \t\r\n,;，；、。")
MAX_TERMS = 32  # a query longer than this is someone pasting a document
MAX_TERM_CHARS = 100


@cache
def _jieba() -> Any:
    """The jieba segmenter, loaded on first use: its dictionary costs ~0.5 s to build."""
    import rjieba

    return rjieba


def normalise(text: str) -> str:
    """Full-width folded to half-width (Ａ４ → a4) and lowercased: how tokens are compared."""
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """Search-mode jieba tokens of the Han runs plus whole ASCII words, lowercased, in order.

    Search mode yields 复印 and 复印纸 for 复印纸, so a two-character query word matches as a
    term. A compound model number also yields its parts (ds-2cd3t47 → ds, 2cd3t47).
    """
    out: list[str] = []
    for match in _TOKEN_RUN.finditer(normalise(text or "")):
        run = match.group()
        if run[0].isascii():
            out.append(run)
            parts = _ASCII_PART.findall(run)
            if len(parts) > 1:
                out += [p for p in parts if len(p) > 1]
        else:
            out += _han_tokens(run)
    return out


@lru_cache(maxsize=1 << 16)
def _han_tokens(run: str) -> tuple[str, ...]:
    """A Han run's search-mode tokens. Cached: names of parties, items and categories recur
    across documents (a transaction's text is mostly them), and the index builds thousands a
    second while catching up."""
    return tuple(t for t in _jieba().cut_for_search(run, True) if t.strip())


def _meaningful(term: str) -> bool:
    return any(c.isalnum() for c in term)


def _clean(term: str) -> str:
    return " ".join(term.split())[:MAX_TERM_CHARS].strip()


def parse_query(text: str) -> ParsedQuery:
    """`复印纸 "联想 启天" -A3 -"单一来源"` → words, phrases, excluded; never raises.

    Full-width quotes, minus signs and spaces are folded first; an unclosed quote runs to the
    end; terms without a letter, digit or Han character are dropped.
    """
    source = unicodedata.normalize("NFKC", str(text or "").translate(_QUOTES).translate(_MINUSES))
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char in _SEPARATORS:
            i += 1
            continue
        negate = char == "-"
        if negate:
            i += 1
            if i >= n or source[i] in _SEPARATORS:
                continue
        if source[i] == '"':
            end = source.find('"', i + 1)
            end = n if end < 0 else end
            term, target = _clean(source[i + 1 : end]), phrases
            i = end + 1
        else:
            end = i
            while end < n and source[end] not in _SEPARATORS and source[end] != '"':
                end += 1
            term, target = _clean(source[i:end]), words
            i = end
        if negate:
            target = excluded
        if _meaningful(term) and term not in target:
            target.append(term)
    return ParsedQuery(
        tuple(words[:MAX_TERMS]), tuple(phrases[:MAX_TERMS]), tuple(excluded[:MAX_TERMS])
    )


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    return normalise(char)


class _FoldTable(dict[int, str]):
    """Code point → its folded text, filled in as `str.translate` meets new characters;
    `uneven` holds the characters that fold to other than one character."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(folded) != 1:
            self.uneven.add(chr(code))
        if len(self) < 65536:  # bounded: a flood of rare characters cannot grow it forever
            self[code] = folded
        return folded


_FOLDS = _FoldTable()


def _folded(text: str) -> tuple[str, Sequence[int]]:
    """`text` normalised character by character, with each folded character's source index.

    Most text is already NFKC with a one-to-one lowercase: then the index is the identity,
    and highlighting twenty hits no longer costs a normalisation per character.
    """
    if unicodedata.is_normalized("NFKC", text):
        lowered = text.lower()
        if len(lowered) == len(text):
            return lowered, range(len(text))  # no list of a number per character
    # Chinese text is seldom NFKC (full-width ，（）), but folds one character to one: one
    # table of every character met so far then folds it in C, a tenth of the loop below.
    translated = text.translate(_FOLDS)
    if len(translated) == len(text) and _FOLDS.uneven.isdisjoint(text):
        return translated, range(len(text))
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in _fold_char(char):
            folded.append(piece)
            origin.append(index)
    return "".join(folded), origin


@lru_cache(maxsize=1024)
def _search_terms(terms: tuple[str, ...]) -> tuple[str, ...]:
    """The folded terms, longest first: once per query, not once per hit and field."""
    wanted = {normalise(_clean(t)) for t in terms}
    return tuple(sorted((t for t in wanted if _meaningful(t)), key=len, reverse=True))


def _matches(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans in `text` of whole terms, longest term first."""
    folded, origin = _folded(text)
    taken = bytearray(len(folded))
    spans: list[tuple[int, int]] = []
    for term in _search_terms(tuple(terms)):
        start = folded.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]):
                taken[start:end] = b"\x01" * len(term)
                spans.append((origin[start], origin[end - 1] + 1))
            start = folded.find(term, end)
    return sorted(spans)


def _render(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    parts: list[str] = ["…"] if start > 0 else []
    cursor = start
    for s, e in spans:
        if s < start or e > end:
            continue
        parts += [html.escape(text[cursor:s]), "<em>", html.escape(text[s:e]), "</em>"]
        cursor = e
    parts.append(html.escape(text[cursor:end]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)


def highlight(
    text: str, terms: Sequence[str], fragment_chars: int = 80, max_fragments: int = 3
) -> list[str]:
    """HTML-escaped fragments of `text` around the matches, each whole term in one `<em>`.

    Empty when nothing matches. Matching is case- and width-insensitive; a longer term wins
    over a shorter one inside it (复印纸 over 复印).
    """
    if not text:
        return []
    spans = _matches(text, terms)
    fragments: list[str] = []
    covered = 0
    for s, e in spans:
        if len(fragments) >= max_fragments:
            break
        if s < covered:
            continue
        pad = max(fragment_chars - (e - s), 0) // 2
        start = max(0, min(s - pad, len(text) - fragment_chars))
        start = max(start, covered)
        end = min(len(text), max(start + fragment_chars, e))
        fragments.append(_render(text, start, end, spans))
        covered = end
    return fragments
