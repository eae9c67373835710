"""The η rule against a literal transcription of Algorithm 1 (lines 6-14)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stc_gpu.stc.sparsify import salient_neurons, salient_sets


def _algorithm1(coef: np.ndarray, eta: float) -> list[int]:
    """Algorithm 1, lines 6-14, one statement per line; stops at the last neuron."""
    weights = [float(np.sum(np.square(coef.reshape(-1, coef.shape[-1])[:, j], dtype=np.float64)))
               for j in range(coef.shape[-1])]
    J = sorted(range(len(weights)), key=lambda j: (-weights[j], j))  # index, sort (descending)
    W = [weights[j] for j in J]
    norm = 0.0
    for w in W:  # ||W||^2 summed in the same order as the running sum
        norm += w
    S, sigma, k = [], 0.0, 0
    while k < len(W) and sigma <= eta * norm:
        S.append(J[k])
        sigma += W[k]
        k += 1
    if sigma <= eta * norm:  # never exceeded: keep the neurons that carry energy (maybe none)
        S = [j for j in S if weights[j] > 0]
    return S


_weights = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 3), st.integers(1, 40)),
    elements=st.one_of(st.just(0.0), st.floats(-10, 10, allow_subnormal=False),
                       st.sampled_from([1.0, -1.0, 0.5])))
_etas = st.one_of(st.floats(1e-4, 1.0, exclude_min=False), st.sampled_from([0.001, 0.1, 0.25, 0.5, 1.0]))


@settings(max_examples=300, deadline=None)
@given(coef=_weights, eta=_etas)
def test_matches_algorithm1(coef, eta):
    expected = _algorithm1(coef, eta)
    got = salient_neurons(coef, eta)
    assert got.dtype == np.int64
    assert got.tolist() == expected
    if coef.shape[0] == 1:
        assert salient_neurons(coef[0], eta).tolist() == expected


@settings(max_examples=100, deadline=None)
@given(coefs=hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 20)),
                        elements=st.floats(-3, 3, width=32)),
       etas=st.lists(_etas, min_size=1, max_size=4))
def test_sets_equal_per_probe_calls(coefs, etas):
    sets = salient_sets(coefs, etas)
    assert len(sets) == coefs.shape[0]
    for p, per_eta in enumerate(sets):
        assert len(per_eta) == len(etas)
        for eta, ids in zip(etas, per_eta):
            assert ids.tolist() == _algorithm1(coefs[p], eta)


def test_crossing_neuron_included_and_ties_by_index():
    coef = np.array([1.0, 3.0, -3.0, 0.0, 1.0])  # energies 1, 9, 9, 0, 1; total 20
    assert salient_neurons(coef, 0.4).tolist() == [1]  # 9 > 8
    assert salient_neurons(coef, 0.45).tolist() == [1, 2]  # 9 <= 9, then 18 > 9
    assert salient_neurons(coef, 0.9).tolist() == [1, 2, 0]  # 18 <= 18, then 19 > 18
    assert salient_neurons(coef, 0.96).tolist() == [1, 2, 0, 4]
    assert salient_neurons(coef, 1.0).tolist() == [1, 2, 0, 4]  # zero-energy neuron 3 left out


def test_multiclass_importance_sums_classes():
    coef = np.array([[2.0, 0.0, 1.0], [0.0, 2.5, 1.0]])  # importance 4, 6.25, 2
    assert salient_neurons(coef, 0.5).tolist() == [1]  # 6.25 > 6.125
    assert salient_neurons(coef, 0.6).tolist() == [1, 0]


def test_all_zero_weights_keep_no_neuron():
    assert salient_neurons(np.zeros(7), 0.3).tolist() == []
    assert salient_neurons(np.zeros((3, 7)), 1.0).tolist() == []


def test_at_least_one_neuron_for_tiny_eta():
    assert salient_neurons(np.array([0.1, 5.0, 0.2]), 1e-9).tolist() == [1]


@pytest.mark.parametrize("eta", [0.0, -0.1, 1.01, float("nan"), "x", None])
def test_eta_validated(eta):
    with pytest.raises(ValueError, match="eta"):
        salient_neurons(np.ones(3), eta)


@pytest.mark.parametrize("coef", [np.ones((2, 2, 2)), np.ones(0), np.array([1.0, np.nan]),
                                  np.array(["a", "b"])])
def test_coef_validated(coef):
    with pytest.raises(ValueError, match="coef"):
        salient_neurons(coef, 0.5)


def test_sets_shape_validated():
    with pytest.raises(ValueError, match=r"\(P, K, d\)"):
        salient_sets(np.ones((3, 4)), [0.5])
