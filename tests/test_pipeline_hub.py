"""The multimodal-ner pipeline, remote code, the model card, pushing to the Hub (mocked) and the pictures."""

import importlib.util
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import pipeline

import mgcmt  # noqa: F401  (registers the pipeline)
from mgcmt import MGCMTForTokenClassification, MGCMTProcessor
from mgcmt.crf import span_probability
from mgcmt.visualization import draw_prediction

from .helpers import MGCMTModelTester

ROOT = Path(__file__).resolve().parents[1]
needs_extras = pytest.mark.skipif(
    importlib.util.find_spec("timm") is None or importlib.util.find_spec("gensim") is None,
    reason="the trained fixture model needs the dev extras (timm, gensim)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small MGCMT trained by run_mner.py on the smoke data, with its code exported (auto_map)."""
    spec = importlib.util.spec_from_file_location("run_mner_for_pipeline", ROOT / "examples" / "run_mner.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("trained")
    module.main(["--smoke", "--use_cpu", "true", "--disable_tqdm", "true", "--num_train_epochs", "10",
                 "--save_total_limit", "1", "--output_dir", str(out)])
    return out


def picture():
    image = Image.new("RGB", (80, 60), (20, 120, 220))
    image.paste((250, 250, 0), (10, 10, 40, 40))
    return image


@needs_extras
def test_pipeline_single_batched_and_offsets(trained, tmp_path):
    ner = pipeline("multimodal-ner", model=str(trained))
    text = "Anna  Berg arrives in Oslo today"
    image = picture()
    path = tmp_path / "image.png"
    image.save(path)
    by_pil = ner(text, image=image)
    assert by_pil == ner(text, image=str(path)) == ner(text, image=path.read_bytes())
    assert {e["entity_group"] for e in by_pil} <= {"PER", "LOC", "ORG", "MISC"} and by_pil
    for entity in by_pil:
        assert text[entity["start"] : entity["end"]] == entity["word"]
        assert 0.0 < entity["score"] <= 1.0
    words = ner({"words": ["Tom", "Reyes", "meets", "Mia", "Chen"]})
    joined = "Tom Reyes meets Mia Chen"
    assert all(joined[e["start"] : e["end"]] == e["word"] for e in words)
    inputs = [{"text": text, "image": image}, {"text": "Globex opens a new office in Lima", "image": None},
              {"text": "So proud of Lena Novak", "image": image, "objects": "A person."}]
    singles = [ner(item) for item in inputs]
    batched = ner(inputs, batch_size=2)
    assert len(batched) == 3
    for single, batch in zip(singles, batched):
        assert [(e["entity_group"], e["start"], e["end"]) for e in single] == [
            (e["entity_group"], e["start"], e["end"]) for e in batch]
        for a, b in zip(single, batch):
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)
    scores = {round(e["score"], 4) for result in singles for e in result}
    assert len(scores) > 1  # the score depends on the input: not a constant


@needs_extras
def test_pipeline_attentions_and_picture(trained, tmp_path):
    ner = pipeline("multimodal-ner", model=str(trained))
    image = picture()
    entities = ner({"text": "Anna Berg arrives in Oslo today", "image": image, "objects": "A person next to a car."},
                   return_attentions=True)
    config = ner.model.config
    for entity in entities:
        assert len(entity["grid_attention"]) == config.image_grid_length
        assert sum(entity["grid_attention"]) == pytest.approx(1.0, abs=1e-4)
        assert len(entity["object_attention"]) == config.max_objects
        assert entity["object_attention"][2:] == [0.0] * (config.max_objects - 2)  # empty slots get nothing
    drawn = draw_prediction("Anna Berg arrives in Oslo today", entities, image=image, object_names=["person", "car"])
    drawn.save(tmp_path / "prediction.png")
    assert Image.open(tmp_path / "prediction.png").size == drawn.size and drawn.size[1] > 224
    # a strong attention cell is drawn redder than a weak one
    weights = [0.0] * config.image_grid_length
    weights[0] = 1.0
    strong = draw_prediction("x", [{"entity_group": "PER", "score": 0.5, "word": "x", "start": 0, "end": 1,
                                    "grid_attention": weights, "object_attention": []}], image=Image.new("RGB", (60, 60), "white"))
    top = 20 + 16 + 22  # text block, then the panel
    assert strong.getpixel((12, top + 2))[1] < strong.getpixel((12 + 200, top + 200))[1]


@needs_extras
def test_pipeline_bad_input(trained):
    ner = pipeline("multimodal-ner", model=str(trained))
    with pytest.raises(ValueError, match="must be a string"):
        ner(None)
    with pytest.raises(ValueError, match="Unsupported image input"):
        ner("Anna Berg", image=12345)
    with pytest.raises(ValueError, match="Tweet 0 is empty"):
        ner("   ")
    started = time.perf_counter()
    with pytest.raises(ValueError, match="Cannot fetch image 'http://127.0.0.1:9/x.jpg'"):
        ner("Anna Berg", image="http://127.0.0.1:9/x.jpg", timeout=2)
    assert time.perf_counter() - started < 10


@needs_extras
def test_pipeline_pre_split_words_with_whitespace_keep_their_spans(trained):
    from mgcmt.metrics import lenient_entities

    ner = pipeline("multimodal-ner", model=str(trained))
    model, processor = ner.model, ner.processor
    for words in (["\xa0", "Anna", "Berg", "arrives", "in", "Oslo", "today"],
                  ["Anna Berg", "arrives", "in", "Oslo", "today"]):
        with torch.no_grad():
            predicted = model(**processor(words, is_split_into_words=True)).predictions[0].tolist()
        tags = [model.config.id2label[i] for i in predicted]
        expected = [(kind, " ".join(words[first : last + 1])) for kind, first, last in lenient_entities(tags)]
        entities = ner({"words": words})
        assert expected and [(e["entity_group"], e["word"]) for e in entities] == expected
        text = " ".join(words)
        assert all(text[e["start"] : e["end"]] == e["word"] for e in entities)
    assert ("LOC", "Oslo") in expected


@needs_extras
def test_pipeline_lists_of_strings_and_errors_name_the_tweet(trained):
    ner = pipeline("multimodal-ner", model=str(trained))
    both = ner(["Anna Berg arrives in Oslo today", {"text": "Anna Berg arrives in Oslo today"}])
    assert len(both) == 2 and both[0] == both[1] == ner("Anna Berg arrives in Oslo today")
    with pytest.raises(ValueError, match="Tweet 2 is empty"):
        ner(["Anna Berg", "Oslo", "   "])
    with pytest.raises(ValueError, match=r"Tweet 1: word 1 is NoneType"):
        ner([{"words": ["Oslo"]}, {"words": ["Anna", None]}])
    with pytest.raises(ValueError, match=r"Tweet 1: each input must be a string or a dict"):
        ner(["Oslo", 5])


def test_span_probability_is_the_crf_marginal():
    tester = MGCMTModelTester()
    config = tester.get_config(id2label={0: "O", 1: "B-A", 2: "I-A", 3: "B-B", 4: "I-B"})
    torch.manual_seed(0)
    model = MGCMTForTokenClassification(config).eval()
    with torch.no_grad():
        for parameter in (model.crf.transitions, model.crf.start_transitions, model.crf.end_transitions):
            parameter.normal_()
    logits = torch.randn(4, 5)
    paths = list(itertools.product(range(5), repeat=4))

    def score(path):
        value = model.crf.start_transitions[path[0]] + logits[0, path[0]] + model.crf.end_transitions[path[-1]]
        for t in range(1, 4):
            value = value + model.crf.transitions[path[t - 1], path[t]] + logits[t, path[t]]
        return value

    with torch.no_grad():
        weights = torch.stack([score(p) for p in paths]).softmax(0)
    for labels, start in (([1, 2], 1), ([3], 0), ([1, 2, 2], 1), ([4], 3)):
        end = start + len(labels) - 1
        continuation = 2 if labels[-1] in (1, 2) else 4
        expected = sum(float(w) for p, w in zip(paths, weights)
                       if list(p[start : end + 1]) == labels and (end + 1 >= 4 or p[end + 1] != continuation))
        assert span_probability(model.crf, logits, labels, start, end, continuation) == pytest.approx(expected, abs=1e-5)


@needs_extras
def test_checkpoint_loads_with_remote_code_without_mgcmt(trained):
    assert json.loads((trained / "config.json").read_text())["auto_map"]["AutoModelForTokenClassification"]
    assert (trained / "modeling_mgcmt.py").is_file() and (trained / "processing.py").is_file()
    model = MGCMTForTokenClassification.from_pretrained(trained).eval()
    processor = MGCMTProcessor.from_pretrained(trained)
    expected = model(**processor("Anna Berg arrives in Oslo today", objects="A person.")).predictions.tolist()
    script = (
        "import sys, json; sys.modules['mgcmt'] = None\n"
        "from transformers import AutoModelForTokenClassification, AutoProcessor\n"
        f"path = {str(trained)!r}\n"
        "model = AutoModelForTokenClassification.from_pretrained(path, trust_remote_code=True).eval()\n"
        "processor = AutoProcessor.from_pretrained(path, trust_remote_code=True)\n"
        "assert 'transformers_modules' in type(model).__module__, type(model).__module__\n"
        "out = model(**processor('Anna Berg arrives in Oslo today', objects='A person.'))\n"
        "print(json.dumps(out.predictions.tolist()))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                               cwd="/", env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == expected


@needs_extras
def test_model_card_from_a_run(trained):
    from huggingface_hub import ModelCard

    card = ModelCard((trained / "README.md").read_text())
    results = json.loads((trained / "all_results.json").read_text())
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "token-classification"
    test_f1 = [r for r in card.data.eval_results if r.dataset_split == "test" and r.metric_name == "F1"]
    assert test_f1 and test_f1[0].metric_value == pytest.approx(round(results["test_f1"], 2))
    per_type = {r.metric_name for r in card.data.eval_results if r.dataset_split == "test"}
    assert {"F1 PER", "F1 LOC", "F1 ORG", "F1 MISC", "Precision", "Recall"} <= per_type
    text = card.text
    for section in ("## Architecture", "## Inputs it expects", "## How to use", "## Evaluation", "## Training",
                    "## Limitations", "## Citation"):
        assert section in text
    assert 'pipeline("multimodal-ner"' in text and "trust_remote_code=True" in text
    assert card.data.base_model is None  # the smoke encoder is a local path, not a Hub id


@needs_extras
def test_push_to_hub_uploads_model_processor_and_card(tmp_path, monkeypatch):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None):
            calls["create_repo"] = repo_id
            return type("Repo", (), {"repo_id": repo_id})()

        def upload_folder(self, repo_id, folder_path, commit_message, ignore_patterns, repo_type):
            calls["upload"] = (repo_id, sorted(p.name for p in Path(folder_path).iterdir()), ignore_patterns)
            return type("Commit", (), {"commit_url": f"https://hub.invalid/{repo_id}/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    spec = importlib.util.spec_from_file_location("run_mner_for_push", ROOT / "examples" / "run_mner.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path / "pushed"
    module.main(["--smoke", "--use_cpu", "true", "--max_steps", "2", "--eval_strategy", "no", "--save_strategy", "no",
                 "--load_best_model_at_end", "false", "--output_dir", str(out), "--push_to_hub", "true",
                 "--hub_model_id", "someone/mgcmt-smoke", "--hub_token", "secret"])
    repo_id, files, ignored = calls["upload"]
    assert calls["create_repo"] == repo_id == "someone/mgcmt-smoke" and calls["token"] == "secret"
    for name in ("README.md", "config.json", "model.safetensors", "processor_config.json", "tokenizer.json",
                 "augmentation.safetensors", "modeling_mgcmt.py"):
        assert name in files
    assert "checkpoint-*" in ignored and "smoke_assets/**" in ignored and "features/**" in ignored


@needs_extras
def test_pipeline_on_the_test_device_matches_cpu(trained, device):
    """`device=0` on a GPU machine (MGCMT_TEST_DEVICE=cuda), the CPU otherwise: the same entities and scores."""
    cpu = pipeline("multimodal-ner", model=str(trained), device="cpu")
    on_device = pipeline("multimodal-ner", model=str(trained), device=0 if device.type == "cuda" else "cpu")
    assert on_device.model.device.type == device.type
    inputs = [{"text": "Anna Berg arrives in Oslo today", "image": picture()},
              {"text": "Globex opens a new office in Lima", "image": None}]
    for expected, got in zip(cpu(inputs, batch_size=2), on_device(inputs, batch_size=2)):
        assert [(e["entity_group"], e["start"], e["end"]) for e in got] == [
            (e["entity_group"], e["start"], e["end"]) for e in expected]
        assert [e["score"] for e in got] == pytest.approx([e["score"] for e in expected], abs=1e-3)
