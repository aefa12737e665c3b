import json

import pytest
from transformers import AutoConfig, BertConfig, MPNetConfig

import mgcmt  # noqa: F401  (registers the Auto classes)
from mgcmt import MGCMTConfig, bio_labels, span_label
from mgcmt.configuration_mgcmt import ABLATION_SWITCHES


def tiny_text_config(**kwargs):
    sizes = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    sizes.update(kwargs)
    return BertConfig(**sizes)


def test_defaults_follow_the_paper():
    config = MGCMTConfig()
    assert config.model_type == "mgcmt"
    assert config.text_config.model_type == "bert"
    assert config.hidden_size == 768 and config.num_attention_heads == 12 and config.intermediate_size == 3072
    assert [config.id2label[i] for i in range(config.num_labels)] == bio_labels(("PER", "LOC", "ORG", "MISC"))
    assert config.image_feature_size == 2048 and config.image_grid_length == 49
    assert config.num_object_categories == 81 and config.max_objects == 5
    assert config.augmentation_size == 200 and config.hidden_dropout_prob == 0.1 and config.esd_loss_weight == 0.5
    assert config.word_pooling == "sum"
    for layers in ("text_encoder_layers", "image_encoder_layers", "object_encoder_layers", "cross_modal_layers"):
        assert getattr(config, layers) == 1
    for switch in ABLATION_SWITCHES:
        assert getattr(config, switch) is True


def test_sizes_default_to_the_encoders():
    config = MGCMTConfig(text_config=tiny_text_config())
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (32, 4, 37)
    mpnet = MGCMTConfig(text_config={"model_type": "mpnet", "hidden_size": 48, "num_attention_heads": 6})
    assert isinstance(mpnet.text_config, MPNetConfig) and mpnet.hidden_size == 48
    explicit = MGCMTConfig(text_config=tiny_text_config(), hidden_size=64, num_attention_heads=8)
    assert (explicit.hidden_size, explicit.num_attention_heads) == (64, 8)


def test_round_trip_through_dict_json_and_auto_config(tmp_path):
    config = MGCMTConfig(
        text_config=tiny_text_config(),
        label2id={"O": 0, "B-X": 1, "I-X": 2},
        use_text_image=False,
        max_objects=6,
        word_pooling="first",
    )
    again = MGCMTConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, MGCMTConfig)
    assert loaded.id2label == {0: "O", 1: "B-X", 2: "I-X"} and loaded.label2id == {"O": 0, "B-X": 1, "I-X": 2}
    assert loaded.use_text_image is False and loaded.max_objects == 6 and loaded.word_pooling == "first"
    assert loaded.text_config.hidden_size == 32


def test_span_labels_come_from_label_names():
    config = MGCMTConfig(id2label={0: "B-ORG", 1: "O", 2: "I-ORG", 3: "I-PER", 4: "B-PER"})
    assert config.esd_id2label == {0: "O", 1: "B", 2: "I"}
    assert config.label_to_span_id == [1, 0, 2, 2, 1]
    assert span_label("B-LONG-TYPE") == "B"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"word_pooling": "mean"}, "'sum', 'first'"),
        ({"hidden_act": "nope"}, "`hidden_act` must be one of"),
        ({"use_basic_level": False, "use_superior_level": False}, "use_basic_level"),
        ({"id2label": {0: "O", 1: "PER"}}, "'O', 'B-<TYPE>' or 'I-<TYPE>'"),
        ({"id2label": {0: "B-PER", 1: "I-PER"}}, "must contain 'O'"),
        ({"hidden_size": 30, "num_attention_heads": 4}, "multiple of `num_attention_heads`"),
        ({"hidden_dropout_prob": 1.5}, "[0, 1)"),
        ({"cross_modal_layers": 0}, "positive integer"),
        ({"num_object_categories": 1}, ">= 2"),
        ({"esd_loss_weight": -1.0}, ">= 0"),
    ],
)
def test_bad_values_raise_naming_the_legal_ones(kwargs, message):
    with pytest.raises(ValueError) as error:
        MGCMTConfig(**kwargs)
    assert message in str(error.value)


def test_visual_modules_off_need_no_level():
    config = MGCMTConfig(use_text_image=False, use_text_object=False, use_basic_level=False, use_superior_level=False)
    assert not config.use_basic_level
