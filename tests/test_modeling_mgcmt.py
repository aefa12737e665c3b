import itertools
import random

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForTokenClassification

from mgcmt import MGCMTForTokenClassification, MGCMTModel
from mgcmt.configuration_mgcmt import ABLATION_SWITCHES
from mgcmt.modeling_mgcmt import MGCMTGate, MGCMTWordPooling

from .helpers import MGCMTModelTester

SWITCHES = ABLATION_SWITCHES


def legal_switch_combinations():
    """Every switch off on its own, all pairs, and 24 random combinations (seeded)."""
    combos = [{}]
    combos += [{name: False} for name in SWITCHES]
    combos += [{a: False, b: False} for a, b in itertools.combinations(SWITCHES, 2)]
    rng = random.Random(0)
    combos += [{name: rng.random() < 0.5 for name in SWITCHES} for _ in range(24)]
    legal = []
    for combo in combos:
        visual = combo.get("use_text_image", True) or combo.get("use_text_object", True)
        levels = combo.get("use_basic_level", True) or combo.get("use_superior_level", True)
        if visual and not levels:
            continue
        legal.append(combo)
    return legal


def names(model):
    return {name for name, _ in model.named_parameters()}


@pytest.fixture
def tester():
    return MGCMTModelTester()


def on(device, inputs):
    return {key: None if value is None else value.to(device) for key, value in inputs.items()}


def test_output_shapes_and_predictions(tester, device):
    config, inputs = tester.prepare_config_and_inputs()
    inputs = on(device, inputs)
    model = MGCMTForTokenClassification(config).eval().to(device)
    out = model(**inputs)
    assert out.predictions.device.type == device.type
    assert out.logits.shape == (2, 4, config.num_labels)
    assert out.esd_logits.shape == (2, 4, 3)
    assert out.word_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert out.predictions.shape == (2, 4)
    assert (out.predictions[1, 2:] == -100).all()
    real = out.predictions[out.word_mask]
    assert ((real >= 0) & (real < config.num_labels)).all()
    base = model.mgcmt(**{k: v for k, v in inputs.items() if k != "labels"})
    assert base.fused_hidden_state.shape == (2, 4, 2 * config.hidden_size)
    assert base.last_hidden_state.shape == (2, 4, config.hidden_size)


def test_loss_only_with_labels_and_equals_eq19(tester):
    config, inputs = tester.prepare_config_and_inputs()
    model = MGCMTForTokenClassification(config).eval()
    labels = inputs.pop("labels")
    out = model(**inputs)
    assert out.loss is None and out.main_loss is None and out.esd_loss is None
    out = model(**inputs, labels=labels)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.main_loss + 0.5 * out.esd_loss)
    # the main loss is the CRF's mean negative log-likelihood over the tweets
    expected = -model.crf(out.logits, labels.masked_fill(labels < 0, 0), mask=out.word_mask, reduction="mean")
    torch.testing.assert_close(out.main_loss, expected)
    no_esd = MGCMTForTokenClassification(tester.get_config(use_entity_span_detection=False)).eval()
    out = no_esd(**inputs, labels=labels)
    assert out.esd_loss is None and out.esd_logits is None
    torch.testing.assert_close(out.loss, out.main_loss)


def test_viterbi_predictions_are_the_best_path(tester, device):
    config, inputs = tester.prepare_config_and_inputs()
    model = MGCMTForTokenClassification(config).eval().to(device)
    inputs.pop("labels")
    out = model(**on(device, inputs))
    # brute force over all label sequences of the 2-word tweet (row 1): the CRF score of Eq. 16
    emissions, crf = out.logits[1].detach().cpu(), model.crf.requires_grad_(False).cpu()

    def score(path):
        first, second = path
        return float(
            crf.start_transitions[first] + emissions[0, first] + crf.transitions[first, second]
            + emissions[1, second] + crf.end_transitions[second]
        )

    best = max(itertools.product(range(config.num_labels), repeat=2), key=score)
    assert out.predictions[1, :2].tolist() == list(best)


@pytest.mark.parametrize("combo", legal_switch_combinations(), ids=lambda c: "-".join(f"no_{k[4:]}" for k, v in c.items() if not v) or "full")
def test_every_parameter_gets_a_gradient(tester, combo, device):
    config, inputs = tester.prepare_config_and_inputs(**combo)
    torch.manual_seed(0)
    model = MGCMTForTokenClassification(config).train().to(device)
    model(**on(device, inputs)).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_first_sub_token_pooling_trains(tester):
    config, inputs = tester.prepare_config_and_inputs(word_pooling="first")
    model = MGCMTForTokenClassification(config).train()
    model(**inputs).loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "switch, removed",
    [
        ("use_semantic_augmentation", ["mgcmt.semantic_augmentation."]),
        ("use_text_image", ["mgcmt.grid_encoder.", "mgcmt.text_image.", "mgcmt.fusion."]),
        ("use_text_object", ["mgcmt.object_encoder.", "mgcmt.text_object.", "mgcmt.fusion."]),
        ("use_entity_span_detection", ["esd_transformer.", "esd_classifier.", "esd_crf."]),
        ("use_text_encoder", ["mgcmt.text_transformer."]),
        ("use_image_encoder", ["mgcmt.grid_encoder.encoder."]),
        ("use_object_encoder", ["mgcmt.object_encoder.encoder."]),
        (
            "use_basic_level",
            ["mgcmt.text_image.basic.", "mgcmt.text_object.basic.", "mgcmt.text_image.gate.", "mgcmt.text_object.gate."],
        ),
        (
            "use_superior_level",
            [
                "mgcmt.text_image.superior.",
                "mgcmt.text_image.vision_to_text.",
                "mgcmt.text_object.superior.",
                "mgcmt.text_object.vision_to_text.",
                "mgcmt.text_image.gate.",
                "mgcmt.text_object.gate.",
            ],
        ),
    ],
)
def test_switches_remove_their_modules(tester, switch, removed):
    full = names(MGCMTForTokenClassification(tester.get_config()))
    ablated = names(MGCMTForTokenClassification(tester.get_config(**{switch: False})))
    assert ablated < full
    gone = full - ablated
    for prefix in removed:
        assert any(name.startswith(prefix) for name in gone), prefix
        assert not any(name.startswith(prefix) for name in ablated), prefix
    # nothing but the listed modules (and the gate that needs both levels) disappears
    allowed = tuple(removed) + ("mgcmt.text_image.gate.", "mgcmt.text_object.gate.")
    assert all(name.startswith(allowed) for name in gone)


def test_one_visual_module_feeds_p_directly(tester):
    config = tester.get_config(use_text_object=False)
    model = MGCMTForTokenClassification(config)
    assert model.mgcmt.fusion is None and model.classifier.in_features == 2 * config.hidden_size
    text_only = MGCMTForTokenClassification(tester.get_config(use_text_object=False, use_text_image=False))
    assert text_only.classifier.in_features == config.hidden_size


def real_logits(model, inputs, rows=slice(None)):
    out = model(**on(model.device, inputs))
    return [out.logits[row, : int(out.word_mask[row].sum())] for row in range(out.logits.shape[0])][rows]


def test_padding_is_invisible(tester, device):
    config, inputs = tester.prepare_config_and_inputs()
    inputs.pop("labels")
    model = MGCMTForTokenClassification(config).eval().to(device)
    reference = real_logits(model, inputs)

    padded = dict(inputs)
    garbage = torch.randn
    # two more padded sub-tokens, with arbitrary ids
    padded["input_ids"] = torch.cat([inputs["input_ids"], torch.randint(5, 99, (2, 2))], dim=1)
    padded["attention_mask"] = torch.cat([inputs["attention_mask"], torch.zeros(2, 2, dtype=torch.long)], dim=1)
    padded["token_word_index"] = torch.cat([inputs["token_word_index"], torch.zeros(2, 2, dtype=torch.long)], dim=1)
    # two more padded words, with arbitrary augmentation vectors
    padded["word_mask"] = torch.cat([inputs["word_mask"], torch.zeros(2, 2, dtype=torch.long)], dim=1)
    padded["augmentation_embeds"] = torch.cat([inputs["augmentation_embeds"], garbage(2, 2, 6)], dim=1)
    # one more padded image region with arbitrary features, one more empty object slot
    padded["image_features"] = torch.cat([inputs["image_features"], garbage(2, 1, 8) * 100], dim=1)
    padded["image_mask"] = torch.cat([inputs["image_mask"], torch.zeros(2, 1, dtype=torch.long)], dim=1)
    padded["object_ids"] = torch.cat([inputs["object_ids"], torch.zeros(2, 1, dtype=torch.long)], dim=1)
    for before, after in zip(reference, real_logits(model, padded)):
        torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-5)

    # a tweet's outputs do not depend on the other tweets of its batch (row 1 alone, trimmed to its length)
    alone = {k: v[1:2] for k, v in inputs.items()}
    alone.update(
        input_ids=inputs["input_ids"][1:2, :5],
        attention_mask=inputs["attention_mask"][1:2, :5],
        token_word_index=inputs["token_word_index"][1:2, :5],
        word_mask=inputs["word_mask"][1:2, :2],
        augmentation_embeds=inputs["augmentation_embeds"][1:2, :2],
        image_features=inputs["image_features"][1:2, :3],
        image_mask=inputs["image_mask"][1:2, :3],
        object_ids=inputs["object_ids"][1:2, :1],
    )
    torch.testing.assert_close(reference[1], real_logits(model, alone)[0], rtol=1e-5, atol=1e-5)


def test_tweets_without_objects_or_image(tester):
    config, inputs = tester.prepare_config_and_inputs()
    inputs.pop("labels")
    model = MGCMTForTokenClassification(config).eval()

    no_objects = dict(inputs, object_ids=torch.tensor([[3, 7, 1], [0, 0, 0]]))
    out = model(**no_objects, output_attentions=True)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss if out.loss is not None else out.logits).all()
    # the objectless tweet attends its empty slots uniformly: one "nothing seen" representation ...
    attention = out.text_object_attentions[0][1]  # (heads, words, slots)
    torch.testing.assert_close(attention, torch.full_like(attention, 1 / 3))
    # ... so the number of empty slots does not matter
    fewer = dict(inputs, object_ids=torch.tensor([[3, 7], [0, 0]]))
    fewer_objects_row0 = dict(inputs, object_ids=torch.tensor([[3, 7, 1, 0], [0, 0, 0, 0]]))
    torch.testing.assert_close(real_logits(model, no_objects)[1], real_logits(model, fewer_objects_row0)[1])
    assert torch.isfinite(model(**fewer).logits).all()
    no_objects_at_all = dict(inputs, object_ids=None)
    torch.testing.assert_close(real_logits(model, no_objects)[1], real_logits(model, no_objects_at_all)[1])

    # a tweet without image: its (arbitrary) features are ignored, like a batch passed no image at all
    no_image = dict(inputs, image_mask=torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]]))
    other_garbage = dict(no_image, image_features=inputs["image_features"] * 7 + 3)
    torch.testing.assert_close(real_logits(model, no_image)[1], real_logits(model, other_garbage)[1])
    assert torch.isfinite(model(**no_image).logits).all()
    no_image_at_all = dict(inputs, image_features=None, image_mask=None)
    torch.testing.assert_close(real_logits(model, no_image)[1], real_logits(model, no_image_at_all)[1])
    # row 0 keeps its image and objects: those change its outputs
    assert not torch.allclose(real_logits(model, inputs)[0], real_logits(model, no_image_at_all)[0])


def test_tweets_without_objects_or_image_send_no_gradient_to_the_visual_encoders(tester):
    # At initialisation (zero biases) a visual transformer turns zero vectors into a zero-variance post-LN
    # input; its gradient would be scaled by 1/sqrt(eps) per LayerNorm (about 1e12 through one layer).
    config, inputs = tester.prepare_config_and_inputs(layer_norm_eps=1e-12)
    model = MGCMTForTokenClassification(config).train()
    nothing_seen = dict(inputs, object_ids=torch.zeros_like(inputs["object_ids"]),
                        image_mask=torch.zeros_like(inputs["image_mask"]))
    model(**nothing_seen).loss.backward()
    norms = {name: p.grad.norm().item() for name, p in model.named_parameters() if p.grad is not None}
    visual = [n for n in norms if n.startswith(("mgcmt.object_encoder.encoder", "mgcmt.grid_encoder."))]
    assert visual and all(norms[n] == 0 for n in visual)
    assert max(norms.values()) < 1e3, max(norms.items(), key=lambda item: item[1])
    # the encoded "nothing seen" representation is zero vectors, as the paper's H
    model.zero_grad()
    seen_rows = dict(inputs, object_ids=torch.tensor([[3, 7, 1], [0, 0, 0]]))
    model(**seen_rows).loss.backward()
    assert model.mgcmt.object_encoder.encoder.layers[0].attention.output.bias.grad.norm() < 1e3


def test_attention_weights_are_real(tester):
    config, inputs = tester.prepare_config_and_inputs()
    inputs.pop("labels")
    model = MGCMTForTokenClassification(config).eval()
    plain = model(**inputs)
    out = model(**inputs, output_attentions=True)
    assert plain.text_image_attentions is None
    # the explicit path (with weights) and the SDPA path agree
    torch.testing.assert_close(plain.logits, out.logits, rtol=1e-5, atol=1e-5)
    text_image = out.text_image_attentions[0]
    assert text_image.shape == (2, 4, 4, 4)  # (batch, heads, words, regions)
    torch.testing.assert_close(text_image.sum(-1), torch.ones(2, 4, 4))
    assert (text_image[1, :, :, 3] == 0).all()  # the padded region gets no weight
    image_text = out.image_text_attentions[0]
    assert image_text.shape == (2, 4, 4, 4)  # (batch, heads, regions, words)
    assert (image_text[1, :, :, 2:] == 0).all()  # padded words get no weight
    objects = out.text_object_attentions[0]
    assert objects.shape == (2, 4, 4, 3)
    assert (objects[1, :, :, 1:] == 0).all()  # empty slots get no weight when an object exists
    assert out.text_object_superior_attentions[0].shape == (2, 4, 4, 3)
    # different inputs give different weights (not placeholders)
    other = model(**dict(inputs, image_features=inputs["image_features"].flip(0)), output_attentions=True)
    assert not torch.allclose(other.text_image_attentions[0], text_image)


def test_gate_lies_between_its_inputs():
    torch.manual_seed(0)
    gate = MGCMTGate(16)
    a, b = torch.randn(3, 5, 16), torch.randn(3, 5, 16)
    out = gate(a, b)
    low, high = torch.minimum(a, b), torch.maximum(a, b)
    assert ((out >= low - 1e-6) & (out <= high + 1e-6)).all()
    assert not torch.allclose(out, a) and not torch.allclose(out, b)


def test_word_pooling_sums_or_takes_the_first_sub_token():
    states = torch.arange(2 * 6 * 3, dtype=torch.float).view(2, 6, 3)
    index = torch.tensor([[0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 2, 0]])
    summed = MGCMTWordPooling("sum")(states, index, num_words=3)
    torch.testing.assert_close(summed[0, 0], states[0, 1] + states[0, 2])
    torch.testing.assert_close(summed[1, 1], states[1, 2] + states[1, 3] + states[1, 4])
    assert (summed[:, 2] == 0).all()  # a word with no sub-token
    first = MGCMTWordPooling("first")(states, index, num_words=3)
    torch.testing.assert_close(first[0, 1], states[0, 3])
    torch.testing.assert_close(first[1, 1], states[1, 2])


def test_save_and_load_round_trip(tester, tmp_path, device):
    config, inputs = tester.prepare_config_and_inputs()
    inputs = on(device, inputs)
    model = MGCMTForTokenClassification(config).eval().to(device)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    for loader in (MGCMTForTokenClassification, AutoModelForTokenClassification):
        loaded, info = loader.from_pretrained(tmp_path, output_loading_info=True)
        assert isinstance(loaded, MGCMTForTokenClassification)
        assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
        loaded.eval().to(device)
        reference, state = model.state_dict(), loaded.state_dict()
        assert reference.keys() == state.keys()
        assert all(torch.equal(reference[key], state[key]) for key in reference)
        torch.testing.assert_close(model(**inputs).logits, loaded(**inputs).logits, rtol=0, atol=0)
    base = AutoModel.from_pretrained(tmp_path)
    assert isinstance(base, MGCMTModel)
    torch.testing.assert_close(base.fusion.weight, model.mgcmt.fusion.weight.cpu())


def test_a_crf_missing_from_the_checkpoint_is_initialised(tester, tmp_path):
    config, _ = tester.prepare_config_and_inputs()
    model = MGCMTForTokenClassification(config)
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    kept = {key: value for key, value in weights.items() if "crf." not in key}
    save_file(kept, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded, info = MGCMTForTokenClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert {key for key in info["missing_keys"]} == {key for key in weights if "crf." in key}
    for crf in (loaded.crf, loaded.esd_crf):
        for parameter in (crf.start_transitions, crf.end_transitions, crf.transitions):
            assert torch.isfinite(parameter).all() and parameter.abs().max() <= 0.1 and parameter.abs().max() > 0
    loaded.save_pretrained(tmp_path / "again")  # written under the checkpoint's key names (see the conversion mapping)
    state = load_file(tmp_path / "again" / "model.safetensors")
    assert all(torch.equal(state[key], value) for key, value in kept.items())  # nothing loaded was re-initialised


def test_new_layers_are_initialised_as_documented(tester):
    config = tester.get_config()
    model = MGCMTForTokenClassification(config)
    assert (model.mgcmt.object_encoder.embeddings.weight[0] == 0).all()  # the empty slot is the zero vector
    std = model.mgcmt.text_object.basic.layers[0].attention.query.weight.std().item()
    assert 0.01 < std < 0.03  # normal(0, initializer_range=0.02)
    assert (model.mgcmt.fusion.bias == 0).all()
    assert (model.mgcmt.text_image.basic.layers[0].ffn_norm.weight == 1).all()


@pytest.mark.parametrize(
    "change, message, values",
    [  # values: a check of values, made only on the debug path (config.check_input_values); the rest are shapes
        ({"token_word_index": None}, "`token_word_index` is required", False),
        ({"augmentation_embeds": None}, "augmentation_embeds", False),
        ({"image_features": torch.randn(2, 4, 5)}, "image_feature_size is 8", False),
        ({"object_ids": torch.tensor([[3, 7, 10], [4, 0, 0]])}, "[0, 10)", True),
        ({"labels": torch.tensor([[1, -100, 2, 3], [1, 2, -100, -100]])}, "rows [0]", True),
        ({"word_mask": torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])}, "batch index [1] have no word", True),
        ({"word_mask": torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]])}, "prefix of ones", True),
        ({"token_word_index": torch.full((2, 9), -1)}, "must be >= 0", True),
        ({"pixel_values": torch.randn(2, 3, 32, 32)}, "needs an image backbone", False),
    ],
)
def test_bad_inputs_raise_clear_errors(tester, change, message, values):
    config, inputs = tester.prepare_config_and_inputs(check_input_values=values)
    model = MGCMTForTokenClassification(config).eval()
    if "pixel_values" in change:
        inputs.pop("image_features")
    inputs.update(change)
    with pytest.raises(ValueError) as error:
        model(**inputs)
    assert message in str(error.value)


def test_timm_backbone_takes_pixel_values(tester, tmp_path):
    pytest.importorskip("timm", reason="timm is in the 'features' extra")
    config, inputs = tester.prepare_config_and_inputs(image_backbone="resnet10t", image_feature_size=512, image_grid_length=49)
    model = MGCMTForTokenClassification(config)
    assert all(not p.requires_grad for p in model.mgcmt.image_backbone.parameters())
    inputs.pop("image_features")
    inputs.pop("image_mask")
    inputs["pixel_values"] = torch.randn(2, 3, 224, 224)
    model.train()
    assert not model.mgcmt.image_backbone.training  # frozen: batch norms stay in eval mode
    model(**inputs).loss.backward()
    assert all(p.grad is None for p in model.mgcmt.image_backbone.parameters())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = MGCMTForTokenClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(model(**inputs).logits, loaded(**inputs).logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="image_grid_length is 49"):
        model(**dict(inputs, pixel_values=torch.randn(2, 3, 160, 160)))
    # pretrained backbone weights from a local file (timm's own names)
    import timm

    torch.manual_seed(7)
    reference = timm.create_model("resnet10t")
    torch.save(reference.state_dict(), tmp_path / "resnet10t.pth")
    model.mgcmt.load_image_backbone_weights(str(tmp_path / "resnet10t.pth"))
    torch.testing.assert_close(model.mgcmt.image_backbone.conv1[0].weight, reference.conv1[0].weight)
    assert all(not p.requires_grad for p in model.mgcmt.image_backbone.parameters())  # still frozen


def _without_augmentation(inputs):
    """Inputs of the base model, E^A all zero."""
    inputs = {key: value for key, value in inputs.items() if key != "labels"}
    return {**inputs, "augmentation_embeds": torch.zeros_like(inputs["augmentation_embeds"])}


def _encoder_word_states(model, inputs):
    """E^B of Eq. 1 straight from the text encoder: the summed sub-token states of each word."""
    token_states = model.mgcmt.text_encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])[0]
    num_words = inputs["word_mask"].shape[1]
    return model.mgcmt.word_pooling(token_states, inputs["token_word_index"], num_words)


def test_identity_start_passes_the_encoder_word_states_through_eq4(tester):
    config, inputs = tester.prepare_config_and_inputs(use_text_encoder=False)
    assert config.text_path_init == "identity"
    model = MGCMTForTokenClassification(config).eval()
    dense = model.mgcmt.semantic_augmentation.dense
    hidden = config.hidden_size
    assert torch.equal(dense.weight[:, :hidden], torch.eye(hidden)) and (dense.bias == 0).all()
    assert 0.01 < dense.weight[:, hidden:].std().item() < 0.03  # a small E^A block
    with torch.no_grad():
        words = _encoder_word_states(model, inputs)
        zero_augmentation = model.mgcmt(**_without_augmentation(inputs))
        with_augmentation = model.mgcmt(**{k: v for k, v in inputs.items() if k != "labels"})
    mask = inputs["word_mask"].bool()
    torch.testing.assert_close(zero_augmentation.last_hidden_state[mask], words[mask])
    # E^A still enters (Eq. 4 is unchanged), only with a small weight at the start
    assert not torch.allclose(with_augmentation.last_hidden_state[mask], words[mask])


def test_identity_start_of_the_uni_text_transformer_is_its_layer_norms(tester):
    config, inputs = tester.prepare_config_and_inputs()
    model = MGCMTForTokenClassification(config).eval()
    layer = model.mgcmt.text_transformer.layers[0]
    assert (layer.attention.output.weight == 0).all() and (layer.ffn_output.weight == 0).all()
    with torch.no_grad():
        words = _encoder_word_states(model, inputs)
        out = model.mgcmt(**_without_augmentation(inputs))
    eps = config.layer_norm_eps
    expected = torch.nn.functional.layer_norm(torch.nn.functional.layer_norm(words, (config.hidden_size,), eps=eps),
                                              (config.hidden_size,), eps=eps)  # h = LN(LN(E)) at step 0
    mask = inputs["word_mask"].bool()
    torch.testing.assert_close(out.last_hidden_state[mask], expected[mask])
    # the zeroed projections still learn from the first step
    model.train()
    model(**inputs).loss.backward()
    assert layer.attention.output.weight.grad.abs().sum() > 0 and layer.ffn_output.weight.grad.abs().sum() > 0


def test_random_start_is_kept_as_an_option(tester, tmp_path):
    config, inputs = tester.prepare_config_and_inputs(text_path_init="random")
    model = MGCMTForTokenClassification(config).eval()
    dense = model.mgcmt.semantic_augmentation.dense
    hidden = config.hidden_size
    assert not torch.allclose(dense.weight[:, :hidden], torch.eye(hidden), atol=0.1)
    assert 0.01 < dense.weight.std().item() < 0.03
    assert model.mgcmt.text_transformer.layers[0].ffn_output.weight.abs().sum() > 0
    with torch.no_grad():
        words = _encoder_word_states(model, inputs)
        out = model.mgcmt(**_without_augmentation(inputs))
    mask = inputs["word_mask"].bool()
    assert not torch.allclose(out.last_hidden_state[mask], words[mask], atol=0.1)
    with pytest.raises(ValueError, match="text_path_init"):
        tester.get_config(text_path_init="zeros")


def test_identity_start_never_touches_loaded_weights(tester, tmp_path):
    config, inputs = tester.prepare_config_and_inputs()
    model = MGCMTForTokenClassification(config)
    with torch.no_grad():  # as after training: nothing left of the identity start
        model.mgcmt.semantic_augmentation.dense.weight.normal_()
        model.mgcmt.text_transformer.layers[0].ffn_output.weight.normal_()
    model.save_pretrained(tmp_path)
    loaded = MGCMTForTokenClassification.from_pretrained(tmp_path)
    reference, state = model.state_dict(), loaded.state_dict()
    assert all(torch.equal(reference[key], state[key]) for key in reference)


def test_bf16_autocast_trains_and_predicts_like_fp32(tester, device):
    config, inputs = tester.prepare_config_and_inputs(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    inputs = on(device, inputs)
    torch.manual_seed(0)
    model = MGCMTForTokenClassification(config).to(device)
    with torch.no_grad():
        reference = model.eval()(**inputs)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = model.train()(**inputs)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.item() == pytest.approx(reference.loss.item(), rel=0.05)
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: weights stay fp32
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        predicted = model.eval()(**{k: v for k, v in inputs.items() if k != "labels"})
    assert predicted.predictions.dtype == torch.long
    torch.testing.assert_close(predicted.logits.float(), reference.logits, rtol=0.05, atol=0.05)
