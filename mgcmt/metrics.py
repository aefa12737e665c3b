"""Entity-level precision, recall and F1 from tag sequences, as seqeval computes them, with no download.

`mode="default"` reproduces seqeval's default (lenient, conlleval-style) chunking: an `I-X` that does not
continue an `X` entity starts a new one, so the orphan `I-` tags of TWITTER-2015 count as entities (the
paper's numbers are computed this way). `mode="strict"` is seqeval's strict IOB2 mode: an entity is `B-X`
followed by `I-X` of the same type, and tokens that do not form one are ignored.

Scores are micro-averaged over entities; per type, `support` is the number of gold entities. A score whose
denominator is zero is 0.0 (seqeval's `zero_division="warn"` value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

MODES = ("default", "strict")


def _split(tag: str) -> tuple[str, str]:
    """(prefix, type) as seqeval reads a tag: `B-PER` -> (`B`, `PER`); `O` -> (`O`, `_`); `X` -> (`X`, `_`)."""
    prefix = tag[:1]
    entity_type = tag[1:].split("-", maxsplit=1)[-1] or "_"
    return prefix, entity_type


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, entity_type: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag == "B" and tag in ("B", "S", "O"):
        return True
    if prev_tag == "I" and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != entity_type


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, entity_type: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != entity_type


def lenient_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities `(type, start, end)` (inclusive end) of one sequence, by seqeval's default chunking."""
    entities = []
    prev_tag, prev_type, begin = "O", "", 0
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, entity_type = _split(tag)
        if _end_of_chunk(prev_tag, prefix, prev_type, entity_type):
            entities.append((prev_type, begin, position - 1))
        if _start_of_chunk(prev_tag, prefix, prev_type, entity_type):
            begin = position
        prev_tag, prev_type = prefix, entity_type
    return entities


def strict_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of one sequence under strict IOB2: `B-X (I-X)*`; orphan `I-` tags and other tokens are ignored."""
    entities = []
    current = None  # (type, start)
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, entity_type = _split(tag)
        if current is not None and not (prefix == "I" and entity_type == current[0]):
            entities.append((current[0], current[1], position - 1))
            current = None
        if prefix == "B":
            current = (entity_type, position)
    return entities


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], mode: str = "default") -> dict:
    """Entity P/R/F1 of `pred` against `gold`, lists of tag sequences (one per sentence).

    Returns `{"precision", "recall", "f1", "per_type": {TYPE: {"precision", "recall", "f1", "support"}}}`,
    the types being those of gold or predicted entities. Raises `ValueError` naming the first sentence whose
    lengths differ.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sequences but {len(pred)} predicted ones.")
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"Sentence {index}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags.")
    if mode == "default":
        # seqeval chunks the sentences joined by "O" separators; positions in that joined sequence are unique
        true_entities = set(lenient_entities([tag for tags in gold for tag in list(tags) + ["O"]]))
        pred_entities = set(lenient_entities([tag for tags in pred for tag in list(tags) + ["O"]]))
    else:
        true_entities = {(index, *entity) for index, tags in enumerate(gold) for entity in strict_entities(tags)}
        pred_entities = {(index, *entity) for index, tags in enumerate(pred) for entity in strict_entities(tags)}
    correct = true_entities & pred_entities
    count = lambda entities: Counter(entity[-3] for entity in entities)  # noqa: E731  (the type)
    n_true, n_pred, n_correct = count(true_entities), count(pred_entities), count(correct)
    per_type = {}
    for entity_type in sorted(set(n_true) | set(n_pred)):
        precision = _ratio(n_correct[entity_type], n_pred[entity_type])
        recall = _ratio(n_correct[entity_type], n_true[entity_type])
        per_type[entity_type] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                                 "support": n_true[entity_type]}
    precision = _ratio(len(correct), len(pred_entities))
    recall = _ratio(len(correct), len(true_entities))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "per_type": per_type}


def table2_row(scores: dict, types: Sequence[str] = ("PER", "LOC", "ORG", "MISC")) -> dict[str, float]:
    """The paper's Table 2 layout, in percent: F1 per type, then overall P, R, F1."""
    row = {f"{t}_f1": 100 * scores["per_type"].get(t, {}).get("f1", 0.0) for t in types}
    row.update(precision=100 * scores["precision"], recall=100 * scores["recall"], f1=100 * scores["f1"])
    return row


# `evaluate.load(EVALUATE_MODULE_PATH)` loads these scores as an `evaluate` metric, offline.
EVALUATE_MODULE_PATH = str(__import__("pathlib").Path(__file__).with_name("entity_f1_metric.py"))

__all__ = ["entity_scores", "lenient_entities", "strict_entities", "table2_row", "EVALUATE_MODULE_PATH", "MODES"]
