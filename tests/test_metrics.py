import importlib.util
import random

import pytest

from mgcmt.metrics import EVALUATE_MODULE_PATH, entity_scores, table2_row

from .helpers import SHARED_DATA

seqeval_missing = importlib.util.find_spec("seqeval") is None
OFFICIAL = SHARED_DATA / "official_predictions"


def test_toy_example_with_known_scores():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_type"]["ORG"]["precision"] == 0.5 and scores["per_type"]["ORG"]["support"] == 1
    assert table2_row(scores)["PER_f1"] == 100.0


def test_orphan_i_tags_count_in_default_mode_only():
    gold = [["O", "I-LOC", "I-LOC", "O"]]
    assert entity_scores(gold, gold)["per_type"]["LOC"]["support"] == 1
    assert entity_scores(gold, gold, mode="strict")["per_type"] == {}
    with pytest.raises(ValueError, match="'default', 'strict'"):
        entity_scores(gold, gold, mode="loose")
    with pytest.raises(ValueError, match="Sentence 0: 4 gold tags but 3"):
        entity_scores(gold, [["O", "O", "O"]])


def random_tags(rng, length, tags):
    return [rng.choice(tags) for _ in range(length)]


@pytest.mark.skipif(seqeval_missing, reason="seqeval is in the 'train' extra")
@pytest.mark.parametrize("mode", ["default", "strict"])
def test_agrees_with_seqeval_on_random_sequences(mode):
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    rng = random.Random(0)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    for trial in range(300):
        gold = [random_tags(rng, rng.randint(1, 12), tags) for _ in range(rng.randint(1, 8))]
        pred = [random_tags(rng, len(g), tags) for g in gold]
        kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
        expected = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
        ours = entity_scores(gold, pred, mode=mode)
        micro = expected["micro avg"]
        assert (ours["precision"], ours["recall"], ours["f1"]) == pytest.approx(
            (micro["precision"], micro["recall"], micro["f1-score"])), trial
        for entity_type, values in ours["per_type"].items():
            assert values["f1"] == pytest.approx(expected[entity_type]["f1-score"]), (trial, entity_type)
            assert values["support"] == expected[entity_type]["support"]


def test_loads_as_an_evaluate_module_offline():
    evaluate = pytest.importorskip("evaluate")
    metric = evaluate.load(EVALUATE_MODULE_PATH)
    out = metric.compute(predictions=[["B-PER", "O", "B-LOC"]], references=[["B-PER", "O", "O"]])
    assert out["overall_precision"] == 0.5 and out["overall_recall"] == 1.0 and out["PER"]["number"] == 1


def read_official(path):
    gold, pred = [], []
    blocks = path.read_text(encoding="utf-8").strip("\n").split("\n\n")
    for block in blocks:
        lines = block.split("\n")
        predicted = ["O" if tag == "X" else tag for tag in lines[2].split()]
        pred.append(predicted)
        gold.append(lines[3].split())
    return gold, pred


@pytest.mark.skipif(not OFFICIAL.is_dir(), reason=f"real-data test: the paper's predictions are not at {OFFICIAL}")
@pytest.mark.parametrize("name, paper_f1, strict_f1", [("t2015", 0.7457, 0.7537), ("t2017", 0.8609, 0.8643)])
def test_the_papers_own_predictions_give_its_f1(name, paper_f1, strict_f1):
    """The official files score 0.7463 (T15; the paper prints 74.57 from a report counting 2 entities fewer)
    and 0.8609 (T17, the paper's 86.09); strict IOB2 drops T15's orphan I- tags and gives 0.7537."""
    gold, pred = read_official(OFFICIAL / f"{name}.pre_output.txt")
    scores = entity_scores(gold, pred)
    assert scores["f1"] == pytest.approx(paper_f1, abs=1e-3)
    assert entity_scores(gold, pred, mode="strict")["f1"] == pytest.approx(strict_f1, abs=1e-4)
    if not seqeval_missing:
        from seqeval.metrics import f1_score

        assert scores["f1"] == pytest.approx(f1_score(gold, pred))
