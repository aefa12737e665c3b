"""Image inputs of MGCMT: safe image loading, grid features (Eq. 5), object categories (Eq. 7), and a disk cache.

* `load_image` opens a path, bytes or PIL image as RGB with clear errors (missing, truncated, too large).
* `GridFeatureExtractor`: any timm backbone's last feature map as `(num_regions, channels)` grid features:
  ResNet-152 by default (224x224 -> 7x7x2048, the paper's Sec. 3.2.2), or `tf_efficientnet_lite0` with the
  offline ImageNet weights (7x7x1280). Preprocessing (mean, std, interpolation) comes from the backbone's
  pretrained config; the image is resized to the input size without cropping, as the paper resizes.
* `DetectorObjectExtractor`: a torchvision Mask R-CNN (ResNet-50 FPN, COCO) giving the top-N category ids
  above a score threshold, in the 81-entry table of the config (0 = empty slot, 1..80 = COCO classes).
* `CaptionObjectExtractor`: the same ids from precomputed labels or captions: the COCO class names that a
  caption mentions (e.g. the CATR captions of TWITTER-2015/2017 images).
* `FeatureCache`: one safetensors file per image, under a folder named by the extractor's identity
  (name + weights hash + settings), so a changed backbone or threshold never reuses stale features.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

logger = logging.getLogger(__name__)

# The 80 COCO object classes in their usual order; id = position + 1 (0 is the empty slot, the paper's 81st row).
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
COCO_CLASS_IDS = {name: index + 1 for index, name in enumerate(COCO_CLASSES)}

# Caption words that name a COCO class in other words (plurals are handled separately).
CAPTION_SYNONYMS = {
    "man": "person", "men": "person", "woman": "person", "women": "person", "people": "person", "boy": "person",
    "girl": "person", "child": "person", "children": "person", "kid": "person", "guy": "person", "lady": "person",
    "ladies": "person", "player": "person", "persons": "person", "crowd": "person", "baby": "person",
    "bike": "bicycle", "motorbike": "motorcycle", "plane": "airplane", "jet": "airplane", "aeroplane": "airplane",
    "sofa": "couch", "television": "tv", "phone": "cell phone", "cellphone": "cell phone", "table": "dining table",
    "doughnut": "donut", "ball": "sports ball", "racket": "tennis racket", "glove": "baseball glove",
    "bat": "baseball bat", "plant": "potted plant", "fridge": "refrigerator", "computer": "laptop",
    "hydrant": "fire hydrant", "teddy": "teddy bear",
}

MAX_IMAGE_PIXELS = 89_478_485  # PIL's own default limit


class ImageLoadError(ValueError):
    """An image that cannot be used; the message names the image."""


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return repr(str(source))
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def load_image(source, max_pixels: int = MAX_IMAGE_PIXELS):
    """Open `source` (path, bytes or `PIL.Image.Image`) as an RGB PIL image.

    Grayscale, palette, CMYK and 16-bit images are converted; transparency is composited on white. Raises
    `FileNotFoundError` for a missing path and [`ImageLoadError`] (naming the image) for undecodable or
    truncated data, and for an image over `max_pixels` pixels, checked from the header before decoding,
    so a decompression bomb never reaches memory.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = _describe(source)
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, (str, os.PathLike)):
            if not Path(source).is_file():
                raise FileNotFoundError(f"Image {name} not found.")
            stream = open(source, "rb")
        elif isinstance(source, (bytes, bytearray)):
            stream = io.BytesIO(source)
        else:
            raise ImageLoadError(f"Unsupported image input of type {type(source).__name__}: pass a path, bytes or a PIL image.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(stream)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError) as error:
            stream.close()
            raise ImageLoadError(f"Cannot open image {name}: {error}") from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(f"Image {name} has {width}x{height} = {width * height} pixels, over the limit of {max_pixels}.")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)  # a phone photo's orientation tag: the picture as it is seen
    except (OSError, ValueError, SyntaxError) as error:  # truncated or corrupt data, a broken EXIF block
        raise ImageLoadError(f"Cannot decode image {name}: {error}") from error
    return _to_rgb(image)


def _to_rgb(image):
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16/32-bit integer or float grayscale: scale to 8 bits by the image's own range (a 0..1 float TIFF would
        # otherwise round to black)
        tensor = torch.from_numpy(np.nan_to_num(np.asarray(image).astype(np.float32)))  # (height, width)
        low, high = float(tensor.min()), float(tensor.max())
        span = high - low if image.mode == "F" and high > low else max(high - low, 1.0)
        scaled = ((tensor - low) / span * 255).round().clamp(0, 255).to(torch.uint8)
        return Image.fromarray(scaled.numpy(), mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        return background
    return image.convert("RGB")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_positional_state_dict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "") -> None:
    """Load a state dict whose names differ but whose tensors match `model.state_dict()` in order and shape
    (e.g. efficientnet_pytorch weights onto timm's `tf_efficientnet_lite0`)."""
    target = model.state_dict()
    if len(target) != len(state_dict):
        raise ValueError(f"{source}: {len(state_dict)} tensors, but the model has {len(target)}.")
    mapped = {}
    for (name, tensor), (their_name, theirs) in zip(target.items(), state_dict.items()):
        if tensor.shape != theirs.shape:
            raise ValueError(f"{source}: tensor {their_name} {tuple(theirs.shape)} does not match {name} {tuple(tensor.shape)}.")
        mapped[name] = theirs
    model.load_state_dict(mapped, strict=True)


class GridFeatureExtractor:
    """Grid features R' (Eq. 5) from a timm backbone: `(batch, height * width, channels)`.

    Args:
        backbone: timm model name (`"resnet152"`, `"tf_efficientnet_lite0"`, ...).
        weights: `None` (random weights from seed 0, for tests), `"pretrained"` (timm's hub download: needs internet), or a
            local file. A local file loads by names (timm's own checkpoints) or, failing that, by position.
        image_size: input side; default the backbone's pretrained input size (224).
        batch_size: images per forward pass.
    """

    def __init__(self, backbone: str = "resnet152", weights: str | os.PathLike | None = None,
                 image_size: int | None = None, batch_size: int = 32, device: str | torch.device = "cpu"):
        import timm

        self.backbone = backbone
        self.batch_size = batch_size
        self.device = torch.device(device)
        if weights == "pretrained":
            model = timm.create_model(backbone, pretrained=True)
            self.weights_id = "timm-hub"
        else:
            with torch.random.fork_rng(devices=[]):  # seeded: "random" weights are the same in every process
                torch.manual_seed(0)
                model = timm.create_model(backbone, pretrained=False)
            self.weights_id = "random-seed0"
            if weights is not None:
                state = torch.load(weights, map_location="cpu", weights_only=True)
                state = state.get("state_dict", state) if isinstance(state, dict) else state
                try:
                    model.load_state_dict(state, strict=True)
                except RuntimeError:
                    load_positional_state_dict(model, state, source=str(weights))
                self.weights_id = file_sha256(weights)[:16]
        model.reset_classifier(0, "")
        self.model = model.eval().to(self.device)
        config = timm.data.resolve_data_config({}, model=model)
        side = image_size or config["input_size"][-1]
        self.image_size = (side, side)
        self.mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(config["std"]).view(1, 3, 1, 1)
        self.interpolation = config.get("interpolation", "bilinear")

    @property
    def output_shape(self) -> tuple[int, int]:
        """`(regions, channels)` of one image's features (one forward pass of a blank image, done once)."""
        if getattr(self, "_output_shape", None) is None:
            with torch.no_grad():
                pixels = torch.zeros(1, 3, self.image_size[1], self.image_size[0], device=self.device)
                grid = self.model.forward_features(pixels)
            self._output_shape = (grid.shape[2] * grid.shape[3], grid.shape[1])
        return self._output_shape

    @property
    def identity(self) -> dict:
        return {"extractor": "grid", "backbone": self.backbone, "weights": self.weights_id,
                "image_size": list(self.image_size), "mean": self.mean.flatten().tolist(),
                "std": self.std.flatten().tolist(), "interpolation": self.interpolation}

    def preprocess(self, images: list) -> torch.Tensor:
        """RGB images -> `(batch, 3, height, width)` pixel values: resize (no crop), scale, normalise."""
        from PIL import Image

        resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}.get(
            self.interpolation, Image.BILINEAR)
        arrays = []
        for image in images:
            resized = load_image(image).resize(self.image_size, resample)
            pixels = torch.frombuffer(bytearray(resized.tobytes()), dtype=torch.uint8)
            arrays.append(pixels.view(self.image_size[1], self.image_size[0], 3).permute(2, 0, 1))
        batch = torch.stack(arrays).float() / 255.0
        return (batch - self.mean) / self.std

    @torch.no_grad()
    def __call__(self, images: list, progress: bool = False) -> torch.Tensor:
        """`(len(images), regions, channels)` grid features, computed in batches of `batch_size`."""
        starts = range(0, len(images), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"grid features ({self.backbone})", unit="batch")
        out = []
        for start in starts:
            pixels = self.preprocess(images[start : start + self.batch_size]).to(self.device)
            grid = self.model.forward_features(pixels)  # (batch, channels, height, width)
            out.append(grid.flatten(2).transpose(1, 2).float().cpu())
        return torch.cat(out) if out else torch.empty(0)


class DetectorObjectExtractor:
    """Object category ids (Eq. 7) from a torchvision detector: top `max_objects` detections by score above
    `score_threshold`, as ids of `COCO_CLASSES` + 1, padded with 0 (empty slot).

    Args:
        model: a torchvision detection builder name (default `"maskrcnn_resnet50_fpn"`, the paper's Mask R-CNN).
        weights: `None` (random, for tests), `"pretrained"` (torchvision's COCO weights: needs internet), or a
            local state-dict file (loaded with `weights_only=True`).
        deduplicate: keep each category once (several people count as one `person` slot). Off by default.
    """

    def __init__(self, model: str = "maskrcnn_resnet50_fpn", weights: str | os.PathLike | None = None,
                 max_objects: int = 5, score_threshold: float = 0.5, deduplicate: bool = False,
                 batch_size: int = 4, device: str | torch.device = "cpu"):
        import torchvision
        from torchvision.models import get_model_weights

        self.model_name = model
        self.max_objects = max_objects
        self.score_threshold = score_threshold
        self.deduplicate = deduplicate
        self.batch_size = batch_size
        self.device = torch.device(device)
        weights_enum = get_model_weights(model).DEFAULT
        self.categories = weights_enum.meta["categories"]  # torchvision's 91-entry COCO list, with "N/A" gaps
        if weights == "pretrained":
            detector = torchvision.models.get_model(model, weights=weights_enum)
            self.weights_id = f"torchvision-{weights_enum.name}"
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                detector = torchvision.models.get_model(model, weights=None, weights_backbone=None)
            self.weights_id = "random-seed0"
            if weights is not None:
                detector.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
                self.weights_id = file_sha256(weights)[:16]
        self.model = detector.eval().to(self.device)

    @property
    def output_shape(self) -> tuple[int]:
        return (self.max_objects,)

    @property
    def identity(self) -> dict:
        return {"extractor": "detector", "model": self.model_name, "weights": self.weights_id,
                "max_objects": self.max_objects, "score_threshold": self.score_threshold,
                "deduplicate": self.deduplicate}

    def _to_ids(self, labels: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = []
        for label, score in sorted(zip(labels.tolist(), scores.tolist()), key=lambda pair: -pair[1]):
            if score < self.score_threshold:
                continue
            category = COCO_CLASS_IDS.get(self.categories[label])
            if category is None or (self.deduplicate and category in ids):
                continue
            ids.append(category)
            if len(ids) == self.max_objects:
                break
        return torch.tensor(ids + [0] * (self.max_objects - len(ids)), dtype=torch.long)

    @staticmethod
    def _pixels(image) -> torch.Tensor:
        rgb = load_image(image)
        pixels = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
        return pixels.view(rgb.size[1], rgb.size[0], 3).permute(2, 0, 1).float().div(255)  # (3, height, width)

    @torch.no_grad()
    def __call__(self, images: list, progress: bool = False) -> torch.Tensor:
        """`(len(images), max_objects)` category ids, `batch_size` images per forward (the detector resizes each)."""
        starts = range(0, len(images), self.batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"objects ({self.model_name})", unit="batch")
        out = []
        for start in starts:
            batch = [self._pixels(image).to(self.device) for image in images[start : start + self.batch_size]]
            for detection in self.model(batch):
                out.append(self._to_ids(detection["labels"].cpu(), detection["scores"].cpu()))
        return torch.stack(out) if out else torch.empty(0, self.max_objects, dtype=torch.long)


class CaptionObjectExtractor:
    """Object category ids from text labels: the COCO classes that a caption (or label list) names, in order
    of first mention, each once, at most `max_objects`, padded with 0.

    Person-like words (man, women, players, ...) count as `person`; plurals are reduced (`dogs` -> `dog`).
    `captions` maps image ids (with or without `.jpg`) to a caption or a list of class names; load the CATR
    caption files with [`CaptionObjectExtractor.from_json`].
    """

    def __init__(self, captions: dict[str, str | list[str]] | None = None, max_objects: int = 5, source: str = ""):
        self.captions = {}
        for key, value in (captions or {}).items():
            if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                raise ValueError(f"the caption of {key!r} is {type(value).__name__}: expected a string or a list of "
                                 "class names")
            self.captions[self._key(key)] = value
        self.max_objects = max_objects
        self.source = source

    @staticmethod
    def _key(image_id: str) -> str:
        return image_id[: -len(".jpg")] if image_id.endswith(".jpg") else image_id

    @classmethod
    def from_json(cls, path: str | os.PathLike, max_objects: int = 5) -> "CaptionObjectExtractor":
        try:
            with open(path, encoding="utf-8") as handle:
                captions = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not valid UTF-8 ({error})") from None
        if not isinstance(captions, dict):
            raise ValueError(f"{path}: expected a JSON object mapping image file names to captions.")
        try:
            return cls(captions, max_objects=max_objects, source=f"{Path(path).name}:{file_sha256(path)[:16]}")
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    @property
    def identity(self) -> dict:
        return {"extractor": "captions", "source": self.source, "max_objects": self.max_objects}

    def has(self, image_id: str) -> bool:
        return self._key(image_id) in self.captions

    @staticmethod
    def categories_in(text: str | list[str]) -> list[int]:
        """COCO class ids named in `text` (a caption, or a list of class names), in order of first mention."""
        if isinstance(text, list):
            text = " , ".join(text)
        words = re.findall(r"[a-z]+", text.lower())
        found: list[int] = []
        position = 0
        while position < len(words):
            pair = " ".join(words[position : position + 2])
            name = None
            if pair in COCO_CLASS_IDS:
                name, step = pair, 2
            elif pair.endswith("s") and pair[:-1] in COCO_CLASS_IDS:
                name, step = pair[:-1], 2
            else:
                name, step = _single_word_class(words[position]), 1
            if name is not None and COCO_CLASS_IDS[name] not in found:
                found.append(COCO_CLASS_IDS[name])
            position += step
        return found

    def ids_for(self, image_id: str) -> torch.Tensor:
        """`(max_objects,)` ids for one image id; all zeros (no object) when the id has no caption or no class."""
        text = self.captions.get(self._key(image_id))
        ids = self.categories_in(text)[: self.max_objects] if text is not None else []
        return torch.tensor(ids + [0] * (self.max_objects - len(ids)), dtype=torch.long)

    def __call__(self, image_ids: list[str]) -> torch.Tensor:
        return torch.stack([self.ids_for(image_id) for image_id in image_ids]) if image_ids else \
            torch.empty(0, self.max_objects, dtype=torch.long)


def _single_word_class(word: str) -> str | None:
    for candidate in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if candidate is None:
            continue
        if candidate in COCO_CLASS_IDS:
            return candidate
        if candidate in CAPTION_SYNONYMS:
            return CAPTION_SYNONYMS[candidate]
    return None


def feature_file_name(image_id: str) -> str:
    """`<image_id>.safetensors`; ids with other characters than letters, digits, `_`, `-`, `.` get a hash suffix."""
    if re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", image_id):
        return f"{image_id}.safetensors"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", image_id)
    return f"{safe}-{hashlib.sha1(image_id.encode()).hexdigest()[:8]}.safetensors"


class FeatureFileError(ValueError):
    """A per-image feature file that cannot be used (unreadable, not finite, wrong shape); the message names it."""


def _load_checked(path: Path, expected_shape: tuple[int, ...] | None) -> tuple[torch.Tensor, dict[str, str]]:
    """The `features` tensor of a safetensors file and its metadata; [`FeatureFileError`] naming the file otherwise."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if "features" not in handle.keys():
                raise FeatureFileError(f"{path}: no 'features' tensor (keys: {sorted(handle.keys())})")
            features = handle.get_tensor("features")
    except (SafetensorError, OSError, RuntimeError) as error:
        raise FeatureFileError(f"{path}: unreadable feature file ({error})") from error
    if features.is_floating_point() and not bool(torch.isfinite(features).all()):
        raise FeatureFileError(f"{path}: features are not finite (NaN or infinity)")
    if expected_shape is not None and tuple(features.shape) != tuple(expected_shape):
        raise FeatureFileError(f"{path}: features of shape {tuple(features.shape)}, expected {tuple(expected_shape)}")
    return features, metadata


def read_feature_file(directory: str | os.PathLike, image_id: str,
                      expected_shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
    """The tensor stored for `image_id` in a folder of per-image safetensors files (key `features`), or `None` when
    there is no file. A file that cannot be read, holds non-finite values or (with `expected_shape`) has another
    shape raises [`FeatureFileError`] naming it."""
    path = Path(directory) / feature_file_name(image_id)
    return _load_checked(path, expected_shape)[0] if path.is_file() else None


def source_stamp(image) -> str | None:
    """What identifies an image's content cheaply: size and modification time of a file, a hash of bytes; `None` for
    other inputs (a PIL image), whose cache entries are trusted by id alone."""
    if isinstance(image, (str, os.PathLike)):
        try:
            stat = os.stat(image)
        except OSError:
            return None
        return f"file:{stat.st_size}:{stat.st_mtime_ns}"
    if isinstance(image, (bytes, bytearray)):
        return f"sha256:{hashlib.sha256(image).hexdigest()[:32]}"
    return None


UNREADABLE_CHOICES = ("raise", "skip")


class FeatureCache:
    """Per-image tensors on disk, under `root/<name>-<hash of the extractor identity>/`.

    One safetensors file per image id (see `feature_file_name`), key `features`, with the image's `source_stamp`
    (file size and mtime, or a hash of bytes) in its metadata; `identity.json` in the folder records what produced
    them. Such a folder is also what `run_mner.py --image_features_dir` reads.

    An entry is recomputed, with a warning naming its file, when its image changed (another stamp), or when it
    cannot be read, holds NaN or infinity, or has another shape than `expected_shape`.
    """

    def __init__(self, root: str | os.PathLike, identity: dict):
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.directory = Path(root) / f"{identity.get('extractor', 'features')}-{digest}"
        self.directory.mkdir(parents=True, exist_ok=True)
        identity_file = self.directory / "identity.json"
        if not identity_file.exists():
            identity_file.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        self.skipped: list[str] = []  # ids whose image could not be read, in the last `compute(unreadable="skip")`

    def _path(self, image_id: str) -> Path:
        return self.directory / feature_file_name(image_id)

    def get(self, image_id: str, image=None, expected_shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The cached tensor, or `None` when there is none or it is stale (`image` changed) or damaged."""
        path = self._path(image_id)
        if not path.is_file():
            return None
        try:
            features, metadata = _load_checked(path, expected_shape)
        except FeatureFileError as error:
            logger.warning("feature cache: %s; recomputing it", error)
            return None
        stamp = source_stamp(image) if image is not None else None
        if stamp is not None and metadata.get("source") != stamp:
            logger.warning("feature cache: %s is stale (its image %s changed); recomputing it", path.name, _describe(image))
            return None
        return features

    def put(self, image_id: str, features: torch.Tensor, image=None) -> None:
        path = self._path(image_id)
        temporary = path.with_suffix(".tmp")
        stamp = source_stamp(image) if image is not None else None
        save_file({"features": features.contiguous()}, temporary, metadata={"source": stamp} if stamp else None)
        os.replace(temporary, path)  # atomic: a killed run never leaves a half-written entry

    def compute(self, image_ids: list[str], images: list, extractor, progress: bool = True,
                expected_shape: tuple[int, ...] | None = None, unreadable: str = "raise") -> list[torch.Tensor | None]:
        """Features for each image id, running `extractor` only on the ids not cached (or stale, or damaged).

        `expected_shape` (default: the extractor's `output_shape`, when it has one) is the shape a cached entry must
        have to be used.

        The images go through `extractor` in batches of its `batch_size`, and each batch is written as soon as it is
        done, so an error loses nothing finished. An image that cannot be read (missing, corrupt) raises, after the
        rest of its batch is written, with `unreadable="raise"`; with `"skip"` its result is `None`, and its id is
        listed in `self.skipped`.
        """
        if unreadable not in UNREADABLE_CHOICES:
            raise ValueError(f"`unreadable` must be one of {UNREADABLE_CHOICES}, got {unreadable!r}.")
        if expected_shape is None and image_ids:
            expected_shape = getattr(extractor, "output_shape", None)
        results: list[torch.Tensor | None] = [self.get(image_id, image, expected_shape)
                                              for image_id, image in zip(image_ids, images)]
        todo = [i for i, value in enumerate(results) if value is None]
        self.skipped = []
        if not todo:
            return results
        logger.info("%s: computing %d of %d images (%d cached)", self.directory.name, len(todo), len(image_ids),
                    len(image_ids) - len(todo))
        size = max(1, int(getattr(extractor, "batch_size", 32)))
        batches = [todo[start : start + size] for start in range(0, len(todo), size)]
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=self.directory.name, unit="batch")
        for batch in batches:
            try:
                pairs, errors = list(zip(batch, extractor([images[i] for i in batch], progress=False))), []
            except (ImageLoadError, FileNotFoundError):  # one by one, to find the image(s) at fault and keep the rest
                pairs, errors = [], []
                for i in batch:
                    try:
                        pairs.append((i, extractor([images[i]], progress=False)[0]))
                    except (ImageLoadError, FileNotFoundError) as error:
                        errors.append((i, error))
            for i, features in pairs:
                self.put(image_ids[i], features, images[i])
                results[i] = features
            if errors and unreadable == "raise":
                raise errors[0][1]
            for i, error in errors:
                logger.warning("feature cache: no features for image id %r: %s", image_ids[i], error)
                self.skipped.append(image_ids[i])
        return results


__all__ = [
    "COCO_CLASSES",
    "COCO_CLASS_IDS",
    "CaptionObjectExtractor",
    "DetectorObjectExtractor",
    "FeatureCache",
    "FeatureFileError",
    "GridFeatureExtractor",
    "ImageLoadError",
    "load_image",
    "load_positional_state_dict",
    "read_feature_file",
    "source_stamp",
]
