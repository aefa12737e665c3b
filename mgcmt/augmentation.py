"""Semantic augmentation table (paper Eq. 2-3): each word's K nearest word2vec neighbours, softmax-weighted.

For a word x_i with vector v_i, the K most cosine-similar other words w_i1..w_iK of the embedding
vocabulary give `E^A_i = sum_j alpha_ij v_ij` with `alpha_ij = softmax_j(cosine(v_i, v_ij))` (K = 4 in the
paper). The paper pre-computes these vectors into a lookup table (Sec. 4.1); so do we, for a whole
vocabulary at once, by blocks of matrix products over the normalised embedding matrix.

Word keys, build and lookup alike: a word is looked up as written, then lower-cased, then without
leading `#`/`@` (as written, then lower-cased); the first key found is used. A word none of whose keys
has a vector (out of vocabulary) gets the **zero vector**: deterministic, and "no augmentation" for the
Linear of Eq. 4 (the official code drew unseeded random vectors for such words, so two runs differed).

Tables are stored as `augmentation.safetensors` (the vectors) + `augmentation_vocab.txt` (one key per
line) + `augmentation_config.json`; never pickle. Word vectors are read from word2vec binary/text, GloVe
text, gensim `KeyedVectors` objects, or a `.npy` matrix with a word list.

Commands:
    python -m mgcmt.augmentation build --data_dir DATA [DATA ...] --vectors FILE --format FORMAT --output_dir OUT
    python -m mgcmt.augmentation train-word2vec --data_dir DATA [DATA ...] --output FILE.bin
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

TABLE_FILE = "augmentation.safetensors"
VOCAB_FILE = "augmentation_vocab.txt"
CONFIG_FILE = "augmentation_config.json"
VECTOR_FORMATS = ("word2vec-binary", "word2vec-text", "glove", "npy")


def lookup_keys(word: str) -> list[str]:
    """Keys tried, in order, for `word`: as written, lower-cased, without leading `#`/`@`, lower-cased."""
    keys = [word, word.lower()]
    stripped = word.lstrip("#@")
    if stripped and stripped != word:
        keys += [stripped, stripped.lower()]
    return list(dict.fromkeys(keys))


class WordVectors:
    """A word list and its vectors (`(num_words, dim)` float32), with loaders for the common formats."""

    def __init__(self, words: list[str], vectors: np.ndarray | torch.Tensor):
        vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if vectors.dim() != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but vectors of shape {tuple(vectors.shape)}.")
        finite = torch.isfinite(vectors).all(dim=1)
        if not bool(finite.all()):  # one NaN row would make every neighbour score, and so every row of the table, NaN
            bad = (~finite).nonzero().flatten().tolist()
            raise ValueError(f"The vector of {words[bad[0]]!r} (row {bad[0]}) is not finite (NaN or infinity); "
                             f"{len(bad)} such rows in all: fix or drop them.")
        self.words = list(words)
        self.vectors = vectors
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("The word list has duplicates.")

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_keyed_vectors(cls, keyed_vectors) -> "WordVectors":
        """From a gensim (>= 4) `KeyedVectors` (e.g. `Word2Vec(...).wv`)."""
        return cls(list(keyed_vectors.index_to_key), keyed_vectors.vectors)

    @staticmethod
    def _named(path: Path, make) -> "WordVectors":
        try:
            return make()
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    @classmethod
    def load(cls, path: str | os.PathLike, format: str, words_path: str | os.PathLike | None = None) -> "WordVectors":
        """Read vectors from `path` in `format` (one of `VECTOR_FORMATS`).

        `word2vec-binary` / `word2vec-text`: the word2vec formats (gensim's `save_word2vec_format`);
        `glove`: GloVe text (`word v1 v2 ...` per line, no header); `npy`: a float matrix, with `words_path`
        naming the words in row order (a text file, one per line, or a parquet file with column `index`).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Word vectors file {str(path)!r} not found.")
        if format in ("word2vec-binary", "word2vec-text", "glove"):
            from gensim.models import KeyedVectors

            keyed = KeyedVectors.load_word2vec_format(
                str(path), binary=format == "word2vec-binary", no_header=format == "glove"
            )
            return cls._named(path, lambda: cls.from_keyed_vectors(keyed))
        if format == "npy":
            if words_path is None:
                raise ValueError("format='npy' needs `words_path`, the words in row order.")
            vectors = np.load(path, allow_pickle=False)
            return cls._named(path, lambda: cls(_read_word_list(Path(words_path)), vectors))
        raise ValueError(f"`format` must be one of {VECTOR_FORMATS}, got {format!r}.")


def _read_word_list(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"Word list {str(path)!r} not found.")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if "index" not in table.column_names:
            raise ValueError(f"{path}: a parquet word list needs a column 'index', found {table.column_names}.")
        return [str(word) for word in table.column("index").to_pylist()]
    return _split_lines(path.read_text(encoding="utf-8"))


def _split_lines(text: str) -> list[str]:
    """Lines split on "\\n" only: tweet words may hold other line-break characters (U+2028, U+0085)."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def nearest_neighbour_vectors(
    vectors: torch.Tensor, queries: torch.Tensor, num_neighbors: int = 4, block_size: int = 256, progress: bool = True
) -> torch.Tensor:
    """E^A (Eq. 2-3) for each query row index into `vectors`: its `num_neighbors` most cosine-similar other rows,
    weighted by the softmax of their cosines.

    Args:
        vectors (`torch.FloatTensor` of shape `(num_words, dim)`): the embedding matrix.
        queries (`torch.LongTensor` of shape `(num_queries,)`): rows of `vectors` to augment.
    Returns:
        `torch.FloatTensor` of shape `(num_queries, dim)`.
    """
    if len(vectors) <= num_neighbors:
        raise ValueError(f"{len(vectors)} word vectors cannot give {num_neighbors} neighbours besides the word itself.")
    unit = torch.nn.functional.normalize(vectors, dim=1)  # (num_words, dim)
    out = torch.empty(len(queries), vectors.shape[1])
    blocks = range(0, len(queries), block_size)
    if progress:
        from tqdm.auto import tqdm

        blocks = tqdm(blocks, desc="augmentation neighbours", unit="block")
    for start in blocks:
        rows = queries[start : start + block_size]
        cosines = unit[rows] @ unit.T  # (block, num_words)
        cosines[torch.arange(len(rows)), rows] = -float("inf")  # exclude the word itself
        top, neighbours = cosines.topk(num_neighbors, dim=1)  # (block, K)
        weights = top.softmax(dim=1)  # Eq. 2
        out[start : start + len(rows)] = torch.einsum("bk,bkd->bd", weights, vectors[neighbours])  # Eq. 3
    return out


class SemanticAugmentationTable:
    """Pre-computed E^A vectors for a vocabulary; `lookup(words)` gives the `augmentation_embeds` rows."""

    def __init__(self, keys: list[str], vectors: torch.Tensor, num_neighbors: int = 4, source: str = ""):
        if vectors.dim() != 2 or vectors.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {tuple(vectors.shape)}.")
        self.keys = list(keys)
        self.vectors = vectors.float().contiguous()
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.num_neighbors = num_neighbors
        self.source = source

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.keys)

    def key_for(self, word: str) -> str | None:
        """The table key that `word` resolves to, or `None` when the word is out of vocabulary."""
        for key in lookup_keys(word):
            if key in self.index:
                return key
        return None

    def lookup(self, words: list[str]) -> torch.Tensor:
        """`(len(words), dim)` augmentation vectors; zero rows for out-of-vocabulary words."""
        out = torch.zeros(len(words), self.dim)
        rows, positions = [], []
        for position, word in enumerate(words):
            key = self.key_for(word)
            if key is not None:
                rows.append(self.index[key])
                positions.append(position)
        if rows:
            out[positions] = self.vectors[rows]
        return out

    @classmethod
    def build(
        cls,
        vocabulary: list[str] | set[str],
        word_vectors: WordVectors,
        num_neighbors: int = 4,
        block_size: int = 256,
        progress: bool = True,
        source: str = "",
    ) -> "SemanticAugmentationTable":
        """Compute E^A for every word of `vocabulary` that has a vector under one of its `lookup_keys`."""
        words = set(vocabulary)
        resolved = [next((k for k in lookup_keys(word) if k in word_vectors.index), None) for word in words]
        missing = resolved.count(None)
        keys = sorted(set(resolved) - {None})
        logger.info("augmentation: %d vocabulary words -> %d keys with vectors; %d out of vocabulary (zero vectors)",
                    len(words), len(keys), missing)
        queries = torch.tensor([word_vectors.index[key] for key in keys], dtype=torch.long)
        vectors = nearest_neighbour_vectors(word_vectors.vectors, queries, num_neighbors, block_size, progress)
        return cls(keys, vectors, num_neighbors=num_neighbors, source=source)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": self.vectors}, directory / TABLE_FILE, metadata={"format": "pt"})
        for key in self.keys:
            if "\n" in key:
                raise ValueError(f"Cannot store key {key!r}: it contains a newline.")
        (directory / VOCAB_FILE).write_text("".join(key + "\n" for key in self.keys), encoding="utf-8")
        config = {"num_neighbors": self.num_neighbors, "dim": self.dim, "size": len(self), "source": self.source}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike) -> "SemanticAugmentationTable":
        directory = Path(directory)
        for name in (TABLE_FILE, VOCAB_FILE, CONFIG_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"No {name} in {str(directory)!r}: not a saved augmentation table.")
        vectors = load_file(directory / TABLE_FILE)["vectors"]
        keys = _split_lines((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(keys, vectors, num_neighbors=config["num_neighbors"], source=config.get("source", ""))

    @classmethod
    def is_saved_in(cls, directory: str | os.PathLike) -> bool:
        return (Path(directory) / TABLE_FILE).is_file()


def dataset_vocabulary(data_dirs: list[str]) -> list[str]:
    """All distinct words of the train/dev/test files of the given dataset folders."""
    from .data import SPLIT_FILES, _find_split_file, read_conll_file

    words = set()
    for data_dir in data_dirs:
        for split in SPLIT_FILES:
            path = _find_split_file(Path(data_dir), split)
            if path is not None:
                for tweet in read_conll_file(path):
                    words.update(tweet.tokens)
    return sorted(words)


def train_word2vec(sentences: list[list[str]], vector_size: int = 200, window: int = 5, min_count: int = 1,
                   epochs: int = 10, seed: int = 0, workers: int = 1):
    """A skip-gram word2vec on tweets (the paper's vectors: 200-d, trained on 30M tweets). `workers=1` and the
    seed make it reproducible. Returns gensim `KeyedVectors`."""
    from gensim.models import Word2Vec

    model = Word2Vec(sentences=sentences, vector_size=vector_size, window=window, min_count=min_count, sg=1,
                     epochs=epochs, seed=seed, workers=workers)
    return model.wv


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mgcmt.augmentation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the augmentation table for the words of dataset folders")
    build.add_argument("--data_dir", nargs="+", required=True, help="dataset folders (train/dev/test CoNLL files)")
    build.add_argument("--vectors", required=True, help="word vectors file")
    build.add_argument("--format", required=True, choices=VECTOR_FORMATS)
    build.add_argument("--words", help="word list for --format npy (txt, or parquet with column 'index')")
    build.add_argument("--num_neighbors", type=int, default=4)
    build.add_argument("--block_size", type=int, default=256)
    build.add_argument("--output_dir", required=True)
    w2v = commands.add_parser("train-word2vec", help="train word2vec on the tweets of dataset folders (train split by default)")
    w2v.add_argument("--data_dir", nargs="+", required=True)
    w2v.add_argument("--splits", nargs="+", default=["train"], choices=["train", "validation", "test"])
    w2v.add_argument("--vector_size", type=int, default=200)
    w2v.add_argument("--epochs", type=int, default=10)
    w2v.add_argument("--seed", type=int, default=0)
    w2v.add_argument("--output", required=True, help="output file, word2vec binary format")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)

    if args.command == "build":
        started = time.perf_counter()
        vectors = WordVectors.load(args.vectors, args.format, args.words)
        loaded = time.perf_counter()
        vocabulary = dataset_vocabulary(args.data_dir)
        table = SemanticAugmentationTable.build(vocabulary, vectors, args.num_neighbors, args.block_size,
                                                source=f"{Path(args.vectors).name} ({args.format})")
        built = time.perf_counter()
        table.save_pretrained(args.output_dir)
        logger.info("loaded %d vectors of dim %d in %.1f s; built %d entries for %d words in %.1f s (%.0f words/s); saved to %s",
                    len(vectors), vectors.dim, loaded - started, len(table), len(vocabulary), built - loaded,
                    len(table) / max(built - loaded, 1e-9), args.output_dir)
    else:
        from .data import _find_split_file, read_conll_file

        sentences = []
        for data_dir in args.data_dir:
            for split in args.splits:
                path = _find_split_file(Path(data_dir), split)
                if path is None:
                    raise FileNotFoundError(f"No {split} file in {data_dir!r}.")
                sentences += [tweet.tokens for tweet in read_conll_file(path)]
        keyed = train_word2vec(sentences, vector_size=args.vector_size, epochs=args.epochs, seed=args.seed)
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        keyed.save_word2vec_format(args.output, binary=True)
        logger.info("trained %d-d word2vec on %d tweets: %d words; saved to %s", args.vector_size, len(sentences),
                    len(keyed.index_to_key), args.output)


if __name__ == "__main__":
    main()
