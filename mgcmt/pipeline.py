"""`pipeline("multimodal-ner")`: a tweet (and its image) in, entity spans out.

    import mgcmt
    from transformers import pipeline

    ner = pipeline("multimodal-ner", model="path/or/hub-id")
    ner("Obama visits Berlin", image="photo.jpg")
    # [{"entity_group": "PER", "score": 0.97, "word": "Obama", "start": 0, "end": 5}, ...]

Inputs: a string, `{"text": ..., "image": ..., "objects": ...}`, `{"words": [...], "image": ...}`, or a list
of those. `image` is a path, a URL (fetched with a timeout), bytes, a PIL image, or `None` (no image);
`objects` is a caption or a list of COCO class names, for processors whose `object_source` is
`"captions"`. For pre-split words, offsets refer to the words joined by single spaces (each word its own span,
even one that holds whitespace). An error in a list of inputs names the tweet by its index in the list.

Score: the CRF marginal probability that exactly these words form this entity (forward-backward over the
main CRF, `mgcmt.crf.span_probability`), not the Viterbi path's score. With
`return_attentions=True` each entity also carries `grid_attention` (one weight per image region) and
`object_attention` (one per object slot): the basic-level text-to-vision attention, averaged over heads
and over the entity's words.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request

from transformers import Pipeline

from .crf import span_probability
from .metrics import lenient_entities
from .processing import split_words

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


def fetch_image(url: str, timeout: float) -> bytes:
    """The bytes at `url` within `timeout` seconds in all (connecting and every read together) and at most 50 MB,
    or a `ValueError` naming the URL: unreachable, too slow, too large, or truncated (fewer bytes than the server's
    Content-Length)."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"not downloaded within {timeout} s")
        return remaining

    chunks, size, promised = [], 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (a user's own URL)
            length = response.headers.get("Content-Length")
            promised = int(length) if length and length.isdigit() else None
            sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
            while True:
                if sock is not None:  # no single read may outlast the deadline
                    sock.settimeout(left())
                chunk = response.read1(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ValueError(f"Image {url!r} is larger than {MAX_DOWNLOAD_BYTES} bytes.")
                left()
    except ValueError:
        raise
    except TimeoutError as error:
        raise ValueError(f"Cannot fetch image {url!r}: not downloaded within {timeout} s ({size} bytes so far): {error}") from error
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        if promised is None or size >= promised:  # otherwise a cut connection: reported as truncated below
            raise ValueError(f"Cannot fetch image {url!r} (within {timeout} s): {error}") from error
    if promised is not None and size < promised:
        raise ValueError(f"Cannot fetch image {url!r}: the download was truncated: {size} of {promised} bytes")
    return b"".join(chunks)


def word_offsets(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Pre-split words joined by single spaces, and each word's `(start, end)` in that text, counted word by word:
    a word that is or holds whitespace (`"\\xa0"`, `"New York"`) keeps its own span."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


class MultimodalNERPipeline(Pipeline):
    """Named entities of tweets with images, from an [`MGCMTForTokenClassification`] and its [`MGCMTProcessor`]."""

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, timeout: float | None = None, return_attentions: bool | None = None, **kwargs):
        preprocess, forward, postprocess = {}, {}, {}
        if timeout is not None:
            preprocess["timeout"] = timeout
        if return_attentions is not None:
            forward["return_attentions"] = return_attentions
            postprocess["return_attentions"] = return_attentions
        if kwargs:
            raise TypeError(f"Unknown arguments for the multimodal-ner pipeline: {sorted(kwargs)}.")
        return preprocess, forward, postprocess

    def __call__(self, inputs, image=None, **kwargs):
        """Entities of one tweet (a string or a dict) or of a list of tweets; `image` goes with a single string."""
        if isinstance(inputs, str) or inputs is None:
            inputs = {"text": inputs, "image": image}
        elif image is not None:
            raise ValueError("`image=` goes with a single string; put images into the dicts of a list.")
        if isinstance(inputs, (list, tuple)):  # number the tweets, so that an error names the right one
            inputs = [self._numbered(item, index) for index, item in enumerate(inputs)]
        return super().__call__(inputs, **kwargs)

    @staticmethod
    def _numbered(item, index: int) -> dict:
        if isinstance(item, str) or item is None:
            return {"text": item, "_index": index}
        if isinstance(item, dict):
            return {**item, "_index": index}
        raise ValueError(f"Tweet {index}: each input must be a string or a dict with 'text' or 'words', "
                         f"got {type(item).__name__}.")

    def preprocess(self, inputs, timeout: float = 10.0):
        if isinstance(inputs, str):
            inputs = {"text": inputs}
        if not isinstance(inputs, dict):
            raise ValueError(f"Each input must be a string or a dict with 'text' or 'words', got {type(inputs).__name__}.")
        index = inputs.get("_index", 0)
        words, text = inputs.get("words"), inputs.get("text")
        if words is not None:
            if isinstance(words, str) or not isinstance(words, (list, tuple)):
                raise ValueError(f"Tweet {index}: 'words' must be a list of strings, got {type(words).__name__}.")
            words = list(words)
        elif not isinstance(text, str):
            raise ValueError(f"Tweet {index}: the tweet text must be a string, got {type(text).__name__}.")
        image = inputs.get("image")
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            image = fetch_image(image, timeout)
        encoded = self.processor(  # checks the words and raises for an empty tweet, naming it by its index
            text if words is None else words, images=image, objects=inputs.get("objects"),
            is_split_into_words=words is not None, index_offset=index)
        text, offsets = word_offsets(words) if words is not None else (text, split_words(text)[1])
        model_inputs = dict(encoded)
        model_inputs["text"] = text
        model_inputs["offsets"] = offsets
        return model_inputs

    def _forward(self, model_inputs, return_attentions: bool = False):
        text, offsets = model_inputs.pop("text"), model_inputs.pop("offsets")
        outputs = self.model(**model_inputs, output_attentions=return_attentions)
        result = {"text": text, "offsets": offsets, "logits": outputs.logits, "predictions": outputs.predictions,
                  "word_mask": outputs.word_mask}
        if return_attentions:
            result["grid_attention"] = (outputs.text_image_attentions or (None,))[-1]
            result["object_attention"] = (outputs.text_object_attentions or (None,))[-1]
        return result

    def postprocess(self, model_outputs, return_attentions: bool = False):
        id2label = self.model.config.id2label
        length = int(model_outputs["word_mask"][0].sum())
        logits = model_outputs["logits"][0, :length]
        predicted = model_outputs["predictions"][0, :length].tolist()
        text, offsets = model_outputs["text"], model_outputs["offsets"]
        entities = []
        for entity_type, first, last in lenient_entities([id2label[i] for i in predicted]):
            start, end = offsets[first][0], offsets[last][1]
            entity = {
                "entity_group": entity_type,
                "score": span_probability(self.model.crf, logits, predicted[first : last + 1], first, last,
                                          self.model.config.label2id.get(f"I-{entity_type}")),
                "word": text[start:end],
                "start": start,
                "end": end,
            }
            if return_attentions:
                for key in ("grid_attention", "object_attention"):
                    weights = model_outputs.get(key)
                    entity[key] = (weights[0, :, first : last + 1].mean(dim=(0, 1)).tolist()
                                   if weights is not None else None)
            entities.append(entity)
        return entities


def register_pipeline() -> None:
    from transformers import AutoModelForTokenClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    PIPELINE_REGISTRY.register_pipeline(
        "multimodal-ner", pipeline_class=MultimodalNERPipeline, pt_model=AutoModelForTokenClassification,
        type="multimodal")


__all__ = ["MultimodalNERPipeline", "fetch_image", "register_pipeline", "word_offsets"]
