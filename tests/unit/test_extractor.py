"""The extractor's contract: shapes, order, batch independence, early stop, hooks, identity."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.conftest import SAMPLE_TEXTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stc_gpu.extract import BlockFeatures, Extractor
from stc_gpu.models.synthetic import FAMILIES, random_model_and_tokenizer
from stc_gpu.vocabulary import KINDS, POOLS

LONG_TEXT = " ".join(SAMPLE_TEXTS)  # far more than MAX_LENGTH tokens
POOL_OF_TEXTS = SAMPLE_TEXTS + [LONG_TEXT, "ok ok", "i"]
MAX_LENGTH = 12


@pytest.fixture(scope="module")
def models():
    return {f: random_model_and_tokenizer(f, SAMPLE_TEXTS) for f in FAMILIES}


@pytest.fixture(scope="module")
def one_at_a_time(models):
    """family -> text -> {(kind, pool): (n_layers, units)} from single-text runs."""
    refs = {}
    for family, (model, tokenizer) in models.items():
        extractor = Extractor(model, tokenizer, out_dtype="float32", max_length=MAX_LENGTH)
        refs[family] = {}
        for text in POOL_OF_TEXTS:
            block = extractor.extract([text])
            refs[family][text] = {key: value[:, 0] for key, value in block.features.items()}
    return refs


def test_block_shapes_and_counts(tiny):
    family, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, max_length=MAX_LENGTH)
    block = extractor.extract(SAMPLE_TEXTS + [LONG_TEXT])
    assert isinstance(block, BlockFeatures)
    assert extractor.layers == {"hidden": [0, 1, 2, 3], "ffn": [0, 1, 2]}
    assert extractor.units == {"hidden": 32, "ffn": 128} and extractor.n_layers == 3
    assert sorted(block.features) == sorted((k, p) for k in KINDS for p in POOLS)
    for (kind, _), array in block.features.items():
        assert array.shape == (len(extractor.layers[kind]), 9, extractor.units[kind])
        assert array.dtype == np.float16 and np.isfinite(array).all()
    full = [len(i) for i in tokenizer(SAMPLE_TEXTS + [LONG_TEXT])["input_ids"]]
    assert block.n_tokens == sum(min(n, MAX_LENGTH) for n in full)
    assert block.n_truncated == sum(n > MAX_LENGTH for n in full) >= 1
    assert block.n_slots >= block.n_tokens
    assert block.padding_ratio == block.n_slots / block.n_tokens


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, len(POOL_OF_TEXTS) - 1), min_size=1, max_size=8),
       side=st.sampled_from(["left", "right"]),
       budget=st.sampled_from([MAX_LENGTH, 2 * MAX_LENGTH, 64]))
@pytest.mark.parametrize("family", FAMILIES)
def test_features_do_not_depend_on_batch_or_padding_side(models, one_at_a_time, family, picks,
                                                         side, budget):
    model, tokenizer = models[family]
    texts = [POOL_OF_TEXTS[i] for i in picks]
    extractor = Extractor(model, tokenizer, out_dtype="float32", max_length=MAX_LENGTH,
                          token_budget=budget, padding_side=side)
    block = extractor.extract(texts)
    for row, text in enumerate(texts):
        for key, expected in one_at_a_time[family][text].items():
            np.testing.assert_allclose(block.features[key][:, row], expected, rtol=1e-5,
                                       atol=1e-5, err_msg=f"{family} {key} {text!r}")


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_one_token_text_batched_with_a_max_length_text(models, one_at_a_time, family, side):
    model, tokenizer = models[family]
    assert len(tokenizer("i")["input_ids"]) == 1
    extractor = Extractor(model, tokenizer, out_dtype="float32", max_length=MAX_LENGTH,
                          padding_side=side, max_pad_fraction=1.0)
    block = extractor.extract(["i", LONG_TEXT])
    assert block.n_slots == 2 * MAX_LENGTH and block.n_tokens == 1 + MAX_LENGTH  # one batch
    for row, text in enumerate(["i", LONG_TEXT]):
        for key, expected in one_at_a_time[family][text].items():
            np.testing.assert_allclose(block.features[key][:, row], expected, rtol=1e-5, atol=1e-5)
    single = block.features[("hidden", "single")][:, 0]
    mean = block.features[("hidden", "mean")][:, 0]
    np.testing.assert_allclose(single, mean, rtol=1e-5, atol=1e-6)  # one token: all pools agree


def test_one_token_text_in_an_encoder():
    from stc_gpu.models.synthetic import random_model, simple_tokenizer

    model = random_model("bert")
    tokenizer = simple_tokenizer(SAMPLE_TEXTS, decoder=True)  # no [CLS]/[SEP]: "i" is one token
    extractor = Extractor(model, tokenizer, out_dtype="float32", max_length=MAX_LENGTH,
                          max_pad_fraction=1.0)
    block = extractor.extract(["i", LONG_TEXT])
    assert block.n_slots == 2 * MAX_LENGTH and block.n_tokens == 1 + MAX_LENGTH
    for row, text in enumerate(["i", LONG_TEXT]):
        alone = extractor.extract([text]).features
        for key, expected in alone.items():
            np.testing.assert_allclose(block.features[key][:, row], expected[:, 0], rtol=1e-5,
                                       atol=1e-5)


def _block_calls(extractor):
    calls = [0] * extractor.n_layers
    hooks = [block.register_forward_pre_hook(lambda m, a, i=i: calls.__setitem__(i, calls[i] + 1))
             for i, block in enumerate(extractor.adapter.blocks)]
    return calls, hooks


@pytest.mark.parametrize("kinds, expected", [(KINDS, [1, 1, 0]), (("hidden",), [1, 0, 0])])
def test_blocks_past_the_last_layer_never_run(tiny, kinds, expected):
    _, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, kinds=kinds, max_layer=1, max_pad_fraction=1.0)
    assert extractor.layers["hidden"] == [0, 1]
    calls, hooks = _block_calls(extractor)
    try:
        extractor.extract(SAMPLE_TEXTS[:2], progress=False)  # one batch
        assert calls == expected
        extractor.token_features(SAMPLE_TEXTS[:1])
        assert calls == [2 * c for c in expected]
    finally:
        for h in hooks:
            h.remove()


def test_final_norm_and_pooler_are_skipped():
    model, tokenizer = random_model_and_tokenizer("gpt2", SAMPLE_TEXTS)
    extractor = Extractor(model, tokenizer)
    called = []
    hook = model.ln_f.register_forward_hook(lambda *a: called.append(1))
    try:
        extractor.extract(SAMPLE_TEXTS[:2])
    finally:
        hook.remove()
    assert called == []


def _hook_counts(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_are_removed_even_on_error(tiny):
    _, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer)
    before = _hook_counts(model)

    def fail(*args):
        raise RuntimeError("boom")

    failing = extractor.adapter.blocks[1].register_forward_hook(fail)
    with pytest.raises(RuntimeError, match="boom"):
        extractor.extract(SAMPLE_TEXTS)
    failing.remove()
    assert _hook_counts(model) == before
    extractor.extract(SAMPLE_TEXTS[:1])  # still usable
    assert _hook_counts(model) == before


@pytest.mark.parametrize("family", ["gpt2", "distilbert"])
def test_layer_and_kind_selection(models, family):
    model, tokenizer = models[family]
    ex = Extractor(model, tokenizer, kinds=("ffn",), pools=("max",), layers=[2, 0])
    assert ex.layers == {"ffn": [0, 2]} and ex.units == {"ffn": 128}
    block = ex.extract(SAMPLE_TEXTS[:3])
    assert list(block.features) == [("ffn", "max")]
    full = Extractor(model, tokenizer).extract(SAMPLE_TEXTS[:3])
    np.testing.assert_array_equal(block.features[("ffn", "max")],
                                  full.features[("ffn", "max")][[0, 2]])
    ex = Extractor(model, tokenizer, layers={"hidden": [3], "ffn": [1]})
    assert ex.layers == {"hidden": [3], "ffn": [1]}
    assert Extractor(model, tokenizer, max_layer=3).layers == {"hidden": [0, 1, 2, 3],
                                                                "ffn": [0, 1, 2]}


@pytest.mark.parametrize("kwargs, message", [
    ({"layers": [4]}, r"hidden layers must be in 0..3"),
    ({"layers": {"hidden": [0], "ffn": [3]}}, r"ffn layers must be in 0..2"),
    ({"layers": [0], "max_layer": 1}, "not both"),
    ({"max_layer": 9}, "max_layer"),
    ({"kinds": ("attn",)}, "kinds"),
    ({"pools": ("median",)}, "pools"),
    ({"out_dtype": "int8"}, "out_dtype"),
    ({"dtype": "float16"}, "not supported on CPU"),
    ({"max_length": 64, "token_budget": 32}, "token_budget"),
    ({"padding_side": "middle"}, "padding_side"),
    ({"pool_backend": "triton"}, "triton"),
])
def test_bad_arguments_are_rejected(models, kwargs, message):
    model, tokenizer = models["bert"]
    with pytest.raises(ValueError, match=message):
        Extractor(model, tokenizer, device="cpu", **kwargs)


@pytest.mark.parametrize("family", ["roberta", "llama"])
def test_bfloat16_on_cpu(family):
    model, tokenizer = random_model_and_tokenizer(family, SAMPLE_TEXTS)
    ex32 = Extractor(model, tokenizer, out_dtype="float32")
    reference = ex32.extract(SAMPLE_TEXTS[:4]).features
    ex16 = Extractor(model, tokenizer, dtype="bfloat16", out_dtype="float32")
    assert next(model.parameters()).dtype == torch.bfloat16
    got = ex16.extract(SAMPLE_TEXTS[:4]).features
    for key in reference:
        np.testing.assert_allclose(got[key], reference[key], rtol=0.1, atol=0.1)


def test_describe_is_json_and_deterministic(tiny):
    family, model, tokenizer = tiny
    first = Extractor(model, tokenizer, model_name="tiny", max_length=MAX_LENGTH)
    first.extract([LONG_TEXT])  # sets the tokenizer's truncation state
    described = first.describe()
    assert json.loads(json.dumps(described)) == described
    assert described["family"] == family and described["model_name"] == "tiny"
    assert described["dtype"] == "float32" and described["out_dtype"] == "float16"
    assert described["layers"] == {"hidden": [0, 1, 2, 3], "ffn": [0, 1, 2]}
    again = Extractor(model, tokenizer, model_name="tiny", max_length=MAX_LENGTH).describe()
    assert again == described
    other_model, other_tokenizer = random_model_and_tokenizer(family, SAMPLE_TEXTS[:2], seed=1)
    other = Extractor(other_model, other_tokenizer).describe()
    assert other["weights_sha256"] != described["weights_sha256"]
    assert other["tokenizer_sha256"] != described["tokenizer_sha256"]


def test_weights_hash_does_not_depend_on_compute_dtype():
    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    fp32 = Extractor(model, tokenizer).describe()["weights_sha256"]
    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    assert Extractor(model, tokenizer, dtype="bfloat16").describe()["weights_sha256"] == fp32


def test_fingerprint_holds_the_feature_format_not_the_package_version(monkeypatch):
    import stc_gpu
    from stc_gpu.extract import extractor as extractor_module
    from stc_gpu.store import model_fingerprint

    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    extractor = Extractor(model, tokenizer)
    before = model_fingerprint(extractor.describe())
    assert extractor.describe()["feature_format"] == extractor_module.FEATURE_FORMAT
    monkeypatch.setattr(stc_gpu, "__version__", "99.1.0")
    assert model_fingerprint(extractor.describe()) == before  # a release keeps every entry
    assert "99.1.0" not in json.dumps(extractor.describe())
    monkeypatch.setattr(extractor_module, "FEATURE_FORMAT", extractor_module.FEATURE_FORMAT + 1)
    assert model_fingerprint(extractor.describe()) != before  # new stored bytes: new entries


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_chunked_feed_forward_pools_whole_sequences(family):
    """``chunk_size_feed_forward > 0`` runs the FFN per slice of 2 tokens; the features are those
    of the unchunked model (same weights), FFN sites included."""
    from transformers import AutoModel

    from stc_gpu.models.synthetic import random_config, simple_tokenizer

    tokenizer = simple_tokenizer(SAMPLE_TEXTS)
    runs = {}
    for chunk in (0, 2):
        config = random_config(family)
        config.chunk_size_feed_forward = chunk
        torch.manual_seed(0)
        model = AutoModel.from_config(config).eval()
        runs[chunk] = Extractor(model, tokenizer, out_dtype="float32").extract(SAMPLE_TEXTS)
        if chunk:
            assert not any(getattr(m, "chunk_size_feed_forward", 0) for m in model.modules())
    for key, expected in runs[0].features.items():
        np.testing.assert_allclose(runs[2].features[key], expected, rtol=1e-5, atol=1e-5,
                                   err_msg=str(key))


def test_progress(models):
    model, tokenizer = models["gpt2"]
    extractor = Extractor(model, tokenizer, token_budget=64)

    class Counter:
        n = 0

        def update(self, n):
            self.n += n

    counter = Counter()
    extractor.extract(SAMPLE_TEXTS, progress=counter)
    assert counter.n == len(SAMPLE_TEXTS)
    extractor.extract(SAMPLE_TEXTS, progress=True)


def test_token_features(tiny):
    family, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, max_length=MAX_LENGTH, layers=[1])
    texts = [SAMPLE_TEXTS[0], "ok", LONG_TEXT]
    result = extractor.token_features(texts)
    for text, tf in zip(texts, result):
        ids = tokenizer(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert tf.tokens == tokenizer.convert_ids_to_tokens(ids)
        assert sorted(tf.features) == [("ffn", 1), ("hidden", 1)]
        assert tf.features[("hidden", 1)].shape == (len(ids), 32)
        assert tf.features[("ffn", 1)].shape == (len(ids), 128)
        assert tf.features[("ffn", 1)].dtype == np.float32
    pooled = Extractor(model, tokenizer, max_length=MAX_LENGTH, layers=[1],
                       out_dtype="float32").extract(texts).features
    for row, tf in enumerate(result):
        np.testing.assert_allclose(pooled[("ffn", "mean")][0, row],
                                   tf.features[("ffn", 1)].mean(0), rtol=1e-5, atol=1e-6)


def test_empty_input(models):
    model, tokenizer = models["llama"]
    block = Extractor(model, tokenizer).extract([])
    assert block.n_tokens == 0 and block.features[("hidden", "mean")].shape == (4, 0, 32)


@pytest.mark.integration
def test_minilm_from_pretrained():
    extractor = Extractor.from_pretrained("all-MiniLM-L6-v2", max_layer=2, pools=("mean",))
    assert extractor.describe()["model_name"] == "all-MiniLM-L6-v2"
    assert extractor.units == {"hidden": 384, "ffn": 1536} and extractor.n_layers == 6
    block = extractor.extract(SAMPLE_TEXTS[:3])
    assert block.features[("ffn", "mean")].shape == (3, 3, 1536)
