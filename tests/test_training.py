"""A tiny MGCMT learns: it overfits 16 hand-written tweets to exact match."""

import pytest
import torch

from mgcmt import MGCMTForTokenClassification
from mgcmt.samples import SAMPLE_TWEETS, encode_word_level

from .helpers import MGCMTModelTester


@pytest.mark.parametrize("text_path_init", ["identity", "random"])
def test_tiny_model_overfits_sixteen_tweets(text_path_init):
    tester = MGCMTModelTester(vocab_size=128)
    config = tester.get_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, text_path_init=text_path_init)
    inputs, vocab_size = encode_word_level(SAMPLE_TWEETS, config, tester.augmentation_size, tester.num_regions, tester.image_feature_size)
    assert vocab_size <= tester.vocab_size
    torch.manual_seed(0)
    model = MGCMTForTokenClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gold = inputs["labels"]
    max_steps, solved_at = 300, None
    for step in range(1, max_steps + 1):
        model.train()
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                out = model(**inputs)
            if torch.equal(out.predictions, gold) and out.loss.item() < 1.0:  # every tag right, and confidently
                solved_at = step
                break
    print(f"exact match on all 16 tweets after {solved_at} steps")
    assert solved_at is not None, f"no exact match at a loss under 1 after {max_steps} steps (last loss {loss.item():.3f})"
