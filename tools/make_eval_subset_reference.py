#!/usr/bin/env python3
"""Official test.py figures and per-image statistics on a small BCCD test subset.

Writes OUT/subset_reference.json (default OUT: Tests/Fixtures/eval) for the first N images
(default 8, sorted by file name) of the BCCD test split, evaluated by the official
`test.test(...)` exactly as `python test.py --task test --batch-size 1` would (conf 0.001,
IoU 0.65, rect inference with pad 0.5, multi-label NMS, no v5 metric):

  {"settings": {...}, "images": [file names in the subset],
   "416": {"metrics": {eval JSON of DESIGN.md section 2, per class with P/R},
           "per_image": [...]},            # only for the sizes in --per-image-sizes
   "640": {"metrics": {...}}}

`per_image` (one entry per image in the official dataloader's order) holds what the Swift tests
need to check matching and AP without running a model: the image's name, its original and
letterboxed shapes, the official native-space prediction boxes after scale_coords (x1, y1, x2,
y2, conf, cls as float32 values), the native-space label boxes the official pipeline produces
(class, x1, y1, x2, y2; float32 after the dataloader's float32 round trip), and the official
`correct` matrix rows as 10-bit masks (bit k = IoU threshold 0.50 + 0.05 k).

How: as tools/make_eval_reference.py (official test.py imported from python_scripts with its
module-global `opt` set; a temporary copy of the split because the loader writes a labels cache
next to the labels), plus wrappers around the official `scale_coords` and `ap_per_class` that
record their arguments. Those wrappers only observe: they call the official functions unchanged.

Usage:  .venv/bin/python tools/make_eval_subset_reference.py [--out DIR] [--count N]
Time:   about 20 s on 2 busy CPU cores. Deterministic.
"""
import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / 'shared'


def f32(values):
    """float32 values as the Python floats that represent them exactly (round-trip in JSON)."""
    return [float(np.float32(v)) for v in values]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(REPO / 'Tests' / 'Fixtures' / 'eval'))
    ap.add_argument('--weights', default=str(SHARED / 'weights' / 'yolov7-tiny-bccd.pt'))
    ap.add_argument('--data-dir', default=str(SHARED / 'datasets' / 'bccd'))
    ap.add_argument('--split', default='test')
    ap.add_argument('--count', type=int, default=8)
    ap.add_argument('--sizes', default='416,640')
    ap.add_argument('--per-image-sizes', default='416')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(',')]
    per_image_sizes = {int(s) for s in args.per_image_sizes.split(',') if s}

    import torch
    import yaml
    torch.set_num_threads(args.threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)

    import models
    scripts = Path(models.__file__).resolve().parent.parent / 'python_scripts'
    sys.path.insert(0, str(scripts))
    sys.modules.pop('test', None)
    import test as official_test
    assert Path(official_test.__file__).resolve().parent == scripts, official_test.__file__

    data_dir = Path(args.data_dir)
    names = list(yaml.safe_load((data_dir / 'data.yaml').read_text())['names'])
    images = sorted(p.name for p in (data_dir / 'images' / args.split).iterdir() if p.is_file())[:args.count]

    # Observers around official functions (called unchanged).
    captured_ap = []
    captured_scale = []
    captured_loader = []
    official_ap_per_class = official_test.ap_per_class
    official_scale_coords = official_test.scale_coords
    official_create_dataloader = official_test.create_dataloader

    def ap_per_class_capture(tp, conf, pred_cls, target_cls, *a, **k):
        res = official_ap_per_class(tp, conf, pred_cls, target_cls, *a, **k)
        captured_ap.append((res, np.array(tp), np.array(conf), np.array(pred_cls), np.array(target_cls)))
        return res

    def scale_coords_capture(img1_shape, coords, img0_shape, ratio_pad=None):
        out = official_scale_coords(img1_shape, coords, img0_shape, ratio_pad)
        captured_scale.append((tuple(img1_shape), out.detach().clone().numpy(), tuple(img0_shape)))
        return out

    def create_dataloader_capture(*a, **k):
        res = official_create_dataloader(*a, **k)
        captured_loader.append(res[0])
        return res

    official_test.ap_per_class = ap_per_class_capture
    official_test.scale_coords = scale_coords_capture
    official_test.create_dataloader = create_dataloader_capture

    result = {'settings': {
        'generator': 'tools/make_eval_subset_reference.py',
        'code': 'official test.test() from yolov7-wky-package 2024.9.23.1 (python_scripts/test.py)',
        'weights': Path(args.weights).name, 'data': f'BCCD {args.split} split, first {len(images)} images by name',
        'batch_size': 1, 'conf_thres': 0.001, 'iou_thres': 0.65, 'rect': True, 'pad': 0.5,
        'multi_label_nms': True, 'v5_metric': False, 'trace': False,
        'torch': torch.__version__, 'numpy': np.__version__},
        'images': images}

    with tempfile.TemporaryDirectory(prefix='yolov7_eval_subset_') as tmp:
        tmp = Path(tmp)
        for sub in ('images', 'labels'):
            (tmp / 'bccd' / sub / args.split).mkdir(parents=True)
        for name in images:
            shutil.copy(data_dir / 'images' / args.split / name, tmp / 'bccd' / 'images' / args.split / name)
            label = Path(name).with_suffix('.txt').name
            if (data_dir / 'labels' / args.split / label).exists():
                shutil.copy(data_dir / 'labels' / args.split / label, tmp / 'bccd' / 'labels' / args.split / label)
        split_dir = str(tmp / 'bccd' / 'images' / args.split)
        data_yaml = tmp / 'data.yaml'
        data_yaml.write_text(yaml.safe_dump({'train': split_dir, 'val': split_dir, 'test': split_dir,
                                             'nc': len(names), 'names': names}))
        for size in sizes:
            official_test.opt = argparse.Namespace(
                device='cpu', project=str(tmp / 'runs'), name=f'img{size}', exist_ok=True, task=args.split,
                single_cls=False, batch_size=1, img_size=size, conf_thres=0.001, iou_thres=0.65)
            captured_ap.clear()
            captured_scale.clear()
            captured_loader.clear()
            (mp, mr, map50, map5095, *_), maps, _ = official_test.test(
                str(data_yaml), weights=args.weights, batch_size=1, imgsz=size, conf_thres=0.001,
                iou_thres=0.65, save_json=False, single_cls=False, augment=False, verbose=True,
                plots=False, trace=False, v5_metric=False)
            assert len(captured_ap) == 1 and len(captured_loader) == 1
            (p, r, apm, f1, ap_class), tp, conf, pred_cls, target_cls = captured_ap[0]
            nt = np.bincount(target_cls.astype(np.int64), minlength=len(names))
            per_class = []
            for i, c in enumerate(ap_class):
                per_class.append({'class': names[c], 'class_id': int(c), 'labels': int(nt[c]),
                                  'AP50': float(apm[i, 0]), 'AP50_95': float(apm[i].mean()),
                                  'precision': float(p[i]), 'recall': float(r[i])})
            entry = {'metrics': {'mAP50': float(map50), 'mAP50_95': float(map5095), 'precision': float(mp),
                                 'recall': float(mr), 'images': len(images), 'labels': int(nt.sum()),
                                 'per_class': per_class}}
            print(f'img {size}: P {mp:.4f} R {mr:.4f} mAP@0.5 {map50:.4f} mAP@0.5:0.95 {map5095:.4f}')

            if size in per_image_sizes:
                dataset = captured_loader[0].dataset
                calls = iter(captured_scale)
                row = 0
                per_image = []
                for index, path in enumerate(dataset.img_files):
                    labels = dataset.labels[index]
                    # Every image has predictions at conf 0.001 (asserted by the row count below),
                    # so scale_coords ran for the predictions, then for the labels if any.
                    img1, boxes, img0 = next(calls)
                    n = boxes.shape[0]
                    label_boxes = next(calls)[1] if len(labels) else np.zeros((0, 4), np.float32)
                    correct = tp[row:row + n]
                    masks = [int(sum(1 << k for k in range(correct.shape[1]) if c[k])) for c in correct]
                    per_image.append({
                        'image': Path(path).name, 'original_hw': [int(img0[0]), int(img0[1])],
                        'letterboxed_hw': [int(img1[0]), int(img1[1])],
                        'pred_xyxy': [f32(b) for b in boxes],
                        'pred_conf': f32(conf[row:row + n]), 'pred_class': [int(c) for c in pred_cls[row:row + n]],
                        'label_class': [int(c) for c in labels[:, 0]],
                        'label_xyxy': [f32(b) for b in label_boxes],
                        'correct_masks': masks})
                    row += n
                assert row == tp.shape[0], (row, tp.shape)
                assert next(calls, None) is None
                entry['per_image'] = per_image
            result[str(size)] = entry

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    f = out / 'subset_reference.json'
    f.write_text(json.dumps(result, separators=(',', ':')) + '\n')
    print(f'wrote {f} ({f.stat().st_size} bytes)')


if __name__ == '__main__':
    main()
