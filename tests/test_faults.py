"""Faults a hostile user meets, one test per case of the fault list (data, vectors, images, the feature cache, the
processor and the pipeline); the training script's cases are in test_run_faults.py."""

from __future__ import annotations

import http.server
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from mgcmt import MGCMTProcessor
from mgcmt.augmentation import WordVectors
from mgcmt.data import MNERFormatError, read_conll_file
from mgcmt.image_features import (
    CaptionObjectExtractor,
    FeatureCache,
    ImageLoadError,
    FeatureFileError,
    load_image,
    read_feature_file,
)
from mgcmt.pipeline import fetch_image

from .helpers import tiny_tokenizer


# -- 9: CoNLL files --------------------------------------------------------------------------------------------------
def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(b"IMGID:1\nAnna\tB-PER\n\nIMGID:2\nOs\xfflo\tB-LOC\n")
    with pytest.raises(MNERFormatError, match=r"train\.txt:5: not valid UTF-8"):
        read_conll_file(path)


@pytest.mark.parametrize("image_id", ["/etc/passwd", "../secret", "a/../../b", "..", "sub/1"])
def test_image_ids_that_leave_the_image_folder_are_refused(tmp_path, image_id):
    path = tmp_path / "train.txt"
    path.write_text(f"IMGID:{image_id}\nAnna\tB-PER\n", encoding="utf-8")
    with pytest.raises(MNERFormatError, match=r"train\.txt:1: image id .* must be a file name"):
        read_conll_file(path)


# -- 8: word vectors -------------------------------------------------------------------------------------------------
def test_a_non_finite_vector_is_refused_naming_the_word():
    vectors = np.ones((3, 4), dtype=np.float32)
    vectors[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"'berlin'.*not finite"):
        WordVectors(["anna", "berlin", "oslo"], vectors)


# -- 10: images --------------------------------------------------------------------------------------------------------
def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))  # wide, stored as taken
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": a camera held upright
    path = tmp_path / "upright.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (20, 40)


def test_float_tiff_keeps_its_picture(tmp_path):
    values = np.linspace(0.0, 1.0, 32 * 16, dtype=np.float32).reshape(16, 32)  # a 0..1 ramp, as scientific TIFFs are
    path = tmp_path / "ramp.tif"
    Image.fromarray(values, mode="F").save(path)
    pixels = np.asarray(load_image(path))
    assert pixels.max() == 255 and pixels.min() == 0  # not black: scaled by its own range


# -- 11: fetching images -----------------------------------------------------------------------------------------------
class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if self.path == "/slow":
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(200):  # one byte every 0.1 s: each read is fast, the whole is 20 s
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:  # "/truncated": promises 1000 bytes, sends 300 and closes
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"y" * 300)
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_timeout_is_a_total_deadline(server):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"/slow.*within 1\.0 s"):
        fetch_image(f"{server}/slow", timeout=1.0)
    assert time.perf_counter() - started < 3.0


def test_a_truncated_download_is_reported_as_such(server):
    with pytest.raises(ValueError, match=r"/truncated.*truncated: 300 of 1000 bytes"):
        fetch_image(f"{server}/truncated", timeout=5.0)


# -- 4, 5, 6: the feature cache -----------------------------------------------------------------------------------------
class CountingExtractor:
    """Grid-like features `(2, 3)` from an image's mean colour; counts the images it saw; fails on unreadable ones."""

    batch_size = 2
    identity = {"extractor": "grid", "name": "counting"}

    def __init__(self):
        self.seen = 0

    def __call__(self, images, progress=False):
        out = []
        for image in images:
            rgb = np.asarray(load_image(image), dtype=np.float32)
            self.seen += 1
            out.append(torch.full((2, 3), float(rgb.mean())))
        return torch.stack(out)


def write_png(path, colour):
    Image.new("RGB", (8, 8), colour).save(path)
    return str(path)


def test_a_replaced_image_is_recomputed(tmp_path):
    path = write_png(tmp_path / "1.png", (10, 10, 10))
    extractor = CountingExtractor()
    cache = FeatureCache(tmp_path / "cache", extractor.identity)
    first = cache.compute(["1"], [path], extractor)[0]
    assert cache.compute(["1"], [path], extractor)[0].equal(first) and extractor.seen == 1  # cached
    time.sleep(0.01)
    write_png(tmp_path / "1.png", (200, 200, 200))  # same id, new picture
    again = cache.compute(["1"], [path], extractor)[0]
    assert extractor.seen == 2 and again[0, 0] == pytest.approx(200.0)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "nan", "shape"])
def test_a_damaged_cache_entry_is_recomputed(tmp_path, damage, caplog):
    path = write_png(tmp_path / "1.png", (10, 10, 10))
    extractor = CountingExtractor()
    cache = FeatureCache(tmp_path / "cache", extractor.identity)
    good = cache.compute(["1"], [path], extractor)[0]
    entry = next(cache.directory.glob("1*.safetensors"))
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-7])
    elif damage == "garbage":
        entry.write_bytes(b"\x00garbage" * 10)
    elif damage == "nan":
        save_file({"features": torch.full((2, 3), float("nan"))}, entry)
    else:
        save_file({"features": torch.zeros(5, 3)}, entry)
    with caplog.at_level("WARNING"):
        again = cache.compute(["1"], [path], extractor, expected_shape=(2, 3))[0]
    assert again.equal(good) and extractor.seen == 2
    assert entry.name in caplog.text


def test_a_damaged_precomputed_feature_file_names_the_file(tmp_path):
    save_file({"features": torch.full((2, 3), float("inf"))}, tmp_path / "7.safetensors")
    (tmp_path / "8.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(FeatureFileError, match=r"7\.safetensors.*not finite"):
        read_feature_file(tmp_path, "7")
    with pytest.raises(FeatureFileError, match=r"8\.safetensors"):
        read_feature_file(tmp_path, "8")
    save_file({"features": torch.zeros(4, 3)}, tmp_path / "9.safetensors")
    with pytest.raises(FeatureFileError, match=r"9\.safetensors.*shape \(4, 3\), expected \(2, 3\)"):
        read_feature_file(tmp_path, "9", expected_shape=(2, 3))


def test_one_unreadable_image_loses_nothing(tmp_path):
    paths = [write_png(tmp_path / f"{i}.png", (i * 20, 0, 0)) for i in range(5)]
    (tmp_path / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    extractor = CountingExtractor()
    cache = FeatureCache(tmp_path / "cache", extractor.identity)
    ids = [str(i) for i in range(5)]
    with pytest.raises(ImageLoadError, match=r"2\.png"):
        cache.compute(ids, paths, extractor)
    assert {p.name.split(".")[0] for p in cache.directory.glob("*.safetensors")} >= {"0", "1"}  # written as they came
    results = cache.compute(ids, paths, extractor, unreadable="skip")
    assert results[2] is None and all(results[i] is not None for i in (0, 1, 3, 4))
    assert cache.skipped == ["2"]


# -- 7: captions -----------------------------------------------------------------------------------------------------------
def test_a_malformed_captions_file_is_named_at_load(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"1.jpg": "a dog", ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        CaptionObjectExtractor.from_json(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"1.jpg": "a dog", "2.jpg": 42}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"wrong\.json: the caption of '2\.jpg' is int"):
        CaptionObjectExtractor.from_json(wrong)
    with pytest.raises(ValueError, match=r"the caption of '2' is int"):
        CaptionObjectExtractor({"1": "a dog", "2": 42})


# -- 13: the processor ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda p: p(123), r"`text` must be a string or a list .* got int"),
    (lambda p: p([]), r"`text` is an empty list: no tweets"),
    (lambda p: p({"text": "Anna in Oslo"}), r"got dict.*pipeline"),
    (lambda p: p(["Anna", None, "Oslo"], is_split_into_words=True), r"Tweet 0: word 1 is NoneType, not a string"),
    (lambda p: p([["Anna"], ["in", 5]], is_split_into_words=True), r"Tweet 1: word 1 is int, not a string"),
])
def test_processor_bad_calls_get_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(MGCMTProcessor(tiny_tokenizer()))


def test_max_length_above_the_encoders_limit_is_refused():
    tokenizer = tiny_tokenizer()
    tokenizer.model_max_length = 64
    with pytest.raises(ValueError, match=r"max_length=128 .* 64 positions"):
        MGCMTProcessor(tokenizer, max_length=128)
    assert MGCMTProcessor(tokenizer, max_length=64).max_length == 64


# -- 12: the pipeline's pre-split words -------------------------------------------------------------------------------------
def test_word_offsets_of_pre_split_words_with_whitespace():
    from mgcmt.pipeline import word_offsets

    words = ["Anna", "\xa0", "in", "New York", "today"]
    text, offsets = word_offsets(words)
    assert text == "Anna \xa0 in New York today"
    assert [text[start:end] for start, end in offsets] == words
