from pathlib import Path

import pytest

from mgcmt.data import MNERFormatError, count_entities, load_mner_dataset, read_conll_file, split_file

from .helpers import SHARED_DATA as SHARED

# ../shared/data/README.md: tweets and B- tags per type and split (OTHER counted as MISC)
EXPECTED = {
    "twitter2015": {
        "train": {"tweets": 4000, "PER": 2217, "LOC": 2091, "ORG": 927, "MISC": 931},
        "validation": {"tweets": 1000, "PER": 552, "LOC": 522, "ORG": 247, "MISC": 220},
        "test": {"tweets": 3257, "PER": 1816, "LOC": 1697, "ORG": 839, "MISC": 720},
    },
    "twitter2017": {
        "train": {"tweets": 3373, "PER": 2943, "LOC": 731, "ORG": 1674, "MISC": 701},
        "validation": {"tweets": 723, "PER": 626, "LOC": 173, "ORG": 375, "MISC": 150},
        "test": {"tweets": 723, "PER": 621, "LOC": 178, "ORG": 395, "MISC": 157},
    },
}


def write_split(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "IMGID:1\nObama\tB-PER\nin\tO\nBerlin\tB-LOC\n\nIMGID:2\nGo\tO\nNew\tB-OTHER\nYork\tI-OTHER\n"


def make_dataset(directory: Path, valid_name: str = "dev.txt") -> Path:
    write_split(directory, "train.txt", GOOD)
    write_split(directory, valid_name, "IMGID:3\nhi\tO\n\n")
    write_split(directory, "test.txt", "IMGID:4\n\u200b\tO\nParis\tI-LOC\n")  # orphan I- and a deleted token kept
    return directory


@pytest.mark.parametrize("valid_name", ["dev.txt", "valid.txt"])
def test_reads_splits_labels_and_quirks(tmp_path, valid_name):
    dataset = load_mner_dataset(make_dataset(tmp_path, valid_name))
    assert set(dataset) == {"train", "validation", "test"}
    train = dataset["train"]
    names = train.features["ner_tags"].feature.names
    assert names == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    assert train[0] == {"id": "0", "tokens": ["Obama", "in", "Berlin"], "ner_tags": [1, 0, 3], "image_id": "1", "line": 1}
    assert train[1]["line"] == 6 and split_file(train) == str(tmp_path / "train.txt")
    assert [names[t] for t in train[1]["ner_tags"]] == ["O", "B-MISC", "I-MISC"]  # OTHER read as MISC
    test = dataset["test"][0]  # the last tweet closes at end of file
    assert test["tokens"] == ["\u200b", "Paris"] and [names[t] for t in test["ner_tags"]] == ["O", "I-LOC"]
    assert count_entities(train) == {"tweets": 2, "PER": 1, "LOC": 1, "ORG": 0, "MISC": 1}


@pytest.mark.parametrize(
    "text, message",
    [
        ("Obama\tB-PER\n", "train.txt:1: token line outside a tweet"),
        ("IMGID:1\nObama B-PER\n", "train.txt:2: expected 2 TAB-separated columns"),
        ("IMGID:1\nObama\tB-PER\tX\n", "train.txt:2: expected 2 TAB-separated columns (token, label), got 3"),
        ("IMGID:1\nObama\tB-PRS\n", "train.txt:2: unknown label 'B-PRS'"),
        ("IMGID:1\na\tO\n\nIMGID:1\nb\tO\n", "train.txt:4: duplicate image id '1' (first at line 1)"),
        ("IMGID:1\n\nIMGID:2\nb\tO\n", "train.txt:1: tweet IMGID:1 has no tokens"),
        ("IMGID:\na\tO\n", "train.txt:1: empty image id"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, message):
    path = write_split(tmp_path, "train.txt", text)
    with pytest.raises(MNERFormatError) as error:
        read_conll_file(path)
    assert message in str(error.value)


def test_missing_files_and_empty_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mner_dataset(tmp_path / "nowhere")
    write_split(tmp_path, "train.txt", GOOD)
    with pytest.raises(FileNotFoundError, match="dev.txt or valid.txt"):
        load_mner_dataset(tmp_path)
    write_split(tmp_path, "dev.txt", "\n")
    with pytest.raises(MNERFormatError, match="no tweets"):
        load_mner_dataset(tmp_path, splits=("validation",))


def test_missing_images_error_or_no_image(tmp_path, caplog):
    data = make_dataset(tmp_path / "data")
    images = tmp_path / "images"
    images.mkdir()
    for image_id in ("1", "3", "4"):
        (images / f"{image_id}.jpg").write_bytes(b"not read here")
    with pytest.raises(FileNotFoundError) as error:
        load_mner_dataset(data, image_dir=images)
    assert "train.txt:6: image" in str(error.value) and "IMGID:2" in str(error.value)
    with caplog.at_level("WARNING"):
        dataset = load_mner_dataset(data, image_dir=images, missing_image="no_image")
    assert dataset["train"]["image_path"] == [str(images / "1.jpg"), None]
    assert "1 missing images" in dataset["train"].info.description
    assert "train: 1 of 2 tweets have no image file" in caplog.text
    with pytest.raises(ValueError, match="'error', 'no_image'"):
        load_mner_dataset(data, missing_image="skip")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real-data test: the benchmark text is not at {SHARED}")
@pytest.mark.parametrize("name", ["twitter2015", "twitter2017"])
def test_real_counts_match_the_data_readme(name):
    dataset = load_mner_dataset(SHARED / name)
    assert {split: count_entities(dataset[split]) for split in dataset} == EXPECTED[name]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real-data test: the benchmark text is not at {SHARED}")
@pytest.mark.parametrize("name", ["twitter2015", "twitter2017"])
def test_processor_takes_every_real_tweet(name):
    # TWITTER-2015's dev set has a U+00A0 token: every real word must keep its slot and its label
    from mgcmt import MGCMTProcessor

    from .helpers import tiny_tokenizer

    dataset = load_mner_dataset(SHARED / name)
    processor = MGCMTProcessor(tiny_tokenizer(), label_names=dataset["train"].features["ner_tags"].feature.names)
    for split in dataset:
        rows = dataset[split]
        for start in range(0, len(rows), 500):
            batch = rows[start:start + 500]
            out = processor(batch["tokens"], labels=batch["ner_tags"], is_split_into_words=True)
            assert out["word_mask"].sum(1).tolist() == [len(words) for words in batch["tokens"]]
            for row, tags in enumerate(batch["ner_tags"]):
                assert out["labels"][row, : len(tags)].tolist() == tags
