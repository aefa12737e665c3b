"""MGCMTProcessor: from tweets (raw text or words) and images to the tensors `MGCMTForTokenClassification` takes.

It bundles the text encoder's tokenizer, the semantic augmentation table (Eq. 2-3), and the settings of the
image feature extractors: a timm grid backbone (Eq. 5) and an object source (a torchvision detector, or
captions / label lists; Eq. 7). Extractors are built on first use, and their outputs can be cached on disk
by image id.

Word handling: a raw tweet is split on whitespace (character offsets of each word are kept); a word that
the tokenizer turns into nothing (zero-width space, soft hyphen, or a pre-split whitespace-only word such as the
U+00A0 token of TWITTER-2015's dev set) is tokenized as the unknown token, so every word keeps its slot and
its label. A tweet longer than `max_length` sub-tokens is an error naming the
tweet (no silent truncation, no windowing): raise `max_length` (the paper's 128 covers every tweet of
TWITTER-2015/2017).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch
from transformers import BatchEncoding
from transformers.processing_utils import ProcessorMixin

from .augmentation import SemanticAugmentationTable
from .configuration_mgcmt import bio_labels

logger = logging.getLogger(__name__)

OBJECT_SOURCES = (None, "detector", "captions")
_WORD = re.compile(r"\S+")


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace words of `text` and their `(start, end)` character offsets (`text[start:end] == word`)."""
    matches = list(_WORD.finditer(text))
    return [m.group() for m in matches], [(m.start(), m.end()) for m in matches]


class MGCMTProcessor(ProcessorMixin):
    r"""Tokenizer + augmentation table + image feature settings, one call to model inputs.

    Args:
        tokenizer: the text encoder's tokenizer (fast or slow).
        augmentation_table ([`SemanticAugmentationTable`], *optional*): E^A per word. Without it, no
            `augmentation_embeds` are returned (for models with `use_semantic_augmentation=False`).
        max_length (`int`, defaults to 128): most sub-tokens per tweet, special tokens included.
        label_names (`list[str]`, *optional*): label names, in id order, for string labels. Default BIO2 over
            PER, LOC, ORG, MISC; use the model's `config.id2label`.
        grid_backbone (`str`, *optional*): timm backbone of the grid features (e.g. `"resnet152"`); `None` = no
            grid extraction (precomputed `image_features` are still accepted).
        grid_weights (`str`, *optional*): `"pretrained"` (timm hub), a local weights file, or `None` (random).
        image_feature_size / image_grid_length (`int`): the grid's channels and regions, used for tweets without
            image (zero features, masked).
        return_pixel_values (`bool`, defaults to `False`): return `pixel_values` for a model that holds its
            backbone (`config.image_backbone`) instead of grid features.
        object_source (`str`, *optional*): `"detector"` (torchvision detector), `"captions"` (class names found in
            captions or label lists), or `None`.
        detector / detector_weights / score_threshold: the detector's torchvision name, weights (`"pretrained"`, a
            local file, or `None`) and score threshold.
        captions_file (`str`, *optional*): a JSON file `{"<image id>.jpg": caption}` for `object_source="captions"`.
        max_objects (`int`, defaults to 5): objects per image N.
        cache_dir (`str`, *optional*): where extracted features are cached, keyed by image id and extractor identity.
    """

    def __init__(
        self,
        tokenizer=None,
        augmentation_table: SemanticAugmentationTable | None = None,
        max_length: int = 128,
        label_names: list[str] | None = None,
        grid_backbone: str | None = None,
        grid_weights: str | None = None,
        image_feature_size: int = 2048,
        image_grid_length: int = 49,
        return_pixel_values: bool = False,
        object_source: str | None = None,
        detector: str = "maskrcnn_resnet50_fpn",
        detector_weights: str | None = None,
        score_threshold: float = 0.5,
        captions_file: str | None = None,
        max_objects: int = 5,
        cache_dir: str | None = None,
    ):
        if object_source not in OBJECT_SOURCES:
            raise ValueError(f"`object_source` must be one of {OBJECT_SOURCES}, got {object_source!r}.")
        if object_source == "captions" and captions_file is None:
            logger.info("object_source='captions' without captions_file: pass label lists as `objects=` in each call")
        if return_pixel_values and grid_backbone is None:
            raise ValueError("`return_pixel_values=True` needs `grid_backbone` for the preprocessing settings.")
        if max_length < 3:
            raise ValueError(f"`max_length` must be >= 3, got {max_length}.")
        limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(limit, int) and limit < 1_000_000 and max_length > limit:  # transformers' "unknown" is ~1e30
            raise ValueError(f"max_length={max_length} is over the text encoder's limit of {limit} positions "
                             f"(tokenizer.model_max_length); use max_length <= {limit}.")
        self.max_length = max_length
        self.label_names = list(label_names) if label_names is not None else bio_labels()
        self.grid_backbone = grid_backbone
        self.grid_weights = grid_weights
        self.image_feature_size = image_feature_size
        self.image_grid_length = image_grid_length
        self.return_pixel_values = return_pixel_values
        self.object_source = object_source
        self.detector = detector
        self.detector_weights = detector_weights
        self.score_threshold = score_threshold
        self.captions_file = captions_file
        self.max_objects = max_objects
        self.cache_dir = cache_dir
        self._augmentation = augmentation_table
        self._grid_extractor = None
        self._object_extractor = None
        super().__init__(tokenizer)

    # -- saving and loading ------------------------------------------------------------------------------
    @property
    def augmentation_table(self) -> SemanticAugmentationTable | None:
        return self._augmentation

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        files = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        if self._augmentation is not None:
            self._augmentation.save_pretrained(save_directory)
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load tokenizer, settings and (when saved) the augmentation table from a directory or hub id."""
        processor = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        directory = Path(pretrained_model_name_or_path)
        if not directory.is_dir():  # a hub id: fetch the table files if the repository has them
            from huggingface_hub import snapshot_download

            directory = Path(snapshot_download(str(pretrained_model_name_or_path), allow_patterns=["augmentation*"],
                                               revision=kwargs.get("revision")))
        if SemanticAugmentationTable.is_saved_in(directory):
            processor._augmentation = SemanticAugmentationTable.from_pretrained(directory)
        return processor

    # -- extractors --------------------------------------------------------------------------------------
    def grid_extractor(self):
        if self._grid_extractor is None:
            if self.grid_backbone is None:
                raise ValueError("Images were given but this processor has no `grid_backbone` for grid features.")
            from .image_features import GridFeatureExtractor

            self._grid_extractor = GridFeatureExtractor(self.grid_backbone, weights=self.grid_weights)
        return self._grid_extractor

    def object_extractor(self):
        if self._object_extractor is None:
            from .image_features import CaptionObjectExtractor, DetectorObjectExtractor

            if self.object_source == "detector":
                self._object_extractor = DetectorObjectExtractor(
                    self.detector, weights=self.detector_weights, max_objects=self.max_objects,
                    score_threshold=self.score_threshold)
            elif self.object_source == "captions":
                if self.captions_file and os.path.isfile(self.captions_file):
                    self._object_extractor = CaptionObjectExtractor.from_json(self.captions_file, max_objects=self.max_objects)
                else:
                    if self.captions_file:  # e.g. a checkpoint used on another machine: pass `objects=` per tweet
                        logger.warning("captions_file %r not found; objects come only from `objects=`", self.captions_file)
                    self._object_extractor = CaptionObjectExtractor(max_objects=self.max_objects)
            else:
                raise ValueError("This processor has no `object_source`.")
        return self._object_extractor

    # -- text ----------------------------------------------------------------------------------------------
    def sub_token_counts(self, tweets: list[list[str]]) -> list[int]:
        """Sub-tokens of each pre-split tweet, special tokens counted: the text encoder's sequence length."""
        return [len(self._encode(words)[0]) for words in tweets]

    def _tokenize(self, words: list[str], index: int) -> tuple[list[int], list[int], list[int] | None]:
        ids, word_index, types = self._encode(words)
        if len(ids) > self.max_length:
            raise ValueError(
                f"Tweet {index} has {len(words)} words = {len(ids)} sub-tokens, over max_length={self.max_length}; "
                "raise `max_length` (no words are dropped silently)."
            )
        return ids, word_index, types

    def _encode(self, words: list[str]) -> tuple[list[int], list[int], list[int] | None]:
        """Sub-token ids, 1-based word index per sub-token, token type ids; deleted words become unknown tokens."""
        tokenizer = self.tokenizer
        encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False)
        word_ids = encoded.word_ids()
        present = {w for w in word_ids if w is not None}
        if len(present) != len(words):
            replaced = [word if i in present else tokenizer.unk_token for i, word in enumerate(words)]
            encoded = tokenizer(replaced, is_split_into_words=True, add_special_tokens=True, truncation=False)
            word_ids = encoded.word_ids()
        ids = encoded["input_ids"]
        word_index = [0 if w is None else w + 1 for w in word_ids]
        return ids, word_index, encoded.get("token_type_ids")

    def _label_ids(self, labels, num_words: int, index: int) -> list[int]:
        if len(labels) != num_words:
            raise ValueError(f"Tweet {index} has {num_words} words but {len(labels)} labels.")
        ids = []
        for label in labels:
            if isinstance(label, str):
                if label not in self.label_names:
                    raise ValueError(f"Tweet {index}: unknown label {label!r}; known: {self.label_names}.")
                ids.append(self.label_names.index(label))
            else:
                if not 0 <= int(label) < len(self.label_names):
                    raise ValueError(f"Tweet {index}: label id {label} outside [0, {len(self.label_names)}).")
                ids.append(int(label))
        return ids

    # -- call ------------------------------------------------------------------------------------------------
    def __call__(
        self,
        text=None,
        images=None,
        labels=None,
        image_ids: list[str | None] | str | None = None,
        image_features=None,
        object_ids=None,
        objects=None,
        is_split_into_words: bool = False,
        return_offsets_mapping: bool = False,
        return_tensors: str = "pt",
        progress: bool = False,
        index_offset: int = 0,
    ) -> BatchEncoding:
        """Model inputs for one tweet or a batch.

        Args:
            text: a raw tweet (`str`), or its words (`list[str]` with `is_split_into_words=True`), or a list of
                either.
            images: per tweet, an image (path, bytes, PIL image) or `None` (no image).
            labels: per tweet, one label (name or id) per word.
            image_ids: per tweet, an image id: the cache key, and the caption key for `object_source="captions"`.
            image_features: per tweet, precomputed grid features `(regions, image_feature_size)` or `None`.
            object_ids: per tweet, precomputed object category ids (0 = empty slot), at most `max_objects`.
            objects: per tweet, a caption or a list of COCO class names (for `object_source="captions"`).
            index_offset: added to the tweet numbers in error messages (for a caller that passes a slice of its
                input, such as the pipeline one tweet at a time).
            return_offsets_mapping: also return `word_offsets`, `(batch, num_words, 2)` character offsets of each
                word in its raw tweet (-1 for pre-split words and padding). Not a model input.
        Returns:
            `BatchEncoding` with `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes
            them), `token_word_index`, `word_mask`, and as configured `augmentation_embeds`, `image_features` or
            `pixel_values` with `image_mask`, `object_ids`, `labels`.
        """
        if text is None:
            raise ValueError("`text` is required: a tweet (str), its words (list[str]), or a list of tweets.")
        if isinstance(text, dict):
            raise ValueError("`text` must be a string or a list, got dict: a dict with 'text' / 'words' / 'image' is "
                             "the input of pipeline('multimodal-ner'); here pass text=..., images=... separately.")
        if not isinstance(text, (str, list, tuple)):
            raise ValueError(f"`text` must be a string or a list (of strings, or of word lists), got {type(text).__name__}.")
        if len(text) == 0 and not isinstance(text, str):
            raise ValueError("`text` is an empty list: no tweets to process.")
        if isinstance(text, str):
            single = True
        elif is_split_into_words:  # one tweet's words, or a list of word lists
            single = not text or isinstance(text[0], str)
        else:
            single = False
        tweets = [text] if single else list(text)
        batch = len(tweets)

        def per_tweet(value, name):
            if value is None:
                return [None] * batch
            values = [value] if single else list(value)
            if len(values) != batch:
                raise ValueError(f"{batch} tweets but {len(values)} {name}.")
            return values

        images = per_tweet(images, "images")
        labels = per_tweet(labels, "label lists")
        image_ids = per_tweet(image_ids, "image ids")
        image_features = per_tweet(image_features, "image feature tensors")
        object_ids = per_tweet(object_ids, "object id lists")
        objects = per_tweet(objects, "object label lists")

        words_batch, offsets_batch = [], []
        for position, tweet in enumerate(tweets):
            index = position + index_offset
            if tweet is None:
                raise ValueError(f"Tweet {index} is None; pass a string or a list of words.")
            if isinstance(tweet, str):
                if is_split_into_words:
                    raise ValueError(f"Tweet {index} is a string but is_split_into_words=True.")
                words, offsets = split_words(tweet)
            elif not isinstance(tweet, (list, tuple)):
                raise ValueError(f"Tweet {index} is {type(tweet).__name__}: pass a string or a list of words.")
            else:
                for number, word in enumerate(tweet):
                    if not isinstance(word, str):  # never the strings "None" or "5" in place of a word
                        raise ValueError(f"Tweet {index}: word {number} is {type(word).__name__}, not a string: {word!r}.")
                words, offsets = list(tweet), None
                empty = [position for position, word in enumerate(words) if not word]
                if empty:  # a whitespace-only word (TWITTER-2015 has a U+00A0 token) is kept, as a deleted word
                    raise ValueError(f"Tweet {index} has an empty word at position {empty[0]}.")
            if not words:
                raise ValueError(f"Tweet {index} is empty: it has no words.")
            words_batch.append(words)
            offsets_batch.append(offsets)

        encoded = [self._tokenize(words, index + index_offset) for index, words in enumerate(words_batch)]
        seq_len = max(len(ids) for ids, _, _ in encoded)
        num_words = max(len(words) for words in words_batch)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        data = {
            "input_ids": torch.full((batch, seq_len), pad_id, dtype=torch.long),
            "attention_mask": torch.zeros(batch, seq_len, dtype=torch.long),
            "token_word_index": torch.zeros(batch, seq_len, dtype=torch.long),
            "word_mask": torch.zeros(batch, num_words, dtype=torch.long),
        }
        with_types = all(types is not None for _, _, types in encoded)
        if with_types:
            data["token_type_ids"] = torch.zeros(batch, seq_len, dtype=torch.long)
        for row, (ids, word_index, types) in enumerate(encoded):
            data["input_ids"][row, : len(ids)] = torch.tensor(ids)
            data["attention_mask"][row, : len(ids)] = 1
            data["token_word_index"][row, : len(ids)] = torch.tensor(word_index)
            data["word_mask"][row, : len(words_batch[row])] = 1
            if with_types:
                data["token_type_ids"][row, : len(ids)] = torch.tensor(types)

        if self._augmentation is not None:
            data["augmentation_embeds"] = torch.zeros(batch, num_words, self._augmentation.dim)
            for row, words in enumerate(words_batch):
                data["augmentation_embeds"][row, : len(words)] = self._augmentation.lookup(words)

        if any(lab is not None for lab in labels):
            data["labels"] = torch.full((batch, num_words), -100, dtype=torch.long)
            for row, (words, tags) in enumerate(zip(words_batch, labels)):
                if tags is None:
                    raise ValueError(f"Tweet {row + index_offset} has no labels while others do.")
                data["labels"][row, : len(words)] = torch.tensor(self._label_ids(tags, len(words), row + index_offset))

        data.update(self._image_inputs(images, image_ids, image_features, progress, index_offset))
        objects_data = self._object_inputs(images, image_ids, object_ids, objects, progress, index_offset)
        if objects_data is not None:
            data["object_ids"] = objects_data

        if return_offsets_mapping:
            offsets = torch.full((batch, num_words, 2), -1, dtype=torch.long)
            for row, word_offsets in enumerate(offsets_batch):
                if word_offsets is not None:
                    offsets[row, : len(word_offsets)] = torch.tensor(word_offsets)
            data["word_offsets"] = offsets
        return BatchEncoding(data, tensor_type=return_tensors)

    # -- images ---------------------------------------------------------------------------------------------------
    def _cached(self, extractor, keys: list[str | None], items: list, progress: bool) -> list[torch.Tensor]:
        """Run `extractor` on `items`, through the feature cache for the items that have a key."""
        if self.cache_dir is None or any(key is None for key in keys):
            return list(extractor(items, progress=progress))
        from .image_features import FeatureCache

        return FeatureCache(self.cache_dir, extractor.identity).compute(keys, items, extractor, progress=progress)

    def _image_inputs(self, images, image_ids, image_features, progress, index_offset=0) -> dict[str, torch.Tensor]:
        batch = len(images)
        have_features = [f is not None for f in image_features]
        have_images = [i is not None for i in images]
        if any(have_features) and any(have_images):
            raise ValueError("Pass either `images` or precomputed `image_features`, not both.")
        if not any(have_features) and self.grid_backbone is None:
            if any(have_images) and self.object_source != "detector":
                raise ValueError("Images were given, but this processor has neither a `grid_backbone` nor a detector "
                                 "to use them; pass precomputed `image_features`, or images=None.")
            return {}  # no grid: the model reads "no image" for every tweet
        regions = self.image_grid_length
        mask = torch.zeros(batch, regions, dtype=torch.long)
        if self.return_pixel_values:
            extractor = self.grid_extractor()
            height, width = extractor.image_size
            pixels = torch.zeros(batch, 3, height, width)
            rows = [row for row in range(batch) if have_images[row]]
            if rows:
                pixels[rows] = extractor.preprocess([images[row] for row in rows])
                mask[rows] = 1
            return {"pixel_values": pixels, "image_mask": mask}
        features = torch.zeros(batch, regions, self.image_feature_size)
        if any(have_features):
            for row, value in enumerate(image_features):
                if value is None:
                    continue
                value = torch.as_tensor(value, dtype=torch.float32)
                if value.dim() != 2 or value.shape[1] != self.image_feature_size or value.shape[0] > regions:
                    raise ValueError(
                        f"Tweet {row + index_offset}: image_features must have shape (<= {regions}, {self.image_feature_size}), "
                        f"got {tuple(value.shape)}."
                    )
                features[row, : value.shape[0]] = value
                mask[row, : value.shape[0]] = 1
            return {"image_features": features, "image_mask": mask}
        rows = [row for row in range(batch) if have_images[row]]
        if rows:
            extracted = self._cached(self.grid_extractor(), [image_ids[row] for row in rows],
                                     [images[row] for row in rows], progress)
            for row, value in zip(rows, extracted):
                if value.shape != (regions, self.image_feature_size):
                    raise ValueError(
                        f"The grid backbone {self.grid_backbone!r} gives features of shape {tuple(value.shape)}, but this "
                        f"processor expects ({regions}, {self.image_feature_size}): fix image_grid_length / image_feature_size."
                    )
                features[row] = value
                mask[row] = 1
        return {"image_features": features, "image_mask": mask}

    def _object_inputs(self, images, image_ids, object_ids, objects, progress, index_offset=0) -> torch.Tensor | None:
        batch = len(images)
        if any(value is not None for value in object_ids):
            out = torch.zeros(batch, self.max_objects, dtype=torch.long)
            for row, ids in enumerate(object_ids):
                if ids is None:
                    continue
                try:
                    ids = [int(i) for i in ids]
                except (TypeError, ValueError) as error:
                    raise ValueError(f"Tweet {row + index_offset}: object ids must be a list of integers, got {ids!r}.") from error
                if len(ids) > self.max_objects:
                    raise ValueError(f"Tweet {row + index_offset}: {len(ids)} object ids, more than max_objects={self.max_objects}.")
                out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            return out
        if self.object_source is None:
            return None
        extractor = self.object_extractor()
        out = torch.zeros(batch, self.max_objects, dtype=torch.long)
        if self.object_source == "captions":
            for row in range(batch):
                if objects[row] is not None:
                    ids = extractor.categories_in(objects[row])[: self.max_objects]
                    out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                elif image_ids[row] is not None:
                    out[row] = extractor.ids_for(image_ids[row])
            return out
        rows = [row for row in range(batch) if images[row] is not None]
        if rows:
            detected = self._cached(extractor, [image_ids[row] for row in rows], [images[row] for row in rows], progress)
            for row, ids in zip(rows, detected):
                out[row] = ids
        return out


__all__ = ["MGCMTProcessor", "split_words"]
