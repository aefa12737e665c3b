"""Smoke assets: a small multimodal NER dataset written by code, for offline end-to-end runs and tests.

`write_smoke_assets(directory)` writes, all from a seeded generator and nothing downloaded:
* `data/{train,dev,test}.txt`: templated tweets in the TWITTER-2015/2017 CoNLL format (IMGID lines, BIO2
  tags over PER/LOC/ORG/OTHER), with entity names invented here;
* `images/<id>.jpg`: one drawn picture per tweet (a few tweets have none, as in real data);
* `image_captions.json`: one caption per image naming COCO objects, like the CATR captions;
* `encoder/`: a tiny BERT (random weights) and a WordPiece tokenizer over the sample's words;
* `word2vec.txt`: small word vectors in word2vec text format (random, seeded).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PEOPLE = ["Anna Berg", "Tom Reyes", "Mia Chen", "Omar Haddad", "Lena Novak", "Ravi Patel", "Sara Kim", "Jon Ellis"]
PLACES = ["Berlin", "Lagos", "Lima", "Oslo", "Kyoto", "New Delhi", "Cape Town", "Quebec"]
ORGANISATIONS = ["Acme Corp", "Globex", "Initech", "Red Cross", "City Council", "Umbrella Labs"]
MISC = ["Olympics", "World Cup", "Jazz Fest", "Harvest Moon", "Star Quest"]
TEMPLATES = [
    ("{PER} arrives in {LOC} today", "person"),
    ("RT @fan : {ORG} signs {PER} #news", "person"),
    ("Watching {MISC} with friends in {LOC}", "tv"),
    ("{ORG} opens a new office in {LOC}", "car"),
    ("Great talk by {PER} at {MISC} !", "person"),
    ("So proud of {PER} and {ORG}", "dog"),
    ("{LOC} is lovely this morning", "bench"),
    ("Tickets for {MISC} sold out", "cell phone"),
    ("{PER} meets {PER} in {LOC}", "person"),
    ("Big news from {ORG} tonight", "laptop"),
]
TAG_OF = {"PER": "PER", "LOC": "LOC", "ORG": "ORG", "MISC": "OTHER"}
FILLERS = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGANISATIONS, "MISC": MISC}
SPLIT_SIZES = {"train.txt": 96, "dev.txt": 32, "test.txt": 32}


def _tweet(rng: random.Random) -> tuple[list[str], list[str], str]:
    template, obj = rng.choice(TEMPLATES)
    words, tags = [], []
    for piece in template.split():
        if piece.startswith("{"):
            slot = piece[1 : piece.index("}")]
            name = rng.choice(FILLERS[slot]).split()
            words += name
            tags += [f"B-{TAG_OF[slot]}"] + [f"I-{TAG_OF[slot]}"] * (len(name) - 1)
        else:
            words.append(piece)
            tags.append("O")
    return words, tags, obj


def _draw(path: Path, rng: random.Random) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (rng.randint(120, 200), rng.randint(90, 150)), tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randint(0, 80), rng.randint(0, 60)
        draw.ellipse((x, y, x + rng.randint(10, 40), y + rng.randint(10, 40)), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    image.save(path, format="JPEG")


def _write_encoder(directory: Path, vocabulary: set[str], hidden_size: int = 32) -> None:
    from transformers import BertConfig, BertModel, BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w.lower() for w in vocabulary})
    tokens += [c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in tokens]
    tokens += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(tokens)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(tokens), hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=2 * hidden_size, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # dropout-free: exact loss checks
    import torch

    with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
        torch.manual_seed(0)
        encoder = BertModel(config)
    encoder.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def write_smoke_assets(directory: str | Path, seed: int = 0) -> dict[str, str]:
    """Write the smoke dataset, images, captions, tiny encoder and word vectors under `directory`.

    Returns the paths: `data_dir`, `image_dir`, `captions_file`, `text_encoder`, `word_vectors`. Reuses what an
    earlier call wrote (the content is a function of `seed` alone).
    """
    directory = Path(directory)
    paths = {
        "data_dir": directory / "data",
        "image_dir": directory / "images",
        "captions_file": directory / "image_captions.json",
        "text_encoder": directory / "encoder",
        "word_vectors": directory / "word2vec.txt",
    }
    done = directory / f"complete-seed{seed}"
    if done.exists():
        return {key: str(value) for key, value in paths.items()}
    rng = random.Random(seed)
    for key in ("data_dir", "image_dir"):
        paths[key].mkdir(parents=True, exist_ok=True)
    captions, vocabulary, counter = {}, set(), 0
    for file_name, size in SPLIT_SIZES.items():
        lines = []
        for _ in range(size):
            counter += 1
            image_id = f"s{counter:04d}"
            words, tags, obj = _tweet(rng)
            vocabulary.update(words)
            lines.append(f"IMGID:{image_id}")
            lines += [f"{word}\t{tag}" for word, tag in zip(words, tags)]
            lines.append("")
            if counter % 10 != 0:  # every tenth tweet has no image, as some real tweets
                _draw(paths["image_dir"] / f"{image_id}.jpg", rng)
                captions[f"{image_id}.jpg"] = f"A {obj} next to a person." if obj != "person" else "A person standing."
        (paths["data_dir"] / file_name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["captions_file"].write_text(json.dumps(captions, indent=0) + "\n", encoding="utf-8")
    _write_encoder(paths["text_encoder"], vocabulary)
    vector_rng = random.Random(seed + 1)
    words = sorted(vocabulary | {w.lower() for w in vocabulary})
    dim = 8
    rows = [f"{len(words)} {dim}"] + [w + " " + " ".join(f"{vector_rng.gauss(0, 1):.5f}" for _ in range(dim)) for w in words]
    paths["word_vectors"].write_text("\n".join(rows) + "\n", encoding="utf-8")
    done.write_text("ok\n")
    return {key: str(value) for key, value in paths.items()}


__all__ = ["write_smoke_assets"]
