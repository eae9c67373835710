"""Token heat maps (paper Figure 4b) and exact logit attributions as HTML: inline CSS, no scripts.

Token-wise view: each token is coloured by the probability the classifier gives one class (the
second of ``label_names``): blue below 0.5, white at 0.5, red above. A multiclass text scores one
class against the rest (:func:`target_label_names`). Attribution view
(:func:`explanation_section`): each token is coloured by its share of the class's logit, red
toward the class, blue away from it, scaled to the text's largest share; special tokens are
outlined, and the intercept is written apart. Sub-word pieces are shown as the text reads: WordPiece ``##`` pieces join
the previous piece, GPT-2 byte-level ``Ġ`` (and SentencePiece ``▁``) mark a space, byte-level
characters are decoded back to UTF-8 (pieces that split one character are merged, their scores
averaged, or summed for logit shares). Each piece keeps its own colour; hovering shows its score.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SCHEMES = ("auto", "wordpiece", "bytelevel", "sentencepiece", "plain")
METHODS = ("attribution", "tokenwise", "both")
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
.special { outline: 1px dashed #777; font-size: 0.85em; }
.view { margin: 0.2em 0 0.8em; } .view h3 { font-size: 0.95em; margin: 0.6em 0 0.2em; }
.note { color: #555; font-size: 0.85em; margin: 0.3em 0; }
"""


@dataclass(frozen=True)
class Piece:
    """One displayed piece: its text, its score, whether a space precedes it, whether it is a
    special token."""

    text: str
    score: float
    space_before: bool
    special: bool = False


def display_pieces(tokens: Sequence[str], scores: np.ndarray, scheme: str = "auto", *,
                   special: Sequence[bool] | None = None, combine: str = "mean") -> list[Piece]:
    """Tokens (n,) and scores (n,) as the pieces to display, markers turned into spaces.

    ``scheme``: "wordpiece" (BERT ``##``), "bytelevel" (GPT-2/RoBERTa ``Ġ``), "sentencepiece"
    (``▁``), "plain" (tokens joined by spaces) or "auto" (guessed from the markers present).
    ``special``: (n,) bool, the special tokens. ``combine``: how the scores of tokens merged into
    one character combine, "mean" (probabilities) or "sum" (logit shares).
    """
    scores = _checked_values(tokens, scores)
    special = np.zeros(len(tokens), bool) if special is None else np.asarray(special, bool)
    if special.shape != scores.shape:
        raise ValueError(f"{len(tokens)} tokens need {len(tokens)} special flags, got {special.shape}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if combine not in ("mean", "sum"):
        raise ValueError(f"combine must be 'mean' or 'sum', got {combine!r}")
    if scheme == "auto":
        scheme = _guess_scheme(tokens)
    if scheme in ("wordpiece", "plain"):
        return [Piece(token[2:] if scheme == "wordpiece" and token.startswith("##") else token,
                      float(score), i > 0 and not (scheme == "wordpiece" and token.startswith("##")),
                      bool(flag))
                for i, (token, score, flag) in enumerate(zip(tokens, scores, special))]
    return _byte_pieces(tokens, scores, special, scheme, np.mean if combine == "mean" else np.sum)


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
        heading = html.escape(str(item.get("title") or f"Text {number}"))
        if item.get("text_score") is not None:
            heading += f' <span class="score">P({names[1]}) = {float(item["text_score"]):.3f}</span>'
        view = _tokenwise_view(item["tokens"], item["scores"], names, scheme, legend=own is not None)
        sections.append(f"<section><h2>{heading}</h2>\n{view}</section>")
    legend = _legend(page_names) + "\n" if page_legend else ""
    return html_page(title, legend + "\n".join(sections))


def explanations_html(explanations: Sequence, classes: Sequence[str], headings: Sequence[str], *,
                      method: str = "both", title: str = "Token explanations",
                      scheme: str = "auto") -> str:
    """A standalone HTML page: one :func:`explanation_section` per explanation."""
    if not explanations:
        raise ValueError("no texts to draw")
    if len(headings) != len(explanations):
        raise ValueError(f"{len(headings)} headings for {len(explanations)} texts")
    return html_page(title, "\n".join(
        explanation_section(e, classes, heading=h, method=method, scheme=scheme)
        for e, h in zip(explanations, headings)))


def explanation_section(explanation, classes: Sequence[str], *, heading: str,
                        method: str = "both", scheme: str = "auto") -> str:
    """One text's ``<section>``: its token-wise view, its exact attribution, or ``both``.

    ``explanation``: a :class:`stc_gpu.stc.attribution.TokenExplanation` (tokens, special,
    tokenwise, shares, intercept, offset, logit, proba, target, pool); ``classes``: the
    classifier's classes, as strings.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    e = explanation
    names = _checked_names(target_label_names([str(c) for c in classes], str(e.target)))
    views = []
    if method in ("tokenwise", "both"):
        views.append('<div class="view"><h3>token-wise: each token through the classifier on its '
                     "own (paper Fig. 4b; what a token looks like alone, not what it adds)</h3>\n"
                     + _tokenwise_view(e.tokens, e.tokenwise, names, scheme, special=e.special)
                     + "</div>")
    if method in ("attribution", "both"):
        views.append(_attribution_view(e, names, scheme))
    return (f'<section><h2>{html.escape(heading)} <span class="score">P({names[1]}) = '
            f"{float(e.proba):.3f}</span></h2>\n" + "\n".join(views) + "</section>")


def html_page(title: str, body: str, *, css: str = "") -> str:
    """A standalone HTML page (the heat maps' CSS plus ``css``; no scripts) around ``body``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}{css}</style></head>\n<body>"
            f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


#: How each pool hands the logit to the tokens (the shares of :mod:`stc_gpu.stc.attribution`).
_POOL_RULES = {
    "mean": "mean pool: every token adds 1/n of its own features, so each share is exact",
    "max": "max pool: each neuron's weight is credited to the token that attained its max",
    "single": "single-token pool: the whole logit comes from the pooled token",
}


def _tokenwise_view(tokens, scores, names: tuple[str, str], scheme: str, *, legend: bool = True,
                    special=None) -> str:
    scores = _checked_values(tokens, scores, probabilities=True)
    pieces = display_pieces(tokens, scores, scheme, special=special)
    spans = "".join(_span(piece, names[1]) for piece in pieces)
    return (_legend(names) + "\n" if legend else "") + f'<div class="text">{spans}</div>'


def _attribution_view(e, names: tuple[str, str], scheme: str) -> str:
    negative, positive = names
    shares = _checked_values(e.tokens, e.shares)
    special = np.asarray(e.special, dtype=bool)
    pieces = display_pieces(e.tokens, shares, scheme, special=special, combine="sum")
    scale = float(np.abs(shares).max()) or 1.0
    spans = "".join(_share_span(piece, scale, positive) for piece in pieces)
    specials = ", ".join(f"{html.escape(p.text)} {p.score:+.3f}" for p in pieces if p.special)
    words = sorted((p for p in pieces if not p.special), key=lambda p: -abs(p.score))[:5]
    largest = ", ".join(f"“{html.escape(p.text)}” {p.score:+.3f}" for p in words)
    legend = (f'<div class="legend"><span>toward {negative} (−{scale:.3g})</span>'
              f'<span class="bar"></span><span>toward {positive} (+{scale:.3g})</span>'
              f'<span class="score">colour: each token\'s share of the logit of {positive}</span></div>')
    total = (f"logit({positive}) = intercept {e.intercept:+.3f} + tokens "
             f"{shares[~special].sum():+.3f} + special tokens {shares[special].sum():+.3f} = "
             f"{e.logit:+.3f}" + (f" (special: {specials})" if specials else ""))
    rule = html.escape(_POOL_RULES.get(e.pool, f"{e.pool} pool"))
    return ('<div class="view"><h3>exact attribution: each token\'s share of the logit</h3>\n'
            f'{legend}\n<div class="text">{spans}</div>\n<p class="note">{total}</p>\n'
            f'<p class="note">largest shares: {largest or "—"}</p>\n<p class="note">{rule}; '
            "shares are measured from the training mean (the standardiser's offset "
            f"{e.offset:+.3f} is split with the values it centres), the intercept stays apart; "
            "special tokens (outlined) are part of the pool.</p></div>")


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
    return _coloured(piece, piece.score, f"P({positive}) = {piece.score:.3f}")


def _share_span(piece: Piece, scale: float, positive: str) -> str:
    """A piece coloured by its logit share, ``scale`` (the largest share) at full colour."""
    level = 0.5 + 0.5 * float(np.clip(piece.score / scale, -1.0, 1.0))
    return _coloured(piece, level, f"share of logit({positive}) = {piece.score:+.4f}")


def _coloured(piece: Piece, level: float, tooltip: str) -> str:
    """``piece`` as a span coloured by ``level`` in [0, 1] (see :func:`score_colour`)."""
    red, green, blue = score_colour(level)
    ink = "#fff" if abs(2 * level - 1) > 0.6 else "#000"
    text = html.escape(piece.text).replace("\n", "<br>")
    space = " " if piece.space_before else ""
    kind = "tok special" if piece.special else "tok"
    extra = " (special token)" if piece.special else ""
    return (f'{space}<span class="{kind}" style="background: rgb({red},{green},{blue}); '
            f'color: {ink}" title="{tooltip}{extra}">{text}</span>')


def _guess_scheme(tokens: Sequence[str]) -> str:
    if any("Ġ" in token or "Ċ" in token for token in tokens):
        return "bytelevel"
    if any(token.startswith("▁") for token in tokens):
        return "sentencepiece"
    return "wordpiece"


def _byte_pieces(tokens: Sequence[str], scores: np.ndarray, special: np.ndarray, scheme: str,
                 combine) -> list[Piece]:
    """Pieces of byte-level or SentencePiece tokens; a piece ending inside a UTF-8 character is
    merged with the next ones until the character is whole (scores ``combine``-d)."""
    pieces: list[Piece] = []
    pending, pending_scores, pending_special = b"", [], False
    for token, score, flag in zip(tokens, scores, special):
        pending += _token_bytes(token, scheme)
        pending_scores.append(float(score))
        pending_special |= bool(flag)
        try:
            text = pending.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data":
                continue
            text = pending.decode("utf-8", errors="replace")
        space = text.startswith(" ") and bool(pieces)
        pieces.append(Piece(text[1:] if text.startswith(" ") else text,
                            float(combine(pending_scores)), space, pending_special))
        pending, pending_scores, pending_special = b"", [], False
    if pending:
        pieces.append(Piece(pending.decode("utf-8", errors="replace"),
                            float(combine(pending_scores)), False, pending_special))
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


def _checked_values(tokens: Sequence[str], scores, *, probabilities: bool = False) -> np.ndarray:
    if isinstance(tokens, str):
        raise ValueError("tokens must be a list of token strings, not one string")
    scores = np.asarray(scores, dtype=np.float64)
    if len(tokens) == 0:
        raise ValueError("no tokens to draw")
    if scores.shape != (len(tokens),):
        raise ValueError(f"{len(tokens)} tokens need scores of shape ({len(tokens)},), got {scores.shape}")
    if probabilities and not np.all((scores >= 0) & (scores <= 1)):  # NaN fails too
        raise ValueError("scores must be probabilities in [0, 1]")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite numbers")
    return scores
