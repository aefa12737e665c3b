"""A small sample of tweets written by the mgcmt authors (not taken from any dataset), for smoke runs and tests."""

import torch

# Hand-written tweets with BIO2 tags over PER/LOC/ORG/MISC (not taken from any dataset).
SAMPLE_TWEETS = [
    ("RT @anna : Barack Obama visits Berlin today", "O O O B-PER I-PER O B-LOC O"),
    ("Great game by the Chicago Bulls last night", "O O O O B-ORG I-ORG O O"),
    ("Taylor Swift sings at Madison Square Garden", "B-PER I-PER O O B-LOC I-LOC I-LOC"),
    ("Watching Star Wars with friends", "O B-MISC I-MISC O O"),
    ("Google opens a new office in London", "B-ORG O O O O O B-LOC"),
    ("Snow again in Toronto #winter", "O O O B-LOC O"),
    ("Messi scores twice for Barcelona", "B-PER O O O B-ORG"),
    ("The Olympics start in Tokyo next week", "O B-MISC O O B-LOC O O"),
    ("Apple and Microsoft report earnings", "B-ORG O B-ORG O O"),
    ("Happy birthday Serena Williams !", "O O B-PER I-PER O"),
    ("Flooding near the Thames in London", "O O O B-LOC O B-LOC"),
    ("NASA shares photos of Mars", "B-ORG O O O B-LOC"),
    ("Listening to Abbey Road on repeat", "O O B-MISC I-MISC O O"),
    ("Drake and Rihanna at the Grammys", "B-PER O B-PER O O B-MISC"),
    ("New York Knicks lose again", "B-ORG I-ORG I-ORG O O"),
    ("Sunset over Sydney harbour tonight", "O O B-LOC O O"),
]


def encode_word_level(
    sentences: list[tuple[str, str]], config, augmentation_size: int, num_regions: int, feature_size: int, seed: int = 0
) -> tuple[dict[str, torch.Tensor], int]:
    """Model inputs for `(text, tags)` pairs without a tokenizer, for smoke runs of tiny models.

    Each word is one sub-token id (words longer than 6 characters become two, so that sum pooling,
    Eq. 1, is exercised); augmentation vectors, grid features and object ids are random (seeded).
    Returns the inputs (with `labels`) and the size of the vocabulary used.
    """
    generator = torch.Generator().manual_seed(seed)
    vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2}
    rows = []
    for text, tags in sentences:
        words, labels = text.split(), tags.split()
        if len(words) != len(labels):
            raise ValueError(f"{text!r}: {len(words)} words but {len(labels)} tags")
        ids, word_index = [1], [0]
        for position, word in enumerate(words, start=1):
            pieces = [word[:6], "##" + word[6:]] if len(word) > 6 else [word]
            for piece in pieces:
                ids.append(vocab.setdefault(piece, len(vocab)))
                word_index.append(position)
        ids.append(2)
        word_index.append(0)
        rows.append((ids, word_index, [config.label2id[tag] for tag in labels]))
    seq_len = max(len(ids) for ids, _, _ in rows)
    num_words = max(len(labels) for _, _, labels in rows)
    batch = len(rows)
    inputs = dict(
        input_ids=torch.zeros(batch, seq_len, dtype=torch.long),
        attention_mask=torch.zeros(batch, seq_len, dtype=torch.long),
        token_word_index=torch.zeros(batch, seq_len, dtype=torch.long),
        word_mask=torch.zeros(batch, num_words, dtype=torch.long),
        labels=torch.full((batch, num_words), -100),
    )
    for row, (ids, word_index, labels) in enumerate(rows):
        inputs["input_ids"][row, : len(ids)] = torch.tensor(ids)
        inputs["attention_mask"][row, : len(ids)] = 1
        inputs["token_word_index"][row, : len(ids)] = torch.tensor(word_index)
        inputs["word_mask"][row, : len(labels)] = 1
        inputs["labels"][row, : len(labels)] = torch.tensor(labels)
    inputs["augmentation_embeds"] = torch.randn(batch, num_words, augmentation_size, generator=generator)
    inputs["image_features"] = torch.randn(batch, num_regions, feature_size, generator=generator)
    inputs["object_ids"] = torch.randint(0, 10, (batch, 3), generator=generator)
    return inputs, len(vocab)


__all__ = ["SAMPLE_TWEETS", "encode_word_level"]
