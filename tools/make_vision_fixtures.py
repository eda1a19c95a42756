#!/usr/bin/env python3
"""Reference fixtures for the YOLOVision tests, made with OpenCV and the official YOLOv7 code.

Writes into OUT (default: Tests/Fixtures/vision):

  decode/<name>.jpg|.png and decode/<name>.npy
      small test images in many encodings and what `cv2.imread(path, cv2.IMREAD_COLOR)`
      returns for each, converted BGR->RGB (uint8 [H, W, 3]). JPEG: baseline 4:2:0 / 4:2:2 /
      4:4:4, progressive, grayscale, Adobe CMYK (Pillow), restart markers, Exif orientations
      1-8 (little- and big-endian TIFF). PNG (written by a small PNG writer below, so every
      colour type and bit depth can be made): grey 1/2/4/8/16-bit, grey+alpha 8/16, RGB 8/16,
      RGBA 8/16, palette 1/4/8-bit with tRNS, grey and RGB with tRNS, Adam7 interlaced, eXIf
      orientation.
  photo_517x333.png, photo_1000x750.jpg
      crops of a BCCD test photograph (and an enlarged copy, quality 92) used as resize and
      letterbox sources.
  resize/<case>.png + resize.json
      `cv2.resize` of crops of photo_517x333.png for each case (size, interpolation), saved as
      lossless PNG (the PNG decoder itself is checked against cv2 by the decode fixtures), and
      60 random crops/sizes/interpolations stored as FNV-1a checksums of the RGB result.
  letterbox/<case>.png + letterbox.json
      (outputs at 640 are stored as an FNV-1a checksum of the RGB bytes only, for size)
      official `letterbox(img, new_shape, stride=32, auto=True)` (utils/datasets.py) at 416 and
      640 for both photos, and the eval path (official `load_image` resize then
      `letterbox(img, batch_shape, auto=False, scaleup=False)`, batch shape as
      LoadImagesAndLabels computes it for one image, pad 0.5), with ratio and pad.
  nms/<case>_pred.npy, nms/<case>_out.npy + nms.json
      seeded random raw predictions [1, rows, 5+nc] (float32) and the official
      `non_max_suppression` output [n, 6] for several option sets; plus `scale_coords` of one
      output back to a 517x333 original.

Usage:  .venv/bin/python tools/make_vision_fixtures.py [--out DIR]
Needs:  opencv-python-headless, numpy, Pillow, torch, torchvision and the official code as the
        pip package yolov7-wky-package (its top-level `utils` package). Takes about 10 s; the
        output is deterministic.
"""
import argparse
import json
import os
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from PIL import Image

from utils.datasets import letterbox, load_image  # official YOLOv7 code
from utils.general import non_max_suppression, scale_coords

ROOT = Path(__file__).resolve().parent.parent
PHOTO = Path("/work/shared/datasets/bccd/images/test/BloodImage_00007.jpg")


def imread_rgb(path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return np.ascontiguousarray(img[:, :, ::-1])


PNG9 = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def fnv1a64(rgb):
    """FNV-1a (64-bit) of the RGB bytes: how the larger expected images are stored."""
    h = 0xCBF29CE484222325
    for byte in np.ascontiguousarray(rgb).tobytes():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def save_expected(path_stem, bgr, full):
    """Full images as lossless PNG; above 416 only a checksum, to keep the fixtures small."""
    if full:
        assert cv2.imwrite(str(path_stem) + ".png", bgr, PNG9)
        return {"file": Path(str(path_stem) + ".png").name}
    return {"fnv1a64": fnv1a64(bgr[:, :, ::-1])}


# ---------------------------------------------------------------- a minimal PNG writer

def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, bit_depth):
    """samples: 1-D array of unsigned ints for one row (all channels interleaved)."""
    if bit_depth == 16:
        return samples.astype(">u2").tobytes()
    if bit_depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = samples[i:i + per_byte]
        for j in range(per_byte):
            value = int(group[j]) if j < len(group) else 0
            byte |= value << (8 - bit_depth * (j + 1))
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, samples, color_type, bit_depth, palette=None, trns=None, interlace=False,
              exif=None, exif_after=False):
    """samples: [H, W, C] unsigned ints (C = 1 grey/palette, 2 grey+alpha, 3 RGB, 4 RGBA)."""
    h, w = samples.shape[:2]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw.append(0)
                raw += pack_row(row.reshape(-1), bit_depth)
    else:
        for y, row in enumerate(samples):
            raw.append(0)
            raw += pack_row(row.reshape(-1), bit_depth)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    if exif is not None and not exif_after:
        data += png_chunk(b"eXIf", exif)
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    if exif is not None and exif_after:
        data += png_chunk(b"eXIf", exif)
    data += png_chunk(b"IEND", b"")
    Path(path).write_bytes(data)


def tiff_orientation(orientation, big_endian=False):
    """A TIFF block with IFD0 holding one Orientation (0x0112, SHORT) entry."""
    e = ">" if big_endian else "<"
    head = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    return head + ifd + struct.pack(e + "I", 0)


def with_exif_app1(jpeg_bytes, tiff):
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg_bytes[:2] + app1 + jpeg_bytes[2:]


# ---------------------------------------------------------------- decode fixtures

def make_decode(out, photo_bgr):
    d = out / "decode"
    d.mkdir(parents=True, exist_ok=True)
    cases = []

    def record(name):
        path = next(p for p in d.iterdir() if p.stem == name and p.suffix != ".npy")
        np.save(d / f"{name}.npy", imread_rgb(path))
        cases.append(path.name)

    small = np.ascontiguousarray(photo_bgr[100:147, 200:261])  # 61 x 47, odd sizes
    jpeg = lambda name, img, params: (cv2.imwrite(str(d / f"{name}.jpg"), img, params), record(name))
    jpeg("jpeg_baseline_420", small, [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg("jpeg_baseline_444", small, [cv2.IMWRITE_JPEG_QUALITY, 90,
                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    jpeg("jpeg_baseline_422", small, [cv2.IMWRITE_JPEG_QUALITY, 75,
                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])
    jpeg("jpeg_progressive", small, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    jpeg("jpeg_restart", small, [cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
    jpeg("jpeg_gray", cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), [cv2.IMWRITE_JPEG_QUALITY, 90])
    # Pillow writes 4-component JPEGs with an Adobe marker and inverted CMYK, as Photoshop does.
    Image.fromarray(small[:, :, ::-1]).convert("CMYK").save(d / "jpeg_cmyk.jpg", quality=90)
    record("jpeg_cmyk")

    ok, base = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])
    for orientation in range(1, 9):
        name = f"jpeg_exif_orientation{orientation}"
        (d / f"{name}.jpg").write_bytes(with_exif_app1(base.tobytes(), tiff_orientation(orientation, orientation % 2 == 0)))
        record(name)

    rgb = small[:, :, ::-1].astype(np.int64)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.int64)[:, :, None]
    alpha = ((np.arange(61)[None, :] * 4 + np.arange(47)[:, None] * 3) % 256)[:, :, None]
    ramp16 = lambda a: a * 256 + (np.arange(a.size).reshape(a.shape) % 256)  # low byte varies
    png = lambda name, *args, **kw: (write_png(d / f"{name}.png", *args, **kw), record(name))
    png("png_gray8", gray, 0, 8)
    for depth in (1, 2, 4):
        png(f"png_gray{depth}", gray >> (8 - depth), 0, depth)
    png("png_gray16", ramp16(gray), 0, 16)
    png("png_gray_alpha8", np.concatenate([gray, alpha], 2), 4, 8)
    png("png_gray_alpha16", ramp16(np.concatenate([gray, alpha], 2)), 4, 16)
    png("png_rgb8", rgb, 2, 8)
    png("png_rgb16", ramp16(rgb), 2, 16)
    png("png_rgba8", np.concatenate([rgb, alpha], 2), 6, 8)
    png("png_rgba16", ramp16(np.concatenate([rgb, alpha], 2)), 6, 16)
    png("png_rgb8_interlaced", rgb, 2, 8, interlace=True)
    png("png_gray1_interlaced", gray >> 7, 0, 1, interlace=True)
    png("png_gray8_trns", gray, 0, 8, trns=struct.pack(">H", int(gray[0, 0, 0])))
    png("png_rgb8_trns", rgb, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in rgb[0, 0]]))
    levels = {8: 256, 4: 16, 1: 2}
    rng = np.random.default_rng(7)
    for depth, n in levels.items():
        palette = rng.integers(0, 256, size=(n, 3))
        index = (gray * n // 256)
        trns = bytes(rng.integers(0, 256, size=n // 2).astype(np.uint8))
        png(f"png_palette{depth}", index, 3, depth, palette=palette, trns=trns)
    png("png_exif_orientation6", rgb, 2, 8, exif=tiff_orientation(6))
    png("png_exif_orientation8_after", rgb, 2, 8, exif=tiff_orientation(8, True), exif_after=True)
    return cases


# ---------------------------------------------------------------- resize fixtures

RESIZE_CASES = [
    # name, crop [x, y, w, h] of photo_517x333, destination [w, h], interpolation
    ("linear_down_416x267", [0, 0, 517, 333], [416, 267], "linear"),
    ("linear_up_640x412", [0, 0, 517, 333], [640, 412], "linear"),
    ("area_down_416x267", [0, 0, 517, 333], [416, 267], "area"),
    ("area_down_123x77", [0, 0, 517, 333], [123, 77], "area"),
    ("area_up_301x190", [150, 90, 200, 130], [301, 190], "area"),
    ("area_mixed_300x400", [0, 0, 517, 333], [300, 400], "area"),
    ("linear_mixed_701x150", [0, 0, 517, 333], [701, 150], "linear"),
    ("linear_half_258x166", [0, 0, 516, 332], [258, 166], "linear"),  # OpenCV switches to area
    ("area_half_258x166", [0, 0, 516, 332], [258, 166], "area"),
    ("area_third_172x111", [1, 0, 516, 333], [172, 111], "area"),
    ("linear_portrait_97x413", [100, 20, 131, 313], [97, 413], "linear"),
    ("area_portrait_97x211", [100, 20, 131, 313], [97, 211], "area"),
]


def make_resize(out, source_bgr):
    d = out / "resize"
    d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, (x, y, w, h), (dw, dh), interp in RESIZE_CASES:
        crop = np.ascontiguousarray(source_bgr[y:y + h, x:x + w])
        flag = cv2.INTER_LINEAR if interp == "linear" else cv2.INTER_AREA
        assert cv2.imwrite(str(d / f"{name}.png"), cv2.resize(crop, (dw, dh), interpolation=flag), PNG9)
        manifest.append({"name": name, "crop": [x, y, w, h], "size": [dw, dh], "interpolation": interp,
                         "file": f"{name}.png"})
    # Many more random geometries, stored as checksums only.
    rng = np.random.default_rng(11)
    for i in range(60):
        w, h = (int(v) for v in rng.integers(1, [518, 334]))
        x, y = int(rng.integers(0, 518 - w)), int(rng.integers(0, 334 - h))
        dw, dh = (int(v) for v in rng.integers(1, 700, size=2))
        if i % 3 == 0:  # shrink both ways, the load_image INTER_AREA case
            dw, dh = max(1, int(w * rng.uniform(0.2, 1))), max(1, int(h * rng.uniform(0.2, 1)))
        interp = "area" if i % 2 else "linear"
        crop = np.ascontiguousarray(source_bgr[y:y + h, x:x + w])
        flag = cv2.INTER_LINEAR if interp == "linear" else cv2.INTER_AREA
        resized = cv2.resize(crop, (dw, dh), interpolation=flag)
        manifest.append({"name": f"random{i}_{interp}_{w}x{h}_to_{dw}x{dh}", "crop": [x, y, w, h],
                         "size": [dw, dh], "interpolation": interp,
                         "fnv1a64": fnv1a64(resized.reshape(dh, dw, 3)[:, :, ::-1])})
    (out / "resize.json").write_text(json.dumps(manifest, indent=1) + "\n")


# ---------------------------------------------------------------- letterbox fixtures

def batch_shape(w0, h0, img_size, stride=32, pad=0.5):
    """LoadImagesAndLabels' rect batch shape for a batch holding one image (ar = h / w)."""
    ar = h0 / w0
    shape = [1, 1]
    if ar < 1:
        shape = [ar, 1]
    elif ar > 1:
        shape = [1, 1 / ar]
    return [int(v) for v in np.ceil(np.array(shape) * img_size / stride + pad).astype(int) * stride]


def make_letterbox(out, sources):
    d = out / "letterbox"
    d.mkdir(parents=True, exist_ok=True)
    manifest = []
    for source_name, path in sources:
        bgr = cv2.imread(str(path))
        h0, w0 = bgr.shape[:2]
        for size in (416, 640):
            img, ratio, (dw, dh) = letterbox(bgr, size, stride=32)
            name = f"detect_{Path(source_name).stem}_{size}"
            manifest.append({"name": name, "source": source_name, "mode": "detect", "img": size,
                             "shape": list(img.shape[:2]), "ratio": ratio[0], "pad": [dw, dh],
                             **save_expected(d / name, img, size <= 416)})
            # Eval: official load_image (INTER_AREA shrink / INTER_LINEAR grow), then letterbox.
            ds = SimpleNamespace(imgs=[None], img_files=[str(path)], img_size=size, augment=False)
            resized, (lh0, lw0), (h, w) = load_image(ds, 0)
            shape = batch_shape(w0, h0, size)
            img, ratio, (dw, dh) = letterbox(resized, shape, auto=False, scaleup=False)
            name = f"eval_{Path(source_name).stem}_{size}"
            manifest.append({"name": name, "source": source_name, "mode": "eval", "img": size,
                             "batch_shape": shape, "resized": [h, w], "shape": list(img.shape[:2]),
                             "ratio": ratio[0], "pad": [dw, dh],
                             **save_expected(d / name, img, size <= 416)})
    (out / "letterbox.json").write_text(json.dumps(manifest, indent=1) + "\n")


# ---------------------------------------------------------------- NMS fixtures

def random_prediction(rng, rows, nc, size=640):
    """Raw rows like a YOLO head's: clustered boxes (xywh, letterboxed pixels), obj, class probs."""
    centres = rng.uniform(40, size - 40, size=(12, 2))
    pick = rng.integers(0, len(centres), size=rows)
    xy = centres[pick] + rng.normal(0, 6, size=(rows, 2))
    wh = rng.uniform(20, 90, size=(12, 2))[pick] * rng.uniform(0.8, 1.25, size=(rows, 2))
    obj = rng.beta(0.6, 1.5, size=(rows, 1))
    cls = rng.dirichlet(np.full(nc, 0.4), size=rows) if nc > 1 else rng.uniform(0.3, 1, size=(rows, 1))
    pred = np.concatenate([xy, wh, obj, cls], 1).astype(np.float32)
    pred[:5, 0] -= 60  # a few boxes off the left edge, to exercise clipping
    return pred[None]


NMS_CASES = [
    # name, nc, rows, kwargs
    ("detect", 3, 2000, dict(conf_thres=0.25, iou_thres=0.45)),
    ("eval_multilabel", 3, 2000, dict(conf_thres=0.001, iou_thres=0.65, multi_label=True)),
    ("agnostic", 3, 2000, dict(conf_thres=0.25, iou_thres=0.45, agnostic=True)),
    ("classes_0_2", 3, 2000, dict(conf_thres=0.25, iou_thres=0.45, classes=[0, 2])),
    ("single_class", 1, 1500, dict(conf_thres=0.25, iou_thres=0.45)),
    ("many_classes_maxdet", 12, 2500, dict(conf_thres=0.001, iou_thres=0.65, multi_label=True)),
]


def make_nms(out):
    d = out / "nms"
    d.mkdir(parents=True, exist_ok=True)
    manifest = []
    rng = np.random.default_rng(2024)
    for name, nc, rows, kwargs in NMS_CASES:
        pred = random_prediction(rng, rows, nc)
        np.save(d / f"{name}_pred.npy", pred)
        result = non_max_suppression(torch.from_numpy(pred.copy()), **kwargs)[0].numpy().astype(np.float32)
        np.save(d / f"{name}_out.npy", result)
        manifest.append({"name": name, "nc": nc, "options": kwargs, "detections": int(len(result))})
    # scale_coords of the detect case from a 416x640 letterbox back to a 517x333 original
    boxes = scale_coords((416, 640), torch.from_numpy(np.load(d / "detect_out.npy"))[:, :4].clone(), (333, 517))
    np.save(d / "detect_scaled.npy", boxes.numpy().astype(np.float32))
    manifest.append({"name": "detect_scaled", "from": [416, 640], "to": [333, 517]})
    (out / "nms.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "Tests/Fixtures/vision"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)

    photo = cv2.imread(str(PHOTO))
    crop = np.ascontiguousarray(photo[60:393, 50:567])  # 517 x 333
    assert cv2.imwrite(str(out / "photo_517x333.png"), crop, PNG9)
    big = cv2.resize(photo, (1000, 750), interpolation=cv2.INTER_CUBIC)
    assert cv2.imwrite(str(out / "photo_1000x750.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 92])

    cases = make_decode(out, photo)
    make_resize(out, cv2.imread(str(out / "photo_517x333.png")))
    make_letterbox(out, [("photo_517x333.png", out / "photo_517x333.png"),
                         ("photo_1000x750.jpg", out / "photo_1000x750.jpg")])
    make_nms(out)
    (out / "decode.json").write_text(json.dumps(cases, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(list(out.rglob('*')))} files, {total / 1e6:.2f} MB into {out}")


if __name__ == "__main__":
    main()
