"""TWITTER-2015 / TWITTER-2017 reader: CoNLL files with `IMGID:` lines -> `datasets.DatasetDict`.

Format (the UMT release every MNER paper uses): a tweet starts with `IMGID:<id>` (image `<id>.jpg`),
then one `<token>\\t<label>` line per word; tweets are separated by a blank line, and the last tweet may
end at end of file without one. Labels are BIO2 over PER/LOC/ORG/OTHER (TWITTER-2015) or MISC
(TWITTER-2017); `OTHER` is read as `MISC`, as the official MGCMT code does. Orphan `I-` tags (an `I-X`
not after `B-X`/`I-X`, frequent in TWITTER-2015) are kept as written: the entity metric decides how to
count them. Tokens that a tokenizer deletes (zero-width characters, soft hyphens) are kept with their
labels; the processor gives them a word slot.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .configuration_mgcmt import bio_labels

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": ("train.txt",), "validation": ("dev.txt", "valid.txt"), "test": ("test.txt",)}
DEFAULT_LABEL_MAP = {"OTHER": "MISC"}
MISSING_IMAGE_CHOICES = ("error", "no_image")


class MNERFormatError(ValueError):
    """A malformed line in a CoNLL file; the message names the file and the 1-based line number."""


@dataclass
class Tweet:
    image_id: str
    line: int  # line of the IMGID line, 1-based
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _map_label(label: str, label_map: dict[str, str]) -> str:
    if label == "O":
        return label
    prefix, _, entity_type = label.partition("-")
    return f"{prefix}-{label_map.get(entity_type, entity_type)}"


def _leaves_folder(image_id: str) -> bool:
    """Whether `<image_dir>/<image_id>.jpg` could name a file outside `image_dir` (a path, not a file name)."""
    return "/" in image_id or "\\" in image_id or image_id in (".", "..") or os.path.isabs(image_id) or "\0" in image_id


def read_conll_file(path: str | os.PathLike, label_names: list[str] | None = None,
                    label_map: dict[str, str] | None = None) -> list[Tweet]:
    """Read one CoNLL file with `IMGID:` lines into tweets, validating every line.

    Raises [`MNERFormatError`] naming the file and line for: bytes that are not UTF-8, a token line before any
    `IMGID:` line, a line without exactly one TAB, an empty token, an unknown label, a tweet without tokens, an
    image id that repeats within the file, or one that is a path rather than a file name (`/`, `..`).
    """
    path = Path(path)
    label_names = bio_labels() if label_names is None else list(label_names)
    known = set(label_names)
    label_map = DEFAULT_LABEL_MAP if label_map is None else label_map
    tweets: list[Tweet] = []
    seen: dict[str, int] = {}
    current: Tweet | None = None

    def close(line_number: int) -> None:
        nonlocal current
        if current is None:
            return
        if not current.tokens:
            raise MNERFormatError(f"{path}:{current.line}: tweet IMGID:{current.image_id} has no tokens")
        tweets.append(current)
        current = None

    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MNERFormatError(f"{path}:{line}: not valid UTF-8 ({error.reason}: byte {data[error.start:error.start + 1]!r}); "
                              "re-encode the file as UTF-8") from None
    with io.StringIO(text, newline=None) as handle:  # universal newlines, as open() in text mode
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if line.startswith("IMGID:"):
                close(number)
                image_id = line[len("IMGID:"):].strip()
                if not image_id:
                    raise MNERFormatError(f"{path}:{number}: empty image id in {line!r}")
                if _leaves_folder(image_id):
                    raise MNERFormatError(f"{path}:{number}: image id {image_id!r} must be a file name (no folders, "
                                          "no '..', not absolute): it names <image_dir>/<id>.jpg")
                if image_id in seen:
                    raise MNERFormatError(
                        f"{path}:{number}: duplicate image id {image_id!r} (first at line {seen[image_id]})"
                    )
                seen[image_id] = number
                current = Tweet(image_id=image_id, line=number)
            elif line == "":
                close(number)
            else:
                if current is None:
                    raise MNERFormatError(f"{path}:{number}: token line outside a tweet (no IMGID: line before it): {line!r}")
                columns = line.split("\t")
                if len(columns) != 2:
                    raise MNERFormatError(
                        f"{path}:{number}: expected 2 TAB-separated columns (token, label), got {len(columns)}: {line!r}"
                    )
                token, label = columns
                if token == "":
                    raise MNERFormatError(f"{path}:{number}: empty token")
                label = _map_label(label.strip(), label_map)
                if label not in known:
                    raise MNERFormatError(f"{path}:{number}: unknown label {columns[1]!r}; known labels: {label_names}")
                current.tokens.append(token)
                current.tags.append(label)
    close(-1)  # TWITTER-2015 files end without a blank line
    return tweets


def _find_split_file(data_dir: Path, split: str) -> Path | None:
    for name in SPLIT_FILES[split]:
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def load_mner_dataset(
    data_dir: str | os.PathLike,
    image_dir: str | os.PathLike | None = None,
    missing_image: str = "error",
    label_names: list[str] | None = None,
    label_map: dict[str, str] | None = None,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    image_extension: str = ".jpg",
):
    """Load a TWITTER-2015/2017-style directory as a `datasets.DatasetDict`.

    Args:
        data_dir: folder with `train.txt`, `dev.txt` (or `valid.txt`) and `test.txt`.
        image_dir: folder with `<image_id>.jpg`. When given, each row gets an `image_path`.
        missing_image: `"error"` (default) raises `FileNotFoundError` naming the data file and line of
            the tweet whose image is missing; `"no_image"` keeps the tweet with `image_path=None`, and the
            number of such tweets per split is logged and stored in the split's `info.description`.
        label_names: BIO2 labels of the `ner_tags` `ClassLabel`; default O + B/I over PER, LOC, ORG, MISC.
        label_map: entity-type renaming applied while reading; default `{"OTHER": "MISC"}`.
        splits: which splits to load; each must have its file.

    Columns: `id` (string, running index within the split), `tokens`, `ner_tags` (`ClassLabel` ids),
    `image_id`, `line` (the tweet's `IMGID:` line in its file, 1-based), and `image_path` when `image_dir` is
    given. Each split's `info.description` starts with its file's path (see [`split_file`]).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, List, Value

    if missing_image not in MISSING_IMAGE_CHOICES:
        raise ValueError(f"`missing_image` must be one of {MISSING_IMAGE_CHOICES}, got {missing_image!r}.")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"Data directory {str(data_dir)!r} does not exist.")
    if image_dir is not None and not Path(image_dir).is_dir():
        raise FileNotFoundError(f"Image directory {str(image_dir)!r} does not exist.")
    label_names = bio_labels() if label_names is None else list(label_names)
    columns = {"id": Value("string"), "tokens": List(Value("string")),
               "ner_tags": List(ClassLabel(names=label_names)), "image_id": Value("string"), "line": Value("int32")}
    if image_dir is not None:
        columns["image_path"] = Value("string")
    features = Features(columns)

    result = {}
    for split in splits:
        if split not in SPLIT_FILES:
            raise ValueError(f"Unknown split {split!r}; known: {list(SPLIT_FILES)}.")
        path = _find_split_file(data_dir, split)
        if path is None:
            raise FileNotFoundError(f"No {' or '.join(SPLIT_FILES[split])} in {str(data_dir)!r} for split {split!r}.")
        tweets = read_conll_file(path, label_names, label_map)
        if not tweets:
            raise MNERFormatError(f"{path}: no tweets in the file (split {split!r} is empty)")
        label_index = {label: index for index, label in enumerate(label_names)}
        rows = {"id": [str(i) for i in range(len(tweets))], "tokens": [t.tokens for t in tweets],
                "ner_tags": [[label_index[tag] for tag in t.tags] for t in tweets],
                "image_id": [t.image_id for t in tweets], "line": [t.line for t in tweets]}
        description = f"{path} ({hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"
        if image_dir is not None:
            image_paths, missing = [], 0
            for tweet in tweets:
                image_path = Path(image_dir) / f"{tweet.image_id}{image_extension}"
                if image_path.is_file():
                    image_paths.append(str(image_path))
                    continue
                if missing_image == "error":
                    raise FileNotFoundError(
                        f"{path}:{tweet.line}: image {str(image_path)!r} of tweet IMGID:{tweet.image_id} not found "
                        "(pass missing_image='no_image' to keep such tweets without an image)"
                    )
                image_paths.append(None)
                missing += 1
            rows["image_path"] = image_paths
            if missing:
                logger.warning("%s: %d of %d tweets have no image file in %s; read as tweets without image",
                               split, missing, len(tweets), image_dir)
            description += f"; {missing} missing images"
        result[split] = Dataset.from_dict(rows, features=features, info=DatasetInfo(description=description, features=features))
    return DatasetDict(result)


def split_file(split) -> str:
    """The CoNLL file a split of [`load_mner_dataset`] was read from (the start of its `info.description`)."""
    return split.info.description.split(" (", 1)[0]


def count_entities(dataset, label_names: list[str] | None = None) -> dict[str, int]:
    """Tweets and `B-` tags per entity type of one split: `{"tweets": n, "PER": n, ...}`."""
    names = dataset.features["ner_tags"].feature.names if label_names is None else label_names
    counts = {"tweets": len(dataset)}
    for name in names:
        if name.startswith("B-"):
            counts[name[2:]] = 0
    for tags in dataset["ner_tags"]:
        for tag in tags:
            name = names[tag]
            if name.startswith("B-"):
                counts[name[2:]] += 1
    return counts


__all__ = ["load_mner_dataset", "read_conll_file", "count_entities", "split_file", "MNERFormatError", "Tweet"]
