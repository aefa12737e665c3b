"""Tiny MGCMT configurations and random inputs, shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import BertConfig

from mgcmt import MGCMTConfig


# The benchmark data beside the checkout (../shared/data), or where MGCMT_SHARED_DATA points.
SHARED_DATA = Path(os.environ.get("MGCMT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


class MGCMTModelTester:
    """Sizes are `__init__` defaults; `prepare_config_and_inputs()` gives a config and matching inputs.

    Row 0 is a full tweet; row 1 is shorter (padded sub-tokens and words), has one real object and
    one empty slot, and its image has one padded region.
    """

    def __init__(
        self,
        batch_size=2,
        vocab_size=99,
        hidden_size=32,
        num_attention_heads=4,
        intermediate_size=37,
        num_regions=4,
        image_feature_size=8,
        max_objects=3,
        num_object_categories=10,
        augmentation_size=6,
        seed=0,
    ):
        self.batch_size = batch_size
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.num_regions = num_regions
        self.image_feature_size = image_feature_size
        self.max_objects = max_objects
        self.num_object_categories = num_object_categories
        self.augmentation_size = augmentation_size
        self.seed = seed

    def get_config(self, **kwargs) -> MGCMTConfig:
        text_config = BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=1,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=64,
        )
        values = dict(
            text_config=text_config,
            image_feature_size=self.image_feature_size,
            image_grid_length=self.num_regions,
            num_object_categories=self.num_object_categories,
            max_objects=self.max_objects,
            augmentation_size=self.augmentation_size,
        )
        values.update(kwargs)
        return MGCMTConfig(**values)

    def prepare_inputs(self, config: MGCMTConfig) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        # Row 0: [CLS] w1 w1 w2 w3 w3 w3 w4 [SEP]; row 1: [CLS] w1 w2 w2 [SEP] + 4 pads.
        token_word_index = torch.tensor([[0, 1, 1, 2, 3, 3, 3, 4, 0], [0, 1, 2, 2, 0, 0, 0, 0, 0]])
        attention_mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4])
        input_ids = torch.randint(5, self.vocab_size, token_word_index.shape, generator=generator)
        input_ids[:, 0] = 2
        input_ids[0, 8] = input_ids[1, 4] = 3
        input_ids = input_ids.masked_fill(attention_mask == 0, 0)
        word_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
        labels = torch.randint(0, config.num_labels, word_mask.shape, generator=generator).masked_fill(word_mask == 0, -100)
        inputs = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_word_index=token_word_index,
            word_mask=word_mask,
            augmentation_embeds=torch.randn(2, 4, self.augmentation_size, generator=generator) * word_mask[..., None],
            image_features=torch.randn(2, self.num_regions, self.image_feature_size, generator=generator),
            image_mask=torch.tensor([[1] * self.num_regions, [1] * (self.num_regions - 1) + [0]]),
            object_ids=torch.tensor([[3, 7, 1], [4, 0, 0]]),
            labels=labels,
        )
        return inputs

    def prepare_config_and_inputs(self, **config_kwargs):
        config = self.get_config(**config_kwargs)
        return config, self.prepare_inputs(config)


TINY_WORDS = ["rt", "@", "anna", ":", "barack", "obama", "visits", "berlin", "today", "snow", "in", "toronto", "#",
              "winter", "go", "new", "york", "!", "the", "paris", "a", "an", "of"]
TINY_PIECES = ["##s", "##ing", "##a", "##b", "##c", "##er"]


def tiny_tokenizer():
    """A real WordPiece tokenizer over a small written vocabulary (no download)."""
    from transformers import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS + TINY_PIECES + list("abcdefghijklmnopqrstuvwxyz")
    return BertTokenizer(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True)
