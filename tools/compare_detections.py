#!/usr/bin/env python3
"""Compare the engine's detection JSON with the official detect.py fixture (issue 3, acceptance 1).

Usage: tools/compare_detections.py OFFICIAL.json ENGINE.json
Matches boxes one-to-one per image (same class, greedy by official confidence, best IoU) and prints:
the share of official boxes with an engine box of IoU >= 0.98 and |conf diff| <= 0.005, and the
share of engine boxes left unmatched (extra). Standard library only.
"""
import json
import os
import sys


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(official_path, engine_path):
    official = {os.path.basename(r["image"]): r for r in json.load(open(official_path))}
    engine = {os.path.basename(r["image"]): r for r in json.load(open(engine_path))}
    total = good = extra = engine_total = 0
    worst_iou, worst_conf = 1.0, 0.0
    for name, ref in official.items():
        got = engine.get(name, {"detections": []})["detections"]
        engine_total += len(got)
        used = set()
        for d in sorted(ref["detections"], key=lambda d: -d["confidence"]):
            total += 1
            best, best_j = 0.0, None
            for j, e in enumerate(got):
                if j in used or e["class_id"] != d["class_id"]:
                    continue
                v = iou(d["box"], e["box"])
                if v > best:
                    best, best_j = v, j
            if best_j is None:
                worst_iou = 0.0
                continue
            used.add(best_j)
            dc = abs(got[best_j]["confidence"] - d["confidence"])
            worst_iou, worst_conf = min(worst_iou, best), max(worst_conf, dc)
            if best >= 0.98 and dc <= 0.005:
                good += 1
        extra += len(got) - len(used)
    print(f"official boxes {total}, engine boxes {engine_total}")
    print(f"matched (IoU>=0.98, |dconf|<=0.005): {good}/{total} = {100.0 * good / max(total, 1):.2f}%")
    print(f"extra engine boxes: {extra} = {100.0 * extra / max(engine_total, 1):.2f}%")
    print(f"worst IoU of a match {worst_iou:.5f}, worst |dconf| {worst_conf:.6f}")
    return 0 if good >= 0.99 * total and extra <= 0.01 * engine_total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
