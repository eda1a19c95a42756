#!/usr/bin/env python3
"""Reference detections and letterbox fixtures from the official YOLOv7 detect pipeline.

Writes into OUT (default: Tests/Fixtures/detect):

  official_detect_416.json, official_detect_640.json
      the official detect.py pipeline, re-assembled from the official functions (not by
      patching detect.py): attempt_load (FP32, fused, CPU) -> cv2.imread -> letterbox(img0,
      img, stride=32) (auto=True) -> BGR to RGB -> /255 -> model(img)[0] ->
      non_max_suppression(pred, 0.25, 0.45, classes=None, agnostic=False) -> scale_coords back to
      the original image, on all 72 BCCD test images, in the engine's detection JSON format
      (DESIGN.md section 2):
        [{"image": <file name>, "width": W, "height": H,
          "detections": [{"class_id", "class", "confidence", "box": [x1, y1, x2, y2]}]}]
      Detections are in the order NMS returns them (confidence descending). Boxes are the
      scale_coords output (clipped, NOT rounded; official detect.py additionally rounds them to
      whole pixels for drawing and --save-txt), rounded to 4 decimals; confidence to 6 decimals.
  letterbox/
      small_<stem>.jpg / .png (333 wide x 517 high, from one BCCD test image) and
      large_<stem>.jpg / .png (1100 wide x 900 high, from another), made with cv2.resize
      (INTER_LINEAR) + cv2.imwrite (JPEG quality 90), and for each the official letterbox output
      at img 416 and 640 of the image as cv2.imread decodes it (auto=True, stride 32, RGB uint8
      [H, W, 3] .npy), plus manifest.json (sizes, ratio, pad).

Usage:  .venv/bin/python tools/make_detect_fixtures.py [--out DIR] [--weights W] [--images DIR]
Time:   about 1-3 minutes on 2 busy CPU cores. Deterministic (no randomness involved; seeds set anyway).
"""
import argparse
import json
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / 'shared'
SIZES = [416, 640]
LETTERBOX_SOURCES = {'small': ('BloodImage_00031.jpg', (333, 517)),   # (width, height)
                     'large': ('BloodImage_00249.jpg', (1100, 900))}


def detect_all(out, weights, images_dir, size):
    import cv2
    import torch
    from models.experimental import attempt_load
    from utils.datasets import letterbox
    from utils.general import non_max_suppression, scale_coords, check_img_size

    model = attempt_load(str(weights), map_location='cpu')  # FP32, fused
    model.eval()
    stride = int(model.stride.max())
    imgsz = check_img_size(size, s=stride)
    names = model.module.names if hasattr(model, 'module') else model.names
    results = []
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
    for path in files:
        img0 = cv2.imread(str(path))  # BGR
        img = letterbox(img0, imgsz, stride=stride)[0]
        img = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))  # BGR to RGB, CHW
        img = torch.from_numpy(img).float() / 255.0
        img = img.unsqueeze(0)
        with torch.no_grad():
            pred = model(img)[0]
        det = non_max_suppression(pred, 0.25, 0.45, classes=None, agnostic=False)[0]
        dets = []
        if len(det):
            det[:, :4] = scale_coords(img.shape[2:], det[:, :4], img0.shape)
            for *xyxy, conf, cls in det.tolist():
                dets.append({'class_id': int(cls), 'class': names[int(cls)], 'confidence': round(conf, 6),
                             'box': [round(v, 4) for v in xyxy]})
        results.append({'image': path.name, 'width': img0.shape[1], 'height': img0.shape[0], 'detections': dets})
    f = out / f'official_detect_{size}.json'
    f.write_text(json.dumps(results, indent=1) + '\n')
    n = sum(len(r['detections']) for r in results)
    print(f'{f}: {len(results)} images, {n} detections')


def letterbox_fixtures(out, images_dir):
    import cv2
    from utils.datasets import letterbox
    d = out / 'letterbox'
    d.mkdir(parents=True, exist_ok=True)
    items = []
    for kind, (name, (w, h)) in LETTERBOX_SOURCES.items():
        src = cv2.imread(str(images_dir / name))
        resized = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
        stem = f'{kind}_{Path(name).stem}'
        for ext in ('jpg', 'png'):
            fimg = d / f'{stem}.{ext}'
            params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == 'jpg' else [cv2.IMWRITE_PNG_COMPRESSION, 9]
            assert cv2.imwrite(str(fimg), resized, params)
            img0 = cv2.imread(str(fimg))  # decode as detect.py does
            for size in SIZES:
                lb, ratio, pad = letterbox(img0, size, stride=32)  # auto=True
                rgb = np.ascontiguousarray(lb[:, :, ::-1])
                fnpy = f'{stem}_{ext}_{size}.npy'
                np.save(d / fnpy, rgb)
                items.append({'image': fimg.name, 'source': name, 'width': img0.shape[1], 'height': img0.shape[0],
                              'img_size': size, 'letterbox': fnpy, 'letterboxed_hw': list(rgb.shape[:2]),
                              'ratio': [float(r) for r in ratio], 'pad_wh': [float(p) for p in pad]})
                print(items[-1])
    (d / 'manifest.json').write_text(json.dumps({
        'generator': 'tools/make_detect_fixtures.py',
        'what': 'official utils.datasets.letterbox(cv2.imread(image), img_size, stride=32) (auto=True, '
                'INTER_LINEAR, pad 114), BGR to RGB, uint8 [H, W, 3]',
        'images': 'BCCD test images resized with cv2.resize(INTER_LINEAR) and written with cv2.imwrite '
                  '(JPEG quality 90, PNG compression 9); the .npy is made from the file as cv2.imread '
                  'decodes it (OpenCV %s)' % cv2.__version__,
        'pad_wh': 'letterbox returns (dw, dh), each half the total padding; left = round(dw-0.1), '
                  'top = round(dh-0.1)',
        'items': items}, indent=1) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(REPO / 'Tests' / 'Fixtures' / 'detect'))
    ap.add_argument('--weights', default=str(SHARED / 'weights' / 'yolov7-tiny-bccd.pt'))
    ap.add_argument('--images', default=str(SHARED / 'datasets' / 'bccd' / 'images' / 'test'))
    ap.add_argument('--parts', default='detect,letterbox', help='comma list of detect,letterbox')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if 'detect' in args.parts:
        for size in SIZES:
            detect_all(out, Path(args.weights), Path(args.images), size)
    if 'letterbox' in args.parts:
        letterbox_fixtures(out, Path(args.images))
    total = 0
    for f in sorted(out.rglob('*')):
        if f.is_file():
            total += f.stat().st_size
            print(f'{f.stat().st_size:>10}  {f.relative_to(out)}')
    print(f'{total:>10}  total ({total / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
