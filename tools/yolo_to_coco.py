#!/usr/bin/env python3
"""YOLO labels of one dataset split -> a COCO annotation file (for pycocotools and `eval --coco-annotations`).

Reads the split as the official loader finds it (a dataset folder with images/<split> and
labels/<split>, or a data YAML whose <split> entry is a folder or a .txt list of images; label
paths replace the first /images/ with /labels/ and the extension with .txt) and writes:

  {"info": {...}, "images": [{"id", "file_name", "width", "height"}],
   "categories": [{"id": class index, "name", "supercategory": "none"}],
   "annotations": [{"id": 1.., "image_id", "category_id", "bbox": [x, y, w, h], "area": w*h,
                    "iscrowd": 0}]}

- `image_id` is what official test.py --save-json writes for the image: the file stem, as an int
  when it is all digits (`int(stem) if stem.isnumeric() else stem`). Two images with the same id,
  or a mix of int and str ids (pycocotools cannot evaluate one), are refused.
- `category_id` = the class index (names from the YAML's `names`, or data.yaml beside the folder).
- Boxes in pixels of the image as cv2.imread decodes it (EXIF orientation applied, as the
  official loader sees it): x = (cx - w/2) * W, y = (cy - h/2) * H, w * W, h * H, rounded to 3
  decimals; `area` is the rounded w * h, rounded to 3 decimals. Polygon label lines become their
  bounding box (official `segments2boxes`). Annotation ids start at 1: pycocotools counts a
  matched annotation with id 0 as unmatched.

Usage:  .venv/bin/python tools/yolo_to_coco.py --data ../shared/datasets/bccd --split test --out A.json
Time:   a second per hundred images (it decodes each image for its size). Deterministic.
"""
import argparse
import json
import sys
from pathlib import Path

IMAGE_EXTENSIONS = {'bmp', 'jpg', 'jpeg', 'png', 'tif', 'tiff', 'dng', 'webp', 'mpo'}


def split_images(data, split):
    """Image paths of the split, sorted as the official loader sorts them; and the class names."""
    import yaml
    data = Path(data)
    if data.is_dir():
        folder = data / 'images' / split
        if not folder.is_dir():
            sys.exit(f'{data}: no images/{split} folder')
        meta = yaml.safe_load((data / 'data.yaml').read_text()) if (data / 'data.yaml').exists() else {}
        entries = [folder]
    else:
        meta = yaml.safe_load(data.read_text())
        base = data.parent / meta['path'] if meta.get('path') else data.parent
        entry = meta.get(split)
        if entry is None:
            sys.exit(f'{data}: no {split!r} split')
        entries = [base / e if not Path(e).is_absolute() else Path(e) for e in ([entry] if isinstance(entry, str) else entry)]
    images = []
    for e in entries:
        if e.is_dir():
            images += [str(p) for p in e.rglob('*.*') if p.suffix[1:].lower() in IMAGE_EXTENSIONS and not p.name.startswith('.')]
        elif e.suffix == '.txt':
            for line in e.read_text().splitlines():
                line = line.strip()
                if line and line.rsplit('.', 1)[-1].lower() in IMAGE_EXTENSIONS:
                    images.append(str(e.parent / line[2:]) if line.startswith('./') else line)
        else:
            images.append(str(e))
    names = meta.get('names')
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    return sorted(set(images)), names


def label_path(image):
    path = image.replace('/images/', '/labels/', 1)
    return path.rsplit('.', 1)[0] + '.txt'


def image_id(path):
    stem = Path(path).stem
    return int(stem) if stem.isnumeric() else stem


def convert(data, split):
    import cv2
    images, names = split_images(data, split)
    if not images:
        sys.exit(f'{data}: no images in the {split!r} split')
    ids = [image_id(p) for p in images]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        sys.exit(f'{data}: two images of the {split!r} split have image_id {dup!r}')
    if len({type(i) for i in ids}) > 1:
        sys.exit(f'{data}: image ids mix numbers and strings (file stems), which pycocotools cannot evaluate')
    out_images, annotations, max_class = [], [], -1
    for path, iid in zip(images, ids):
        img = cv2.imread(path)
        if img is None:
            sys.exit(f'{path}: cannot decode image')
        h, w = img.shape[:2]
        out_images.append({'id': iid, 'file_name': Path(path).name, 'width': w, 'height': h})
        lp = Path(label_path(path))
        if not lp.exists():
            continue
        for n, line in enumerate(lp.read_text().splitlines(), 1):
            v = line.split()
            if not v:
                continue
            c, coords = int(float(v[0])), [float(x) for x in v[1:]]
            if len(coords) > 4:  # polygon: its bounding box, as segments2boxes
                xs, ys = coords[0::2], coords[1::2]
                cx, cy, bw, bh = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
            elif len(coords) == 4:
                cx, cy, bw, bh = coords
            else:
                sys.exit(f'{lp}:{n}: not "class cx cy w h"')
            box = [round((cx - bw / 2) * w, 3), round((cy - bh / 2) * h, 3), round(bw * w, 3), round(bh * h, 3)]
            annotations.append({'id': len(annotations) + 1, 'image_id': iid, 'category_id': c, 'bbox': box,
                                'area': round(box[2] * box[3], 3), 'iscrowd': 0})
            max_class = max(max_class, c)
    count = len(names) if names else max_class + 1
    if names is None:
        names = [str(i) for i in range(count)]
    if max_class >= len(names):
        sys.exit(f'{data}: class {max_class} in the labels, but only {len(names)} names')
    dataset = Path(data).name if Path(data).is_dir() else Path(data).resolve().parent.name
    return {'info': {'description': f'{dataset} {split} split, converted from YOLO labels by tools/yolo_to_coco.py'},
            'images': out_images,
            'categories': [{'id': i, 'name': n, 'supercategory': 'none'} for i, n in enumerate(names)],
            'annotations': annotations}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True, help='dataset folder (images/<split>, labels/<split>) or data YAML')
    ap.add_argument('--split', default='test')
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    coco = convert(args.data, args.split)
    Path(args.out).write_text(json.dumps(coco) + '\n')
    print(f"wrote {args.out}: {len(coco['images'])} images, {len(coco['annotations'])} boxes, "
          f"{len(coco['categories'])} categories")


if __name__ == '__main__':
    main()
