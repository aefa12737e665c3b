"""`evaluate` metric module for mgcmt's entity scores, loadable offline from this file's path:

    import evaluate
    from mgcmt.metrics import EVALUATE_MODULE_PATH
    metric = evaluate.load(EVALUATE_MODULE_PATH)
    metric.compute(predictions=[["B-PER", "O"]], references=[["B-PER", "O"]], mode="default")

It returns the same flat keys as seqeval's `evaluate` module (`overall_precision`, ..., and one dict per
entity type with `precision`, `recall`, `f1`, `number`).
"""

import datasets
import evaluate

from mgcmt.metrics import entity_scores


class EntityF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Entity-level precision, recall and F1 (seqeval default or strict IOB2 mode), no download.",
            citation="",
            inputs_description="predictions and references: lists of tag sequences; mode: 'default' or 'strict'.",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, mode="default"):
        scores = entity_scores(references, predictions, mode=mode)
        out = {
            entity_type: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1"], "number": v["support"]}
            for entity_type, v in scores["per_type"].items()
        }
        out.update(overall_precision=scores["precision"], overall_recall=scores["recall"], overall_f1=scores["f1"])
        return out
