import importlib.util
import json

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

import mgcmt  # noqa: F401  (registers AutoProcessor)
from mgcmt import MGCMTForTokenClassification, MGCMTProcessor
from mgcmt.augmentation import SemanticAugmentationTable, WordVectors
from mgcmt.image_features import COCO_CLASSES

from .helpers import TINY_WORDS, MGCMTModelTester, tiny_tokenizer

timm_missing = importlib.util.find_spec("timm") is None


@pytest.fixture
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture
def table():
    generator = torch.Generator().manual_seed(0)
    words = TINY_WORDS + [f"filler{i}" for i in range(10)]
    return SemanticAugmentationTable.build(TINY_WORDS, WordVectors(words, torch.randn(len(words), 6, generator=generator)),
                                           progress=False)


def test_alignment_on_a_hand_written_tweet(tokenizer, table):
    processor = MGCMTProcessor(tokenizer, table)
    words = ["RT", "@anna", ":", "Obama", "visits", "Berlin", "today"]
    out = processor(words, labels=["O", "O", "O", "B-PER", "O", "B-LOC", "O"], is_split_into_words=True)
    tokens = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert tokens == ["[CLS]", "rt", "@", "anna", ":", "obama", "visits", "berlin", "today", "[SEP]"]
    assert out["token_word_index"][0].tolist() == [0, 1, 2, 2, 3, 4, 5, 6, 7, 0]  # '@anna' -> two sub-tokens, word 2
    assert out["word_mask"].tolist() == [[1] * 7]
    assert out["labels"].tolist() == [[0, 0, 0, 1, 0, 3, 0]]
    assert out["augmentation_embeds"].shape == (1, 7, 6)
    torch.testing.assert_close(out["augmentation_embeds"][0, 3], table.lookup(["obama"])[0])
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids", "token_word_index", "word_mask",
                        "augmentation_embeds", "labels"}


def test_raw_text_offsets_and_batches(tokenizer):
    processor = MGCMTProcessor(tokenizer)
    texts = ["  Obama  visits Berlin ", "snow in toronto !"]
    out = processor(texts, return_offsets_mapping=True)
    for row, text in enumerate(texts):
        for start, end in out["word_offsets"][row].tolist():
            if start >= 0:
                assert text[start:end] == text[start:end].strip() and text[start:end]
    assert [texts[0][s:e] for s, e in out["word_offsets"][0][:3].tolist()] == ["Obama", "visits", "Berlin"]
    assert out["word_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert out["word_offsets"][0, 3].tolist() == [-1, -1]
    assert "augmentation_embeds" not in out  # no table


def test_words_the_tokenizer_deletes_keep_their_slot_and_label(tokenizer):
    processor = MGCMTProcessor(tokenizer)
    # "\u00a0" alone: a real pre-split token of TWITTER-2015's dev set (dev.txt line 9658, label O)
    words = ["Obama", "\u200b", "\u00ad", "Berlin", "\ufe0f", "\U0001F600", "\u00a0", " "]
    out = processor(words, labels=["B-PER", "O", "O", "B-LOC", "O", "O", "O", "O"], is_split_into_words=True)
    index = out["token_word_index"][0].tolist()
    assert sorted(set(index) - {0}) == [1, 2, 3, 4, 5, 6, 7, 8]  # every word has a sub-token
    tokens = tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert all(tokens[index.index(word)] == "[UNK]" for word in (2, 3, 7, 8))
    assert out["labels"][0].tolist() == [1, 0, 0, 3, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p(""), "Tweet 0 is empty"),
        (lambda p: p(["snow", "   "]), "Tweet 1 is empty"),
        (lambda p: p(None), "`text` is required"),
        (lambda p: p(["ok", None]), "Tweet 1 is None"),
        (lambda p: p([["ok"], ["a", "", "b"]], is_split_into_words=True), "Tweet 1 has an empty word at position 1"),
        (lambda p: p(["a", "b"], labels=["O"], is_split_into_words=True), "Tweet 0 has 2 words but 1 labels"),
        (lambda p: p("a b", labels=["O", "B-XYZ"]), "unknown label 'B-XYZ'"),
        (lambda p: p(["snow"] * 30, is_split_into_words=True), "Tweet 0 has 30 words = 32 sub-tokens, over max_length=16"),
        (lambda p: p(["a", "b"], images=[None]), "2 tweets but 1 images"),
        (lambda p: p("a", object_ids=[1] * 9), "more than max_objects=5"),
    ],
)
def test_bad_input_raises_naming_the_tweet(tokenizer, call, message):
    processor = MGCMTProcessor(tokenizer, max_length=16)
    with pytest.raises(ValueError) as error:
        call(processor)
    assert message in str(error.value)


def test_objects_from_captions_and_ids(tokenizer, tmp_path):
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"7.jpg": "A man walking a dog.", "8.jpg": "An empty street."}))
    processor = MGCMTProcessor(tokenizer, object_source="captions", captions_file=str(captions), max_objects=3)
    out = processor(["go", "go", "go"], image_ids=["7", "8", "9"], objects=[None, None, ["cat"]])
    person, dog, cat = (COCO_CLASSES.index(n) + 1 for n in ("person", "dog", "cat"))
    assert out["object_ids"].tolist() == [[person, dog, 0], [0, 0, 0], [cat, 0, 0]]
    plain = MGCMTProcessor(tokenizer, max_objects=3)
    assert "object_ids" not in plain("go")
    assert plain(["go", "go"], object_ids=[[4], None])["object_ids"].tolist() == [[4, 0, 0], [0, 0, 0]]


def test_precomputed_features_and_missing_images(tokenizer):
    processor = MGCMTProcessor(tokenizer, image_feature_size=8, image_grid_length=4)
    features = torch.randn(4, 8)
    out = processor(["go", "go"], image_features=[features, None])
    assert out["image_mask"].tolist() == [[1, 1, 1, 1], [0, 0, 0, 0]]
    torch.testing.assert_close(out["image_features"][0], features)
    assert (out["image_features"][1] == 0).all()
    with pytest.raises(ValueError, match="Tweet 0: image_features must have shape"):
        processor("go", image_features=torch.randn(4, 5))


@pytest.mark.skipif(timm_missing, reason="timm is in the 'features' extra")
def test_images_through_the_grid_backbone_with_cache(tokenizer, tmp_path):
    torch.manual_seed(0)
    processor = MGCMTProcessor(tokenizer, grid_backbone="resnet10t", image_feature_size=512, image_grid_length=36,
                               cache_dir=str(tmp_path / "cache"))
    image = Image.new("RGB", (90, 60), (250, 20, 20))
    gray = Image.new("L", (30, 30), 128)
    out = processor(["go", "go", "go"], images=[image, None, gray], image_ids=["a", "b", "c"])
    assert out["image_features"].shape == (3, 36, 512)
    assert out["image_mask"].tolist() == [[1] * 36, [0] * 36, [1] * 36]
    cached = list((tmp_path / "cache").glob("grid-*/*.safetensors"))
    assert len(cached) == 2
    again = processor(["go"], images=[Image.new("RGB", (5, 5))], image_ids=["a"])  # served from the cache, by id
    torch.testing.assert_close(again["image_features"][0], out["image_features"][0])
    pixels = MGCMTProcessor(tokenizer, grid_backbone="resnet10t", return_pixel_values=True, image_grid_length=36)
    out = pixels(["go", "go"], images=[image, None])
    assert out["pixel_values"].shape == (2, 3, 176, 176) and out["image_mask"][:, 0].tolist() == [1, 0]


def test_save_and_load_round_trip(tokenizer, table, tmp_path):
    processor = MGCMTProcessor(tokenizer, table, max_length=40, label_names=["O", "B-X", "I-X"],
                               object_source="captions", max_objects=6, image_feature_size=8, image_grid_length=4)
    processor.save_pretrained(tmp_path)
    for loader in (MGCMTProcessor, AutoProcessor):
        loaded = loader.from_pretrained(tmp_path)
        assert isinstance(loaded, MGCMTProcessor)
        assert (loaded.max_length, loaded.label_names, loaded.object_source, loaded.max_objects) == (
            40, ["O", "B-X", "I-X"], "captions", 6)
        assert loaded.augmentation_table.keys == table.keys
        assert torch.equal(loaded.augmentation_table.vectors, table.vectors)
        kwargs = dict(labels=[["B-X", "O", "I-X"]], objects=["a dog"], image_features=[torch.ones(4, 8)])
        first, second = processor(["Obama visits berlin"], **kwargs), loaded(["Obama visits berlin"], **kwargs)
        assert first.keys() == second.keys()
        for key in first:
            assert torch.equal(first[key], second[key]), key


def test_outputs_are_exactly_the_model_inputs(tokenizer, table):
    tester = MGCMTModelTester(vocab_size=tokenizer.vocab_size, augmentation_size=6)
    model = MGCMTForTokenClassification(tester.get_config()).eval()
    processor = MGCMTProcessor(tokenizer, table, object_source="captions", max_objects=3, image_feature_size=8,
                               image_grid_length=4)
    batch = processor(["Obama visits Berlin", "snow in toronto today !"], labels=[["B-PER", "O", "B-LOC"], ["O"] * 5],
                      objects=["A man.", None], image_features=[torch.randn(4, 8), None])
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.predictions.shape == (2, 5)
    assert (out.predictions[0, 3:] == -100).all()
