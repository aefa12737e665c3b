"""The model on transformers' own machinery: the attention interface, output capture, checkpoint key renaming,
gradient checkpointing, torch.compile, and no value checks (device syncs) in the forward pass."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AttentionInterface

from mgcmt import MGCMTForTokenClassification
from mgcmt.modeling_mgcmt import ATTENTION_OUTPUTS, eager_attention_forward

from .helpers import MGCMTModelTester


@pytest.fixture
def tester():
    return MGCMTModelTester()


def no_dropout(tester, **kwargs):
    """A config without dropout anywhere (MGCMT's layers and the text encoder's), so that two runs can be compared."""
    config, inputs = tester.prepare_config_and_inputs(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **kwargs)
    config.text_config.hidden_dropout_prob = config.text_config.attention_probs_dropout_prob = 0.0
    return config, inputs


def test_sdpa_eager_and_registered_attention_agree(tester, tmp_path):
    config, inputs = no_dropout(tester)
    torch.manual_seed(0)
    MGCMTForTokenClassification(config).save_pretrained(tmp_path)
    calls = []

    def counting_attention(module, query, key, value, attention_mask, **kwargs):  # MGCMT gives SDPA's boolean mask
        calls.append(type(module).__name__)
        if attention_mask is not None and attention_mask.dtype == torch.bool:
            attention_mask = torch.zeros(attention_mask.shape).masked_fill(~attention_mask, torch.finfo(query.dtype).min)
        return eager_attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register("mgcmt_counting", counting_attention)
    logits = {}
    for implementation in ("eager", "sdpa", "mgcmt_counting"):
        # MGCMT's layers get the implementation; the text encoder stays on SDPA (its masks are its own business)
        choice = {"": implementation, "text_config": "sdpa"}
        model = MGCMTForTokenClassification.from_pretrained(tmp_path, attn_implementation=choice).eval()
        assert model.config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = model(**inputs).logits
    torch.testing.assert_close(logits["sdpa"], logits["eager"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits["mgcmt_counting"], logits["eager"])
    # every MGCMT attention layer (not the text encoder's: its config is its own) went through the registered function
    layers = sum(type(module).__name__ == "MGCMTAttention" for module in model.modules())
    assert calls.count("MGCMTAttention") == layers  # each MGCMT attention layer, once


def test_attentions_are_captured_from_their_modules(tester):
    config, inputs = no_dropout(tester)
    model = MGCMTForTokenClassification(config).eval()
    with torch.no_grad():
        plain = model(**inputs)
        out = model(**inputs, output_attentions=True)
    torch.testing.assert_close(out.logits, plain.logits, rtol=1e-5, atol=1e-5)
    assert all(getattr(plain, name) is None for name in ATTENTION_OUTPUTS)
    words, regions, objects = 4, tester.num_regions, tester.max_objects
    shapes = {"text_image_attentions": (words, regions), "image_text_attentions": (regions, words),
              "text_image_superior_attentions": (words, regions), "text_object_attentions": (words, objects),
              "object_text_attentions": (objects, words), "text_object_superior_attentions": (words, objects)}
    for name, (queries, keys) in shapes.items():
        maps = getattr(out, name)
        assert len(maps) == config.cross_modal_layers and maps[0].shape == (2, config.num_attention_heads, queries, keys)
        torch.testing.assert_close(maps[0].sum(-1), torch.ones(maps[0].shape[:-1]))
    assert out.text_object_attentions[0][1, :, :, 1:].abs().max() < 1e-6  # row 1's empty slots are masked
    without_image = MGCMTForTokenClassification(tester.get_config(use_text_image=False)).eval()
    with torch.no_grad():
        partial = without_image(**inputs, output_attentions=True)
    assert partial.text_image_attentions is None and len(partial.text_object_attentions) == 1
    assert isinstance(model(**inputs, return_dict=False), tuple)


LEGACY = {"semantic_augmentation.": "text_input.", "gate.basic_proj.": "gate.proj_a.", "gate.superior_proj.": "gate.proj_b."}


def legacy_names(state: dict) -> dict:
    """The key names of checkpoints written before the modules were renamed."""
    renamed = {}
    for key, value in state.items():
        for new, old in LEGACY.items():
            key = key.replace(new, old)
        renamed[key] = value
    return renamed


@pytest.mark.parametrize("names", ["old", "new"])
def test_checkpoints_with_old_or_new_key_names_load_the_same_model(tester, tmp_path, names):
    config, inputs = no_dropout(tester)
    model = MGCMTForTokenClassification(config).eval()
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert "mgcmt.semantic_augmentation.dense.weight" in saved and "mgcmt.text_image.gate.basic_proj.weight" in saved
    if names == "old":  # as an earlier version wrote it
        old = legacy_names(saved)
        assert "mgcmt.text_input.dense.weight" in old and "mgcmt.text_object.gate.proj_b.weight" in old
        save_file(old, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded, info = MGCMTForTokenClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**inputs).logits, model(**inputs).logits)
    # the Trainer's resume and best-model reload use torch's load_state_dict on the file: the same names work there
    fresh = MGCMTForTokenClassification(config).eval()
    result = fresh.load_state_dict(load_file(tmp_path / "model.safetensors"), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        torch.testing.assert_close(fresh(**inputs).logits, model(**inputs).logits)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tester):
    config, inputs = no_dropout(tester)
    assert MGCMTForTokenClassification.supports_gradient_checkpointing
    torch.manual_seed(0)
    plain = MGCMTForTokenClassification(config).train()
    checkpointed = MGCMTForTokenClassification(config).train()
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.gradient_checkpointing_enable()
    layers = [m for m in checkpointed.modules() if getattr(m, "gradient_checkpointing", False)]
    assert any(type(m).__name__ == "MGCMTAttentionLayer" for m in layers)
    plain(**inputs).loss.backward()
    checkpointed(**inputs).loss.backward()
    grads = dict(plain.named_parameters())
    for name, parameter in checkpointed.named_parameters():
        if parameter.grad is not None:
            torch.testing.assert_close(parameter.grad, grads[name].grad, rtol=1e-4, atol=1e-6)


def test_the_base_model_compiles_without_a_graph_break(tester):
    # fullgraph=True fails on any value read back to Python (`if tensor.any()`, `.tolist()`): none left in forward
    config, inputs = no_dropout(tester)
    inputs.pop("labels")
    model = MGCMTForTokenClassification(config).eval()
    compiled = torch.compile(model.mgcmt, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(**inputs).fused_hidden_state, model.mgcmt(**inputs).fused_hidden_state)


def test_a_compiled_training_step_matches_eager(tester):
    config, inputs = no_dropout(tester)
    torch.manual_seed(0)
    model = MGCMTForTokenClassification(config).train()
    expected = model(**inputs).loss
    expected.backward()
    grad = model.classifier.weight.grad.clone()
    model.zero_grad()
    compiled = torch.compile(model, backend="aot_eager")  # dynamo and AOT autograd; inductor's C++ build is slow on CPU
    loss = compiled(**inputs).loss
    loss.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.classifier.weight.grad, grad, rtol=1e-4, atol=1e-6)
