"""Which test texts a report explains: the most confident right, then wrong, short ones first."""
from __future__ import annotations

import numpy as np
import pytest

from stc_gpu.stc.examples import _texts_at, pick


def test_pick_the_most_confident_right_then_wrong_short_first():
    correct = np.array([1, 1, 0, 1, 0, 0, 1], bool)
    confidence = np.array([0.6, 0.9, 0.99, 0.8, 0.7, 0.95, 0.99])
    long = np.array([0, 0, 0, 0, 0, 0, 1], bool)
    assert pick(correct, confidence, long, 2).tolist() == [1, 3, 2, 5]
    assert pick(correct, confidence, long, 4).tolist() == [1, 3, 0, 6, 2, 5, 4]
    assert pick(np.ones(3, bool), np.full(3, 0.5), np.zeros(3, bool), 2).tolist() == [0, 1]
    assert pick(np.zeros(0, bool), np.zeros(0), np.zeros(0, bool), 3).tolist() == []


def test_texts_at_reads_rows_in_the_order_asked():
    batches = [["a", "b", "c"], ["d", "e"]]
    assert _texts_at(iter(batches), np.array([4, 0, 2])) == ["e", "a", "c"]
    with pytest.raises(ValueError, match="no row 7 \\(it has 5 rows\\)"):
        _texts_at(iter(batches), np.array([1, 7]))
