#!/usr/bin/env python3
"""Reference COCO metrics from pycocotools (PyPI), saved as fixtures for the Swift COCOEvaluator.

For a dataset split it writes three files into --out (default Tests/Fixtures/coco), named NAME_*:
  NAME_annotations.json  the split's labels as COCO annotations (tools/yolo_to_coco.py), or a copy
                         of --annotations
  NAME_results.json      the detections: a copy of --results (for example the engine's
                         `eval --coco-json` output), or the official code's own when --weights is
                         given (official test.test(save_json=True): img --img, batch 1, conf 0.001,
                         IoU 0.65, as `test.py --save-json --batch-size 1`)
  NAME_stats.json        {"stats": the 12 numbers of COCOeval.stats, "summary": the lines
                         summarize() prints, and how they were made}
pycocotools reads NAME_results.json with `COCO.loadRes` unchanged, so a run on the engine's file
also proves pycocotools accepts it. With both --results and --weights, the engine's file is the one
saved, and the official one is compared with it record by record (printed only).

--edge-cases writes small synthetic cases into OUT/edge/ (CASE_annotations.json, CASE_results.json)
and their stats into OUT/edge/stats.json: crowd boxes, a category without ground truth and results
of an unlisted one, more than 100 detections in an image (the maxDets cut) with tied scores, no
detections at all (pycocotools' loadRes cannot read an empty list: the results object is built
directly), areas exactly on the small/medium/large edges with `area` unlike w*h, a ground truth
with id 0 (pycocotools counts it as unmatched when matched), numeric image ids out of order, and a
seeded random case.

Usage:
  .venv/bin/python tools/coco_reference.py --data ../shared/datasets/bccd --split test --results R.json --name bccd_test
  .venv/bin/python tools/coco_reference.py --data ../shared/datasets/aquarium/data.yaml --split test \
      --weights weights/yolov7-tiny-bccd.pt --img 416 --name aquarium_test
  .venv/bin/python tools/coco_reference.py --edge-cases
Time:   seconds with --results; 1-3 minutes with --weights (one forward pass per image, 2 busy
        cores). Deterministic.
"""
import argparse
import collections
import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import yolo_to_coco  # noqa: E402


def pycocotools_stats(annotations, results):
    """COCOeval bbox on two files (results read with loadRes, unchanged), or on a list of result
    dicts (an empty list is built into a results object directly: loadRes refuses one)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        if isinstance(results, list) and not results:
            dt = COCO()
            dt.dataset = {'images': list(gt.dataset['images']), 'categories': list(gt.dataset['categories']),
                          'annotations': []}
            dt.createIndex()
        else:
            dt = gt.loadRes(str(results))
        ev = COCOeval(gt, dt, 'bbox')
        ev.evaluate()
        ev.accumulate()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.summarize()
    return [float(s) for s in ev.stats], out.getvalue().rstrip('\n')


def official_results(data, split, weights, img, threads):
    """The official test.test(save_json=True) predictions for the split (a list of dicts)."""
    import numpy as np
    import torch
    import yaml
    torch.set_num_threads(threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    from official_test_hooks import official_test_module
    official_test = official_test_module()
    images, names = yolo_to_coco.split_images(data, split)
    with tempfile.TemporaryDirectory(prefix='yolov7_coco_') as tmp:
        tmp = Path(tmp)
        # The official loader writes a .cache file beside the labels: work on a copy.
        for p in images:
            for src, sub in ((Path(p), 'images'), (Path(yolo_to_coco.label_path(p)), 'labels')):
                if src.exists():
                    (tmp / 'ds' / sub / split).mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, tmp / 'ds' / sub / split / src.name)
        split_dir = str(tmp / 'ds' / 'images' / split)
        data_yaml = tmp / 'data.yaml'
        data_yaml.write_text(yaml.safe_dump({'train': split_dir, 'val': split_dir, 'test': split_dir,
                                             'nc': len(names), 'names': names}))
        # A model trained on other classes (the BCCD model on Aquarium, a stand-in) must not
        # break test()'s per-class printout, which indexes the model's names by label class.
        official_load = official_test.attempt_load

        def load_with_names(*a, **k):
            m = official_load(*a, **k)
            if len(m.names) < len(names):
                m.names = list(m.names) + [f'class{i}' for i in range(len(m.names), len(names))]
            return m

        official_test.attempt_load = load_with_names
        official_test.opt = argparse.Namespace(device='cpu', project=str(tmp / 'runs'), name='coco', exist_ok=True,
                                               task=split, single_cls=False, batch_size=1, img_size=img,
                                               conf_thres=0.001, iou_thres=0.65)
        with contextlib.redirect_stdout(io.StringIO()):
            official_test.test(str(data_yaml), weights=weights, batch_size=1, imgsz=img, conf_thres=0.001,
                               iou_thres=0.65, save_json=True, single_cls=False, augment=False, verbose=False,
                               plots=False, trace=False, v5_metric=False)
        return json.loads((tmp / 'runs' / 'coco' / f'{Path(weights).stem}_predictions.json').read_text())


def compare_records(ours, theirs):
    """How far two results lists are apart. The official rect loader visits images in
    aspect-ratio order and near-tied scores may swap, so each of our records is paired with the
    closest of theirs in the same image and category."""
    groups = {}
    for r in theirs:
        groups.setdefault((r['image_id'], r['category_id']), []).append(r)
    identical, worst_box, worst_score = 0, 0.0, 0.0
    for r in ours:
        candidates = groups.get((r['image_id'], r['category_id']))
        if not candidates:
            return f'{r["image_id"]!r} has category {r["category_id"]} only in ours'
        best = min(candidates, key=lambda t: max(abs(u - v) for u, v in zip(r['bbox'], t['bbox'])) + abs(r['score'] - t['score']))
        box = max(abs(u - v) for u, v in zip(r['bbox'], best['bbox']))
        identical += r == best
        worst_box, worst_score = max(worst_box, box), max(worst_score, abs(r['score'] - best['score']))
    per_image = [collections.Counter(r['image_id'] for r in rs) for rs in (ours, theirs)]
    same_counts = 'the same number in every image' if per_image[0] == per_image[1] else 'different numbers per image'
    return (f'{len(ours)} records against {len(theirs)}, {same_counts}; {identical} identical; every record within '
            f'{worst_box:.3f} px and {worst_score:.5f} in score of one of theirs (same image and category)')


def synthetic_results(annotations, seed):
    """Detections made from the ground truth, as a fair model would make them: most boxes found
    with some jitter and a score, some missed, some with the wrong class, some duplicated, some
    false alarms; a realistic test of the metrics on real annotations (image sizes, crowding,
    area ranges) where no model exists yet."""
    rng = random.Random(seed)
    cats = [c['id'] for c in annotations['categories']]
    sizes = {i['id']: (i.get('width', 1000), i.get('height', 1000)) for i in annotations['images']}
    out = []
    for a in annotations['annotations']:
        if rng.random() < 0.12:
            continue
        x, y, w, h = a['bbox']
        s = rng.uniform(0.02, 0.15)
        box = [x + rng.gauss(0, s * w), y + rng.gauss(0, s * h), w * rng.uniform(1 - s, 1 + s), h * rng.uniform(1 - s, 1 + s)]
        cat = a['category_id'] if rng.random() < 0.9 else rng.choice(cats)
        out.append({'image_id': a['image_id'], 'category_id': cat, 'bbox': [round(v, 3) for v in box],
                    'score': round(rng.betavariate(5, 2), 5)})
        if rng.random() < 0.1:
            out.append({'image_id': a['image_id'], 'category_id': cat, 'bbox': [round(v + rng.gauss(0, 4), 3) for v in box],
                        'score': round(rng.betavariate(2, 5), 5)})
    for image, (iw, ih) in sizes.items():
        for _ in range(rng.randint(0, 6)):
            w, h = rng.uniform(8, iw / 3), rng.uniform(8, ih / 3)
            out.append({'image_id': image, 'category_id': rng.choice(cats),
                        'bbox': [round(rng.uniform(0, iw - w), 3), round(rng.uniform(0, ih - h), 3), round(w, 3), round(h, 3)],
                        'score': round(rng.betavariate(2, 6), 5)})
    rng.shuffle(out)
    return out


def edge_cases():
    """Small synthetic annotation/results pairs, each aimed at one rule of COCOeval."""
    cats = [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]

    def ann(i, img, cat, box, area=None, crowd=0):
        return {'id': i, 'image_id': img, 'category_id': cat, 'bbox': box,
                'area': box[2] * box[3] if area is None else area, 'iscrowd': crowd}

    def det(img, cat, box, score):
        return {'image_id': img, 'category_id': cat, 'bbox': box, 'score': score}

    cases = {}
    imgs = [{'id': 'p'}, {'id': 'q'}]
    cases['crowd'] = ({'images': imgs, 'categories': cats, 'annotations': [
        ann(1, 'p', 1, [0, 0, 100, 100], crowd=1), ann(2, 'p', 1, [10, 10, 20, 20]), ann(3, 'p', 1, [200, 200, 50, 50]),
        ann(4, 'q', 1, [0, 0, 40, 40], crowd=True), ann(5, 'q', 2, [5, 5, 30, 30])]}, [
        det('p', 1, [11, 11, 20, 19], 0.9), det('p', 1, [30, 30, 20, 20], 0.8), det('p', 1, [60, 60, 30, 30], 0.7),
        det('p', 1, [205, 198, 50, 52], 0.6), det('p', 1, [0, 0, 100, 100], 0.5), det('q', 1, [1, 1, 38, 38], 0.95),
        det('q', 1, [2, 2, 10, 10], 0.4), det('q', 2, [6, 5, 30, 31], 0.3)])
    cases['category_without_truth'] = ({'images': imgs, 'categories': cats + [{'id': 3, 'name': 'c'}], 'annotations': [
        ann(1, 'p', 1, [0, 0, 50, 50]), ann(2, 'q', 1, [10, 10, 60, 60])]}, [
        det('p', 1, [0, 0, 50, 48], 0.9), det('p', 2, [0, 0, 50, 50], 0.8), det('q', 3, [10, 10, 60, 60], 0.7),
        det('q', 1, [12, 10, 58, 60], 0.6), det('q', 7, [10, 10, 60, 60], 0.99)])
    rng = random.Random(1)
    truth, found = [], []
    for g in range(40):
        x, y = (g % 8) * 60.0, (g // 8) * 60.0
        truth.append(ann(g + 1, 'p', 1, [x, y, 40.0, 40.0]))
    for d in range(150):
        g = d % 40
        x, y = (g % 8) * 60.0 + rng.choice([0, 2, 9, 15]), (g // 8) * 60.0 + rng.choice([0, 3, 12])
        found.append(det('p', 1, [x, y, 40.0, 40.0], rng.choice([0.3, 0.5, 0.5, 0.7, 0.9])))
    found += [det('q', 1, [0.0, 0.0, 40.0, 40.0], 0.5), det('q', 1, [300.0, 0.0, 40.0, 40.0], 0.9)]
    truth.append(ann(41, 'q', 1, [0.0, 0.0, 40.0, 40.0]))
    cases['max_detections'] = ({'images': imgs, 'categories': cats, 'annotations': truth}, found)
    cases['empty_results'] = ({'images': imgs, 'categories': cats, 'annotations': [
        ann(1, 'p', 1, [0, 0, 20, 20]), ann(2, 'q', 2, [0, 0, 200, 200])]}, [])
    cases['area_edges'] = ({'images': imgs, 'categories': cats, 'annotations': [
        ann(1, 'p', 1, [0, 0, 32, 32]), ann(2, 'p', 1, [100, 0, 96, 96]), ann(3, 'p', 1, [300, 0, 20, 20], area=5000),
        ann(4, 'q', 1, [0, 0, 31.9, 32.1], area=1024.0), ann(5, 'q', 2, [0, 100, 50, 50], area=9216)]}, [
        det('p', 1, [0, 0, 32, 32], 0.9), det('p', 1, [100, 0, 96, 96], 0.8), det('p', 1, [300, 0, 20, 20], 0.7),
        det('p', 1, [500, 500, 32, 32], 0.6), det('p', 1, [600, 600, 96, 96], 0.65), det('q', 1, [0, 0, 32, 32], 0.5),
        det('q', 2, [0, 100, 96, 96], 0.4), det('q', 2, [0, 100, 50, 50], 0.35)])
    cases['truth_id_zero'] = ({'images': imgs, 'categories': cats, 'annotations': [
        ann(0, 'p', 1, [0, 0, 50, 50]), ann(1, 'p', 1, [100, 100, 50, 50]), ann(2, 'q', 1, [0, 0, 50, 50])]}, [
        det('p', 1, [0, 0, 50, 50], 0.9), det('p', 1, [100, 100, 50, 50], 0.8), det('q', 1, [0, 0, 50, 50], 0.7)])
    num_imgs = [{'id': 42}, {'id': 7}, {'id': 100}]
    cases['numeric_ids'] = ({'images': num_imgs, 'categories': cats, 'annotations': [
        ann(1, 42, 1, [0, 0, 50, 50]), ann(2, 7, 1, [0, 0, 60, 60]), ann(3, 100, 2, [10, 10, 100, 100]),
        ann(4, 7, 2, [200, 200, 20, 20])]}, [
        det(100, 2, [10, 10, 100, 90], 0.5), det(7, 1, [0, 0, 60, 55], 0.5), det(42, 1, [5, 0, 50, 50], 0.5),
        det(7, 2, [201, 200, 20, 20], 0.5), det(42, 2, [0, 0, 50, 50], 0.5)])
    rng = random.Random(7)
    r_imgs = [{'id': f'img{i}'} for i in range(6)]
    truth, found = [], []
    for im in r_imgs:
        for _ in range(rng.randint(0, 12)):
            w, h = rng.choice([8, 20, 30, 40, 70, 120, 200]) * rng.uniform(0.8, 1.2), rng.uniform(10, 150)
            box = [round(rng.uniform(0, 500), 3), round(rng.uniform(0, 500), 3), round(w, 3), round(h, 3)]
            truth.append(ann(len(truth) + 1, im['id'], rng.choice([1, 2]), box, crowd=int(rng.random() < 0.05)))
            for _ in range(rng.choice([0, 1, 1, 2])):
                j = [round(v + rng.gauss(0, 4), 3) for v in box[:2]] + [round(max(1, v * rng.uniform(0.8, 1.2)), 3) for v in box[2:]]
                found.append(det(im['id'], truth[-1]['category_id'] if rng.random() < 0.9 else 3 - truth[-1]['category_id'],
                                 j, round(rng.random(), 5)))
        for _ in range(rng.randint(0, 5)):
            found.append(det(im['id'], rng.choice([1, 2]), [round(rng.uniform(0, 500), 3), round(rng.uniform(0, 500), 3),
                                                            round(rng.uniform(5, 100), 3), round(rng.uniform(5, 100), 3)],
                             round(rng.random(), 2)))
    rng.shuffle(found)
    cases['random'] = ({'images': r_imgs, 'categories': cats, 'annotations': truth}, found)
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(REPO / 'Tests' / 'Fixtures' / 'coco'))
    ap.add_argument('--name', help='file prefix, e.g. bccd_test')
    ap.add_argument('--data', help='dataset folder or data YAML (converted with yolo_to_coco)')
    ap.add_argument('--split', default='test')
    ap.add_argument('--annotations', help='a COCO annotation file instead of --data')
    ap.add_argument('--results', help='a COCO results file (e.g. the engine\'s eval --coco-json output)')
    ap.add_argument('--weights', help='run the official test.py on --data for the results (or to check --results)')
    ap.add_argument('--img', type=int, default=416)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--results-from', help='how --results was made, for the stats file')
    ap.add_argument('--synthetic', type=int, metavar='SEED',
                    help='results made from the ground truth (jittered, missed, confused, false alarms) instead of a model')
    ap.add_argument('--official-out', help='with --results and --weights: also save the official results here')
    ap.add_argument('--edge-cases', action='store_true')
    args = ap.parse_args()
    import pycocotools
    version = getattr(pycocotools, '__version__', None)
    if version is None:
        from importlib.metadata import version as dist_version
        version = dist_version('pycocotools')
    out = Path(args.out)

    if args.edge_cases:
        edge = out / 'edge'
        edge.mkdir(parents=True, exist_ok=True)
        stats = {'generator': 'tools/coco_reference.py --edge-cases', 'pycocotools': version, 'cases': {}}
        for name, (annotations, results) in edge_cases().items():
            (edge / f'{name}_annotations.json').write_text(json.dumps(annotations) + '\n')
            (edge / f'{name}_results.json').write_text(json.dumps(results) + '\n')
            s, summary = pycocotools_stats(edge / f'{name}_annotations.json',
                                           results if not results else edge / f'{name}_results.json')
            stats['cases'][name] = {'stats': s, 'summary': summary}
            print(f'{name}: ' + ' '.join(f'{v:.4f}' for v in s))
        (edge / 'stats.json').write_text(json.dumps(stats, indent=1) + '\n')
        print(f'wrote {edge}')
        return

    if not args.name or not (args.data or args.annotations) or not (args.results or args.weights or args.synthetic is not None):
        ap.error('give --name, --data or --annotations, and --results, --weights or --synthetic (or --edge-cases)')
    out.mkdir(parents=True, exist_ok=True)
    ann_file, res_file = out / f'{args.name}_annotations.json', out / f'{args.name}_results.json'
    if args.annotations:
        shutil.copy(args.annotations, ann_file)
    else:
        ann_file.write_text(json.dumps(yolo_to_coco.convert(args.data, args.split)) + '\n')
    if args.synthetic is not None:
        res_file.write_text(json.dumps(synthetic_results(json.loads(ann_file.read_text()), args.synthetic)) + '\n')
        source = f'synthetic_results(seed {args.synthetic}): the ground truth jittered, 12% missed, 10% of another class, duplicates and false alarms'
    elif args.results:
        shutil.copy(args.results, res_file)
        source = args.results_from or f'{Path(args.results).name} (copied unchanged)'
        if args.weights:
            official = official_results(args.data, args.split, args.weights, args.img, args.threads)
            if args.official_out:
                Path(args.official_out).write_text(json.dumps(official))
            print('official test.py --save-json against --results: '
                  + compare_records(json.loads(res_file.read_text()), official))
    else:
        res_file.write_text(json.dumps(official_results(args.data, args.split, args.weights, args.img, args.threads)))
        source = (f'official test.test(save_json=True) of {Path(args.weights).name} at img {args.img}, batch 1, '
                  'conf 0.001, IoU 0.65')
    s, summary = pycocotools_stats(ann_file, res_file)
    (out / f'{args.name}_stats.json').write_text(json.dumps({
        'generator': 'tools/coco_reference.py ' + ' '.join(sys.argv[1:]), 'pycocotools': version,
        'annotations': ann_file.name, 'results': res_file.name, 'results_from': source,
        'stats': s, 'summary': summary}, indent=1) + '\n')
    print(summary)
    print(f'wrote {ann_file}, {res_file}, {out / (args.name + "_stats.json")}')


if __name__ == '__main__':
    main()
