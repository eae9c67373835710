"""Capture sites per family: hidden states vs output_hidden_states, FFN activations vs weights."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.conftest import SAMPLE_TEXTS

from stc_gpu.extract import Extractor
from stc_gpu.models import SUPPORTED_MODEL_TYPES, adapter_for
from stc_gpu.models.adapters import DECODER_FAMILIES
from stc_gpu.models.synthetic import random_model_and_tokenizer

TEXTS = SAMPLE_TEXTS[:4]


def _hf_hidden_states(model, tokenizer, text):
    enc = tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        return model(**enc, output_hidden_states=True).hidden_states


def _ffn_inputs_and_hand_activations(family, model, tokenizer, text):
    """Per layer: A computed by hand from the FFN's first linear(s) and the input it received."""
    adapter = adapter_for(model)
    inputs, hooks = {}, []
    first_linear = {
        "gpt2": lambda b: b.mlp.c_fc, "bert": lambda b: b.intermediate.dense,
        "roberta": lambda b: b.intermediate.dense, "distilbert": lambda b: b.ffn.lin1,
        "llama": lambda b: b.mlp.gate_proj}[family]
    for layer, block in enumerate(adapter.blocks):
        hooks.append(first_linear(block).register_forward_pre_hook(
            lambda m, args, layer=layer: inputs.__setitem__(layer, args[0][0].detach())))
    enc = tokenizer([text], return_tensors="pt")
    try:
        with torch.no_grad():
            model(**enc)
    finally:
        for h in hooks:
            h.remove()
    acts = {}
    for layer, block in enumerate(adapter.blocks):
        h = inputs[layer]
        if family == "gpt2":  # Conv1D: weight is (in, out); GPT-2 uses the tanh GELU
            acts[layer] = F.gelu(h @ block.mlp.c_fc.weight + block.mlp.c_fc.bias, approximate="tanh")
        elif family in ("bert", "roberta"):
            lin = block.intermediate.dense
            acts[layer] = F.gelu(h @ lin.weight.T + lin.bias)
        elif family == "distilbert":
            lin = block.ffn.lin1
            acts[layer] = F.gelu(h @ lin.weight.T + lin.bias)
        else:  # llama: act(gate) * up
            acts[layer] = F.silu(h @ block.mlp.gate_proj.weight.T) * (h @ block.mlp.up_proj.weight.T)
    return acts


def test_adapter_describes_sites(tiny):
    family, model, _ = tiny
    adapter = adapter_for(model)
    assert adapter.family == family
    assert adapter.n_layers == 3
    assert adapter.hidden_size == 32 and adapter.ffn_width == 128
    assert len(adapter.ffn_down) == 3
    assert adapter.decoder == (family in ("gpt2", "llama")) == (family in DECODER_FAMILIES)


def test_unknown_architecture_lists_supported():
    from transformers import T5Config, T5Model

    model = T5Model(T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, vocab_size=64))
    with pytest.raises(ValueError, match="unsupported architecture 't5'.*gpt2.*llama"):
        adapter_for(model)


def test_supported_types_cover_every_family():
    assert {"gpt2", "bert", "roberta", "distilbert", "llama"} <= set(SUPPORTED_MODEL_TYPES.values())


def test_head_models_use_their_base_model():
    from transformers import GPT2LMHeadModel

    from stc_gpu.models.synthetic import random_config

    model = GPT2LMHeadModel(random_config("gpt2"))
    assert adapter_for(model).base is model.transformer


def test_hidden_states_match_output_hidden_states(tiny):
    family, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, kinds=("hidden",), out_dtype="float32")
    for text in TEXTS:
        expected = _hf_hidden_states(model, tokenizer, text)
        got = extractor.token_features([text])[0].features
        last = len(expected) - 1
        for layer in range(last):
            torch.testing.assert_close(torch.from_numpy(got[("hidden", layer)]), expected[layer][0])
        if family in ("gpt2", "llama"):
            # hidden.L is the last block's output before the final norm (ln_f / norm)
            final_norm = model.ln_f if family == "gpt2" else model.norm
            with torch.no_grad():
                normed = final_norm(torch.from_numpy(got[("hidden", last)]))
            torch.testing.assert_close(normed, expected[last][0])
            assert not torch.allclose(torch.from_numpy(got[("hidden", last)]), expected[last][0])
        else:
            torch.testing.assert_close(torch.from_numpy(got[("hidden", last)]), expected[last][0])


def test_ffn_activations_match_hand_computation(tiny):
    family, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, kinds=("ffn",), out_dtype="float32")
    for text in TEXTS:
        expected = _ffn_inputs_and_hand_activations(family, model, tokenizer, text)
        got = extractor.token_features([text])[0].features
        assert sorted(got) == [("ffn", layer) for layer in range(3)]
        for layer, acts in expected.items():
            torch.testing.assert_close(torch.from_numpy(got[("ffn", layer)]), acts,
                                       rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_llama_style_relatives(model_type):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model(model_type, num_hidden_layers=2, hidden_size=32,
                                  num_attention_heads=4, num_key_value_heads=2,
                                  intermediate_size=64, vocab_size=512)
    _, tokenizer = random_model_and_tokenizer("llama", SAMPLE_TEXTS)
    torch.manual_seed(0)
    model = AutoModel.from_config(config).eval()
    adapter = adapter_for(model)
    assert (adapter.family, adapter.ffn_width, adapter.decoder) == ("llama", 64, True)
    expected = _ffn_inputs_and_hand_activations("llama", model, tokenizer, TEXTS[0])
    got = Extractor(model, tokenizer, out_dtype="float32").token_features([TEXTS[0]])[0].features
    torch.testing.assert_close(torch.from_numpy(got[("ffn", 1)]), expected[1], rtol=1e-5, atol=1e-5)


@pytest.mark.integration
def test_minilm_hidden_states_match_output_hidden_states():
    from stc_gpu.models.loading import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("all-MiniLM-L6-v2")
    extractor = Extractor(model, tokenizer, kinds=("hidden",), out_dtype="float32")
    text = SAMPLE_TEXTS[0]
    expected = _hf_hidden_states(model, tokenizer, text)
    got = extractor.token_features([text])[0].features
    assert len(expected) == 7 == len(got)
    for layer, states in enumerate(expected):
        torch.testing.assert_close(torch.from_numpy(got[("hidden", layer)]), states[0],
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_final_site_is_the_models_last_hidden_state(tiny, padding_side):
    """final.L is Hugging Face's last_hidden_state (after GPT-2's ln_f / Llama's norm), pooled as
    every site is; hidden.L stays before the norm."""
    family, model, tokenizer = tiny
    extractor = Extractor(model, tokenizer, kinds=("hidden", "final"), out_dtype="float32",
                          padding_side=padding_side)
    assert extractor.layers["final"] == [3] and extractor.units["final"] == 32
    got = extractor.extract(TEXTS).features
    for row, text in enumerate(TEXTS):
        enc = tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            last = model(**enc).last_hidden_state[0]
        single = last[-1] if family in ("gpt2", "llama") else last[0]
        torch.testing.assert_close(torch.from_numpy(got["final", "single"][0, row]), single,
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.from_numpy(got["final", "mean"][0, row]), last.mean(0),
                                   rtol=1e-5, atol=1e-5)
    before_norm = torch.from_numpy(got["hidden", "single"][-1])
    after_norm = torch.from_numpy(got["final", "single"][0])
    assert torch.allclose(before_norm, after_norm) == (family not in ("gpt2", "llama"))


def test_final_site_needs_every_block():
    model, tokenizer = random_model_and_tokenizer("gpt2", SAMPLE_TEXTS)
    with pytest.raises(ValueError, match="final site .* every block"):
        Extractor(model, tokenizer, kinds=("hidden", "final"), max_layer=1)
    ex = Extractor(model, tokenizer, kinds=("ffn", "final"), layers=[0])
    assert ex.layers == {"ffn": [0], "final": [3]}
