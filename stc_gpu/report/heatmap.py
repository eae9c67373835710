"""Token heat maps (paper Figure 4b) as standalone HTML: inline CSS, no scripts.

Each token is coloured by the probability the classifier gives one class (the second of
``label_names``): blue below 0.5, white at 0.5, red above. A multiclass text scores one class
against the rest (:func:`target_label_names`). Sub-word pieces are shown as the text reads: WordPiece ``##`` pieces join
the previous piece, GPT-2 byte-level ``Ġ`` (and SentencePiece ``▁``) mark a space, byte-level
characters are decoded back to UTF-8 (pieces that split one character are merged, their scores
averaged). Each piece keeps its own colour; hovering shows its score.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SCHEMES = ("auto", "wordpiece", "bytelevel", "sentencepiece", "plain")
_NEGATIVE = np.array([33, 102, 172])  # blue
_POSITIVE = np.array([178, 24, 43])  # red
_WHITE = np.array([255, 255, 255])
_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
h1 { font-size: 1.3em; } h2 { font-size: 1.05em; margin: 1.6em 0 0.4em; }
.text { line-height: 2.1; font-size: 1.05em; }
.tok { padding: 0.15em 0; border-radius: 0.2em; white-space: pre-wrap; }
.legend { display: flex; align-items: center; gap: 0.6em; font-size: 0.9em; margin: 0.6em 0 1em; }
.bar { width: 16em; height: 0.9em; border: 1px solid #999;
       background: linear-gradient(to right, rgb(33,102,172), rgb(255,255,255), rgb(178,24,43)); }
.score { color: #555; font-size: 0.9em; font-weight: normal; }
"""


@dataclass(frozen=True)
class Piece:
    """One displayed piece: its text, its score in [0, 1], whether a space precedes it."""

    text: str
    score: float
    space_before: bool


def display_pieces(tokens: Sequence[str], scores: np.ndarray, scheme: str = "auto") -> list[Piece]:
    """Tokens (n,) and scores (n,) as the pieces to display, markers turned into spaces.

    ``scheme``: "wordpiece" (BERT ``##``), "bytelevel" (GPT-2/RoBERTa ``Ġ``), "sentencepiece"
    (``▁``), "plain" (tokens joined by spaces) or "auto" (guessed from the markers present).
    """
    scores = _checked_scores(tokens, scores)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "auto":
        scheme = _guess_scheme(tokens)
    if scheme in ("wordpiece", "plain"):
        return [Piece(token[2:] if scheme == "wordpiece" and token.startswith("##") else token,
                      float(score), i > 0 and not (scheme == "wordpiece" and token.startswith("##")))
                for i, (token, score) in enumerate(zip(tokens, scores))]
    return _byte_pieces(tokens, scores, scheme)


def token_heatmap_html(tokens: Sequence[str], scores: np.ndarray, *, title: str = "",
                       label_names: Sequence[str] = ("negative", "positive"),
                       scheme: str = "auto") -> str:
    """A standalone HTML page showing one text's token heat map.

    Parameters
    ----------
    tokens : n token strings, as the tokenizer wrote them
    scores : array (n,) in [0, 1]
        Probability of ``label_names[1]`` the classifier gives at each token.
    """
    return token_heatmaps_html([{"tokens": tokens, "scores": scores, "title": title}],
                               title=title or "Token scores", label_names=label_names, scheme=scheme)


def token_heatmaps_html(items: Sequence[Mapping], *, title: str = "Token scores",
                        label_names: Sequence[str] = ("negative", "positive"),
                        scheme: str = "auto") -> str:
    """A standalone HTML page with the heat maps of several texts.

    ``items``: mappings with ``tokens`` (n,), ``scores`` (n,) in [0, 1], and optionally
    ``title``, ``text_score`` (the classifier's probability of the scored class for the whole
    text) and ``label_names``: the text's own names for score 0 and score 1 (e.g. from
    :func:`target_label_names`), drawn with a legend of its own; the others use the page's
    ``label_names``.
    """
    if not items:
        raise ValueError("no texts to draw")
    page_names = _checked_names(label_names)
    sections, page_legend = [], False
    for number, item in enumerate(items, start=1):
        if "tokens" not in item or "scores" not in item:
            raise ValueError(f"text {number} needs 'tokens' and 'scores'")
        own = item.get("label_names")
        names = page_names if own is None else _checked_names(own)
        page_legend |= own is None
        positive = names[1]
        pieces = display_pieces(item["tokens"], item["scores"], scheme)
        heading = html.escape(str(item.get("title") or f"Text {number}"))
        if item.get("text_score") is not None:
            heading += f' <span class="score">P({positive}) = {float(item["text_score"]):.3f}</span>'
        spans = "".join(_span(piece, positive) for piece in pieces)
        legend = "" if own is None else _legend(names) + "\n"
        sections.append(f'<section><h2>{heading}</h2>\n{legend}<div class="text">{spans}</div>'
                        "</section>")
    legend = _legend(page_names) + "\n" if page_legend else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>"
            f"<h1>{html.escape(title)}</h1>\n{legend}" + "\n".join(sections) + "\n</body></html>\n")


def target_label_names(classes: Sequence[str], target: str) -> tuple[str, str]:
    """Names of score 0 and score 1 when the scores are P(``target``): the other class of a
    binary task, "not <target>" among several."""
    if target not in classes:
        raise ValueError(f"unknown class {target!r}; the classes are {', '.join(classes)}")
    others = [c for c in classes if c != target]
    return (others[0] if len(others) == 1 else f"not {target}"), target


def _checked_names(names: Sequence[str]) -> tuple[str, str]:
    """Two label names, HTML-escaped."""
    if isinstance(names, str) or len(names) != 2:
        raise ValueError(f"label_names must name 2 classes (score 0 and score 1), got {names!r}")
    return tuple(html.escape(str(name)) for name in names)


def _legend(names: tuple[str, str]) -> str:
    negative, positive = names
    return (f'<div class="legend"><span>{negative} (0)</span><span class="bar"></span>'
            f'<span>{positive} (1)</span><span class="score">colour: P({positive}) per token, '
            "white at 0.5</span></div>")


def score_colour(score: float) -> tuple[int, int, int]:
    """RGB of a score in [0, 1]: blue at 0, white at 0.5, red at 1."""
    strength = min(abs(2.0 * float(score) - 1.0), 1.0)
    target = _POSITIVE if score > 0.5 else _NEGATIVE
    return tuple(int(round(c)) for c in _WHITE + strength * (target - _WHITE))


def _span(piece: Piece, positive: str) -> str:
    red, green, blue = score_colour(piece.score)
    ink = "#fff" if abs(2 * piece.score - 1) > 0.6 else "#000"
    text = html.escape(piece.text).replace("\n", "<br>")
    space = " " if piece.space_before else ""
    return (f'{space}<span class="tok" style="background: rgb({red},{green},{blue}); color: {ink}" '
            f'title="P({positive}) = {piece.score:.3f}">{text}</span>')


def _guess_scheme(tokens: Sequence[str]) -> str:
    if any("Ġ" in token or "Ċ" in token for token in tokens):
        return "bytelevel"
    if any(token.startswith("▁") for token in tokens):
        return "sentencepiece"
    return "wordpiece"


def _byte_pieces(tokens: Sequence[str], scores: np.ndarray, scheme: str) -> list[Piece]:
    """Pieces of byte-level or SentencePiece tokens; a piece ending inside a UTF-8 character is
    merged with the next ones until the character is whole (scores averaged)."""
    pieces: list[Piece] = []
    pending, pending_scores = b"", []
    for token, score in zip(tokens, scores):
        pending += _token_bytes(token, scheme)
        pending_scores.append(float(score))
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data":
                continue
            text = pending.decode("utf-8", errors="replace")
        space = text.startswith(" ") and bool(pieces)
        pieces.append(Piece(text[1:] if text.startswith(" ") else text,
                            float(np.mean(pending_scores)), space))
        pending, pending_scores = b"", []
    if pending:
        pieces.append(Piece(pending.decode("utf-8", errors="replace"), float(np.mean(pending_scores)),
                            False))
    return pieces


def _token_bytes(token: str, scheme: str) -> bytes:
    if scheme == "sentencepiece":
        byte = _BYTE_TOKEN.match(token)
        return bytes([int(byte.group(1), 16)]) if byte else token.replace("▁", " ").encode("utf-8")
    decoder = _byte_decoder()
    if all(char in decoder for char in token):
        return bytes(decoder[char] for char in token)
    return token.encode("utf-8")  # an added token outside the byte alphabet


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (character -> byte)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars)}


def _checked_scores(tokens: Sequence[str], scores) -> np.ndarray:
    if isinstance(tokens, str):
        raise ValueError("tokens must be a list of token strings, not one string")
    scores = np.asarray(scores, dtype=np.float64)
    if len(tokens) == 0:
        raise ValueError("no tokens to draw")
    if scores.shape != (len(tokens),):
        raise ValueError(f"{len(tokens)} tokens need scores of shape ({len(tokens)},), got {scores.shape}")
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        raise ValueError("scores must be probabilities in [0, 1]")
    return scores
