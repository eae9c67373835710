"""stc_gpu.stc.pipeline was split by job: every old name still works, with a FutureWarning naming
its new home."""
from __future__ import annotations

import importlib

import pytest

import stc_gpu.stc.pipeline as old
from stc_gpu.stc.classifier import STCClassifier


@pytest.mark.parametrize("name, home", sorted(old._MOVED.items()))
def test_an_old_name_warns_and_is_the_new_one(name, home):
    with pytest.warns(FutureWarning, match=f"import {name} from {home}"):
        value = getattr(old, name)
    assert value is getattr(importlib.import_module(home), name)


def test_classifier_from_candidate_is_the_classmethod():
    with pytest.warns(FutureWarning, match="STCClassifier.from_candidate"):
        assert old.classifier_from_candidate == STCClassifier.from_candidate


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        old.nothing
