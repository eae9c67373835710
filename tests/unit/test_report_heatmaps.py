"""Token heat maps and the attribution view: pieces read as the text, colours, pages, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

from stc_gpu.report import token_heatmap_html, token_heatmaps_html
from stc_gpu.report.heatmap import (_byte_decoder, display_pieces, score_colour,
                                   target_label_names)


def _joined(pieces):
    return "".join((" " if piece.space_before else "") + piece.text for piece in pieces)


def test_byte_decoder_matches_transformers():
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    assert _byte_decoder() == {char: byte for byte, char in bytes_to_unicode().items()}


def test_bytelevel_pieces_read_as_the_text():
    from tokenizers import ByteLevelBPETokenizer
    texts = ["the café was great’ 😀 really", "terrible plot, boring\nscenes", "ok"]
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=280, min_frequency=1)
    for text in texts:
        tokens = tokenizer.encode(text).tokens
        assert _joined(display_pieces(tokens, np.linspace(0, 1, len(tokens)))) == text
    split_char = display_pieces(["Ġgreat", "âĢ", "Ļ"], np.array([0.2, 0.4, 0.8]))
    assert [(p.text, p.space_before) for p in split_char] == [("great", False), ("’", False)]
    assert split_char[1].score == pytest.approx(0.6)


def test_wordpiece_and_sentencepiece_pieces():
    pieces = display_pieces(["[CLS]", "un", "##believ", "##able", "film", "[SEP]"], np.full(6, 0.5))
    assert _joined(pieces) == "[CLS] unbelievable film [SEP]" and len(pieces) == 6
    pieces = display_pieces(["▁Hello", "▁wor", "ld", "<0xE2>", "<0x80>", "<0x99>"],
                            np.array([0.1, 0.2, 0.3, 0.0, 0.5, 1.0]))
    assert _joined(pieces) == "Hello world’"
    assert pieces[-1].score == pytest.approx(0.5)
    assert _joined(display_pieces(["a", "##b"], np.zeros(2), scheme="plain")) == "a ##b"


def test_colours_diverge_around_half():
    assert score_colour(0.0) == (33, 102, 172)
    assert score_colour(0.5) == (255, 255, 255)
    assert score_colour(1.0) == (178, 24, 43)
    assert score_colour(0.75) == (216, 140, 149)


def test_heatmap_html_page():
    page = token_heatmap_html(["<script>", "Ġgood", "Ġ&", "Ġbad"], np.array([0.5, 0.95, 0.5, 0.05]),
                              title="Review <1>", label_names=("neg", "pos"))
    assert page.startswith("<!DOCTYPE html>") and "<script>" not in page
    assert "&lt;script&gt;" in page and "&amp;" in page and "Review &lt;1&gt;" in page
    assert page.count('class="tok"') == 4
    assert "linear-gradient" in page and "neg (0)" in page and "pos (1)" in page
    assert 'title="P(pos) = 0.950"' in page
    assert re.search(r"background: rgb\(255,255,255\)", page)


def test_several_heatmaps_in_one_page():
    items = [{"tokens": ["good"], "scores": [0.9], "title": "first", "text_score": 0.91},
             {"tokens": ["bad", "##ly"], "scores": np.array([0.1, 0.2])}]
    page = token_heatmaps_html(items, title="All")
    assert page.count("<section>") == 2 and "P(positive) = 0.910" in page and "Text 2" in page


def test_each_text_can_score_its_own_class():
    items = [{"tokens": ["goal"], "scores": [0.9], "label_names": target_label_names(
                 ["news", "sport", "tech"], "sport"), "text_score": 0.8},
             {"tokens": ["chip"], "scores": [0.7], "label_names": ("not tech", "tech")}]
    page = token_heatmaps_html(items)
    first, second = page.split("<section>")[1:]
    assert "not sport (0)" in first and "P(sport) = 0.800" in first and 'P(sport) = 0.900"' in first
    assert "not tech (0)" in second and 'title="P(tech) = 0.700"' in second
    assert "negative (0)" not in page  # no text uses the page's names: no page legend
    assert target_label_names(["neg", "pos"], "neg") == ("pos", "neg")
    with pytest.raises(ValueError, match="unknown class 'x'"):
        target_label_names(["neg", "pos"], "x")


@pytest.mark.parametrize("tokens, scores, kwargs, match", [
    (["a"], [0.5, 0.5], {}, r"shape \(1,\)"),
    ([], [], {}, "no tokens"),
    (["a"], [1.5], {}, r"\[0, 1\]"),
    (["a"], [float("nan")], {}, r"\[0, 1\]"),
    ("ab", [0.1, 0.2], {}, "not one string"),
    (["a"], [0.5], {"label_names": ("x",)}, "2 classes"),
    (["a"], [0.5], {"scheme": "bpe"}, "scheme"),
])
def test_heatmap_errors(tokens, scores, kwargs, match):
    with pytest.raises(ValueError, match=match):
        token_heatmap_html(tokens, np.asarray(scores), **kwargs)


def test_heatmaps_need_items():
    with pytest.raises(ValueError, match="no texts"):
        token_heatmaps_html([])
    with pytest.raises(ValueError, match="'tokens' and 'scores'"):
        token_heatmaps_html([{"tokens": ["a"]}])


# ---------------------------------------------------------------- attribution view

def _explanation(**changes):
    from stc_gpu.stc.attribution import TokenExplanation

    fields = dict(tokens=["[CLS]", "dull", "Ġfun", "[SEP]"], special=np.array([1, 0, 0, 1], bool),
                  tokenwise=np.array([0.5, 0.9, 0.2, 0.4]), shares=np.array([0.25, 1.5, -0.5, 0.0]),
                  intercept=0.1, offset=-0.2, logit=1.35, proba=0.794, target="rotten",
                  predicted="rotten", pool="mean")
    return TokenExplanation(**{**fields, **changes})


def test_attribution_view_shows_shares_intercept_and_special_tokens():
    from stc_gpu.report.heatmap import explanation_section

    section = explanation_section(_explanation(), ["fresh", "rotten"], heading="predicted: rotten",
                                  scheme="plain")
    assert section.startswith("<section><h2>predicted: rotten") and "P(rotten) = 0.794" in section
    assert "token-wise" in section and "exact attribution" in section
    assert 'title="share of logit(rotten) = +1.5000"' in section  # the largest: full red
    assert "background: rgb(178,24,43)" in section
    assert 'title="share of logit(rotten) = -0.5000"' in section
    assert section.count('class="tok special"') == 4  # [CLS] and [SEP], in both views
    assert ("logit(rotten) = intercept +0.100 + tokens +1.000 + special tokens +0.250 = +1.350 "
            "(special: [CLS] +0.250, [SEP] +0.000)") in section
    assert "largest shares: “dull” +1.500, “Ġfun” -0.500" in section
    assert "offset -0.200" in section and "mean pool" in section
    assert "toward fresh (−1.5)" in section and "toward rotten (+1.5)" in section
    only = explanation_section(_explanation(), ["fresh", "rotten"], heading="x", method="attribution")
    assert "exact attribution" in only and "token-wise" not in only
    only = explanation_section(_explanation(), ["fresh", "rotten"], heading="x", method="tokenwise")
    assert "token-wise" in only and "exact attribution" not in only
    with pytest.raises(ValueError, match="method must be one of"):
        explanation_section(_explanation(), ["fresh", "rotten"], heading="x", method="shap")
    with pytest.raises(ValueError, match="unknown class 'rotten'"):
        explanation_section(_explanation(), ["a", "b"], heading="x")


def test_merged_bytes_sum_their_shares():
    pieces = display_pieces(["Ġgreat", "âĢ", "Ļ"], np.array([0.2, -0.4, 0.8]), combine="sum",
                            special=[False, False, True])
    assert [(p.text, p.special) for p in pieces] == [("great", False), ("’", True)]
    assert pieces[1].score == pytest.approx(0.4)
    with pytest.raises(ValueError, match="combine"):
        display_pieces(["a"], np.zeros(1), combine="max")
    with pytest.raises(ValueError, match="special flags"):
        display_pieces(["a", "b"], np.zeros(2), special=[True])


def test_explanations_page():
    from stc_gpu.report.heatmap import explanations_html

    page = explanations_html([_explanation(), _explanation(target="fresh", proba=0.2)],
                             ["fresh", "rotten"], ["first", "second"], title="Why")
    assert page.startswith("<!DOCTYPE html>") and page.count("<section>") == 2
    assert "<script" not in page and "P(fresh) = 0.200" in page
    with pytest.raises(ValueError, match="1 headings for 2 texts"):
        explanations_html([_explanation()] * 2, ["fresh", "rotten"], ["one"])
    with pytest.raises(ValueError, match="no texts"):
        explanations_html([], ["fresh", "rotten"], [])
