"""Model cards for MGCMT checkpoints, built from a run's results with huggingface_hub's card classes.

`build_model_card(...)` returns a `huggingface_hub.ModelCard` whose YAML metadata holds a `model-index` with the
test (and dev) results: overall precision, recall and F1, and F1 per entity type, all in percent as the paper
reports them. The text describes the architecture, the feature extractors the checkpoint expects, how to use
it, the training settings and the limitations.
"""

from __future__ import annotations

import os

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_mgcmt import MGCMTConfig

# Authors and title as printed on the paper (../shared/paper); add the venue and year of the version you cite.
CITATION = """@misc{liu-mgcmt,
  title  = {Multi-Granularity Cross-Modality Representation Learning for Named Entity Recognition on Social Media},
  author = {Liu, Peipei and Wang, Gaosheng and Li, Hong and Liu, Jie and Ren, Yimo and Zhu, Hongsong and Sun, Limin}
}"""

TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

MGCMT (multi-granularity cross-modality transformer) for named-entity recognition on tweets with images,
built with the `mgcmt` package on `{{ base_model }}`. It tags PER, LOC, ORG and MISC entities (BIO2).

## Architecture

{{ architecture }}

## Inputs it expects

{{ inputs }}

## How to use

```python
import mgcmt  # or: trust_remote_code=True (pin a revision) where mgcmt is not installed
from transformers import pipeline

ner = pipeline("multimodal-ner", model="{{ repo_id }}")
ner("Barack Obama visits Berlin", image="photo.jpg")
# [{"entity_group": "PER", "score": ..., "word": "Barack Obama", "start": 0, "end": 12}, ...]
```

Without mgcmt installed:

```python
from transformers import AutoModelForTokenClassification, AutoProcessor

model = AutoModelForTokenClassification.from_pretrained("{{ repo_id }}", trust_remote_code=True, revision="<commit>")
processor = AutoProcessor.from_pretrained("{{ repo_id }}", trust_remote_code=True, revision="<commit>")
outputs = model(**processor("Barack Obama visits Berlin"))
```

## Evaluation

Entity-level micro precision / recall / F1 (seqeval default mode, as the paper), in percent. The checkpoint
was chosen on the validation split; the test split was evaluated once.

{{ results_table }}

## Training

{{ training }}

## Limitations

- English tweets only; four entity types (PER, LOC, ORG, MISC). Other domains and languages are untested.
- The image side needs the same feature extractors as in training (below); other backbones or detectors
  give features the model has never seen. A tweet without image or objects is handled (it attends to
  zero-vector visual tokens) but loses the visual cue.
- {{ data_note }}

## Citation

```bibtex
{{ citation }}
```
"""

TYPES = ("PER", "LOC", "ORG", "MISC")


def _architecture(config: MGCMTConfig) -> str:
    on = lambda flag: "on" if flag else "off"  # noqa: E731
    return "\n".join([
        f"- Text encoder: `{config.text_config.model_type}` ({config.text_config.hidden_size}-d), sub-token states summed per word (Eq. 1).",
        f"- Semantic augmentation (Eq. 2-4): {on(config.use_semantic_augmentation)}"
        + (f", {config.augmentation_size}-d word-vector neighbours." if config.use_semantic_augmentation else "."),
        f"- TextImg (global image grid, {config.image_grid_length} regions of {config.image_feature_size}-d): "
        f"{on(config.use_text_image)}; TextObj (up to {config.max_objects} object categories): {on(config.use_text_object)}.",
        f"- Levels: basic {on(config.use_basic_level)}, superior {on(config.use_superior_level)}; unimodal transformers: "
        f"text {on(config.use_text_encoder)}, image {on(config.use_image_encoder)}, objects {on(config.use_object_encoder)}.",
        f"- Decoder: CRF over [h, S]; entity-span-detection CRF {on(config.use_entity_span_detection)} "
        f"(lambda = {config.esd_loss_weight}).",
        f"- MGCMT layers: d = {config.hidden_size}, {config.num_attention_heads} heads, {config.cross_modal_layers} "
        "cross-modal layer(s).",
    ])


def _results_table(results: dict, splits: tuple[str, ...]) -> str:
    rows = ["| split | PER | LOC | ORG | MISC | P | R | F1 |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for split in splits:
        keys = [f"{split}_{t}_f1" for t in TYPES] + [f"{split}_precision", f"{split}_recall", f"{split}_f1"]
        if all(key in results for key in keys):
            rows.append(f"| {split} | " + " | ".join(f"{results[key]:.2f}" for key in keys) + " |")
    return "\n".join(rows)


def build_model_card(
    config: MGCMTConfig,
    results: dict,
    *,
    model_name: str,
    repo_id: str,
    dataset_name: str,
    dataset_id: str | None = None,
    base_model: str | None = None,
    training: dict | None = None,
    inputs: str | None = None,
    data_note: str | None = None,
    license: str = "apache-2.0",
) -> ModelCard:
    """A Hub card for a trained MGCMT.

    Args:
        results: `all_results.json` of `run_mner.py`: keys like `test_f1`, `test_PER_f1`, `validation_precision`
            (percent).
        dataset_name: shown in the `model-index` (e.g. "TWITTER-2015"); `dataset_id` its Hub id or a short name.
        training: settings to list (learning rate, epochs, batch size, seeds ...).
        inputs: the feature extractors the checkpoint expects (defaults from the config).
    """
    if base_model is None:  # the encoder's hub id; a local path is no Hub id
        source = config.text_config._name_or_path
        base_model = source if source and not os.path.exists(source) else None
    eval_results = []
    for split in ("test", "validation"):
        metrics = [("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")]
        metrics += [(f"{t}_f1", f"F1 {t}") for t in TYPES]
        for key, name in metrics:
            value = results.get(f"{split}_{key}")
            if value is None:
                continue
            eval_results.append(EvalResult(
                task_type="token-classification", task_name="Multimodal named entity recognition",
                dataset_type=dataset_id or dataset_name, dataset_name=dataset_name, dataset_split=split,
                metric_type="f1" if key.endswith("f1") else key, metric_name=name, metric_value=round(float(value), 2)))
    card_data = ModelCardData(
        model_name=model_name, base_model=base_model, datasets=[dataset_id or dataset_name], eval_results=eval_results,
        language="en", library_name="transformers", license=license, metrics=["f1", "precision", "recall"],
        pipeline_tag="token-classification", tags=["multimodal", "ner", "crf", "mgcmt", "twitter"])
    inputs = inputs or (
        f"- Text: a tweet (raw text or words); the processor's tokenizer and word-vector augmentation table are saved "
        f"with the model.\n- Image grid: {config.image_grid_length} regions x {config.image_feature_size} channels from the "
        "backbone named in `processor_config.json` (`grid_backbone`, `grid_weights`).\n"
        f"- Objects: up to {config.max_objects} COCO category ids (80 classes + empty slot), from a detector or "
        "from captions, as `processor_config.json` (`object_source`) says.")
    training_text = "\n".join(f"- {key}: {value}" for key, value in (training or {}).items()) or "- (not recorded)"
    return ModelCard.from_template(
        card_data, template_str=TEMPLATE, model_name=model_name, repo_id=repo_id, base_model=base_model or "unknown",
        architecture=_architecture(config), inputs=inputs, results_table=_results_table(results, ("validation", "test")),
        training=training_text, citation=CITATION,
        data_note=data_note or f"Trained and evaluated on {dataset_name} only.")


__all__ = ["build_model_card", "CITATION"]
