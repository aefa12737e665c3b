"""Quickstart: build a tiny MGCMT locally, fit the package's 16 sample tweets, save, reload, predict.

Runs offline on a CPU in under a minute; no download. It shows the model API end to end:
`MGCMTConfig` -> `MGCMTForTokenClassification` -> CRF loss (Eq. 19) -> Viterbi predictions (Eq. 20) ->
`save_pretrained` -> `AutoModelForTokenClassification.from_pretrained`.

    python examples/quickstart.py --output_dir outputs/quickstart
"""

import argparse
import logging

import torch
from transformers import AutoModelForTokenClassification, BertConfig

import mgcmt  # noqa: F401  (registers MGCMT with the Auto classes)
from mgcmt import MGCMTConfig, MGCMTForTokenClassification
from mgcmt.samples import SAMPLE_TWEETS, encode_word_level

logger = logging.getLogger("quickstart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="outputs/quickstart", help="where the trained tiny model is saved")
    parser.add_argument("--max_steps", type=int, default=200, help="upper bound on optimisation steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    torch.manual_seed(args.seed)

    text_config = BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                             intermediate_size=64, max_position_embeddings=64)
    config = MGCMTConfig(text_config=text_config, image_feature_size=8, image_grid_length=4, num_object_categories=10,
                         max_objects=3, augmentation_size=6, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    inputs, _ = encode_word_level(SAMPLE_TWEETS, config, augmentation_size=6, num_regions=4, feature_size=8, seed=args.seed)
    model = MGCMTForTokenClassification(config)
    logger.info("tiny MGCMT: %d parameters, %d sample tweets", model.num_parameters(), len(SAMPLE_TWEETS))

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(1, args.max_steps + 1):
        model.train()
        out = model(**inputs)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                predictions = model(**inputs).predictions
            correct = int((predictions == inputs["labels"]).all(dim=1).sum())
            logger.info("step %3d  loss %.4f (main %.4f, esd %.4f)  tweets tagged exactly: %d/%d", step,
                        out.loss.item(), out.main_loss.item(), out.esd_loss.item(), correct, len(SAMPLE_TWEETS))
            if correct == len(SAMPLE_TWEETS):
                break

    model.save_pretrained(args.output_dir)
    reloaded = AutoModelForTokenClassification.from_pretrained(args.output_dir).eval()
    labels = inputs.pop("labels")
    with torch.no_grad():
        predictions = reloaded(**inputs).predictions
    for (text, _), row in zip(SAMPLE_TWEETS[:4], predictions):
        tags = [config.id2label[int(i)] for i in row if i >= 0]
        print(" ".join(f"{word}/{tag}" for word, tag in zip(text.split(), tags)))
    exact = int((predictions == labels).all(dim=1).sum())
    print(f"reloaded from {args.output_dir}: {exact}/{len(SAMPLE_TWEETS)} tweets tagged exactly")


if __name__ == "__main__":
    main()
