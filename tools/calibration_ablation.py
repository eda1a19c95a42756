#!/usr/bin/env python3
"""The calibration ablation of docs/QUANTIZATION.md: each technique added in turn, 4-bit and 3-bit.

For every row: `yolov7 quantize` (packed file) then `yolov7 eval` on the test split; writes
<out>/ablation.csv (all figures), <out>/ablation.md (the table) and <out>/ablation.svg (the chart).
Rows whose results are already in <out>/work are not re-run (delete it to start over).
Standard library only; needs the release build (swift build -c release).

Usage (repository root):
  python3 tools/calibration_ablation.py                                  # shipped model, BCCD
  python3 tools/calibration_ablation.py --weights OTHER.pt --img 640 --out docs/ablation-640
About 8 minutes on a 2-core machine (each calibrated row: ~15-30 s quantize + ~6 s eval).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FP32_FILE = None  # filled from the first report

# (bits, label, quantize arguments); the calibration arguments are added where techniques need them.
ROWS = [
    (4, "round-to-nearest, every conv", "--scheme pwlq --bits 4 --granularity filter"),
    (4, "+ first and detect convs FP32", "--scheme pwlq --bits 4 --granularity filter --keep first,detect"),
    (4, "+ range search (clip)", "--scheme pwlq --bits 4 --granularity filter --keep first,detect --techniques clip"),
    (4, "error feedback (gptq) instead of clip", "--scheme pwlq --bits 4 --granularity filter --keep first,detect --techniques gptq"),
    (4, "+ bias correction (gptq,bias)", "--scheme pwlq --bits 4 --granularity filter --keep first,detect --techniques gptq,bias"),
    (4, "clip,gptq,bias", "--scheme pwlq --bits 4 --granularity filter --keep first,detect --techniques clip,gptq,bias"),
    (4, "gptq,bias, every conv 4-bit", "--scheme pwlq --bits 4 --granularity filter --techniques gptq,bias"),
    (4, "affine, gptq,bias", "--scheme affine --bits 4 --granularity filter --keep first,detect --techniques gptq,bias"),
    (4, "symmetric, gptq,bias", "--scheme symmetric --bits 4 --granularity filter --keep first,detect --techniques gptq,bias"),
    (3, "round-to-nearest, every conv", "--scheme affine --bits 3 --granularity filter"),
    (3, "+ first and detect convs FP32", "--scheme affine --bits 3 --granularity filter --keep first,detect"),
    (3, "+ range search (clip)", "--scheme affine --bits 3 --granularity filter --keep first,detect --techniques clip"),
    (3, "error feedback (gptq) instead of clip", "--scheme affine --bits 3 --granularity filter --keep first,detect --techniques gptq"),
    (3, "+ bias correction (gptq,bias)", "--scheme affine --bits 3 --granularity filter --keep first,detect --techniques gptq,bias"),
    (3, "clip,gptq,bias", "--scheme affine --bits 3 --granularity filter --keep first,detect --techniques clip,gptq,bias"),
    (3, "gptq,bias, every conv 3-bit", "--scheme affine --bits 3 --granularity filter --techniques gptq,bias"),
    (3, "pwlq, gptq,bias", "--scheme pwlq --bits 3 --granularity filter --keep first,detect --techniques gptq,bias"),
    (3, "symmetric, gptq,bias", "--scheme symmetric --bits 3 --granularity filter --keep first,detect --techniques gptq,bias"),
]


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{res.stderr.strip()}")
    return res.stdout


def number(pattern, text):
    return float(re.search(pattern, text).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="weights/yolov7-tiny-bccd.pt")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "bccd"))
    ap.add_argument("--img", type=int, default=416)
    ap.add_argument("--calib-images", type=int, default=32)
    ap.add_argument("--engine", default=str(ROOT / ".build" / "release" / "yolov7"))
    ap.add_argument("--out", default="docs/ablation")
    args = ap.parse_args()
    out = ROOT / args.out
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)

    base_json = work / "fp32.json"
    if not base_json.exists():
        run([args.engine, "eval", "--weights", args.weights, "--data", args.data, "--img", str(args.img),
             "--json", str(base_json)])
    base = json.loads(base_json.read_text())
    rows = []
    for k, (bits, label, qargs) in enumerate(ROWS):
        stem = work / f"row{k:02d}"
        report, metrics = stem.with_suffix(".txt"), stem.with_suffix(".json")
        if not (report.exists() and metrics.exists()):
            extra = qargs.split()
            if "gptq" in qargs or "bias" in qargs:
                # Each conv on its FP32 inputs, as this table was measured (the sequential default
                # came later: docs/QUANTIZATION.md compares the two).
                extra += ["--calib", args.data, "--calib-images", str(args.calib_images), "--img", str(args.img),
                          "--fp32-inputs"]
            model = stem.with_suffix(".safetensors")
            text = run([args.engine, "quantize", "--weights", args.weights, *extra, "--out", str(model)])
            run([args.engine, "eval", "--weights", str(model), "--data", args.data, "--img", str(args.img),
                 "--json", str(metrics)])
            model.unlink()
            report.write_text(text)
            print(f"row {k}: {bits}-bit {label} done", file=sys.stderr, flush=True)
        text, m = report.read_text(), json.loads(metrics.read_text())
        file_bytes = int(number(r"file:\s+(\d+) B", text))
        fp32 = number(r"FP32 file:\s+(\d+) B", text)
        fp16 = number(r"FP16 file:\s+(\d+) B", text)
        # "wrote F (12.3 s: phases)"; reports cached before that said "(calibration and quantization 12.3 s)".
        seconds = number(r"(?:calibration and quantization |wrote \S+ \()([\d.]+) s", text)
        rows.append({"bits": bits, "step": label, "arguments": qargs, "mAP50": m["mAP50"], "mAP50_95": m["mAP50_95"],
                     "delta50_95": m["mAP50_95"] - base["mAP50_95"], "bytes": file_bytes,
                     "vs_fp32": fp32 / file_bytes, "vs_fp16": fp16 / file_bytes, "seconds": seconds})
    with open(out / "ablation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"FP32: mAP@0.5 {base['mAP50']:.4f}, mAP@0.5:0.95 {base['mAP50_95']:.4f} ({args.weights}, --img {args.img})", "",
             "| bits | step | mAP@0.5 | mAP@0.5:0.95 | change | bytes | vs FP32 | vs FP16 | quantize s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['bits']} | {r['step']} | {r['mAP50']:.4f} | {r['mAP50_95']:.4f} | {r['delta50_95']:+.4f} | "
                     f"{r['bytes']:,} | {r['vs_fp32']:.2f}x | {r['vs_fp16']:.2f}x | {r['seconds']:.1f} |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    (out / "ablation.svg").write_text(chart(rows, base["mAP50_95"]))
    print("\n".join(lines))


def chart(rows, baseline):
    """Horizontal bars of mAP@0.5:0.95 per row, the FP32 level and the -0.005 / -0.02 targets marked."""
    bar, gap, left, width = 18, 6, 330, 420
    top = 40
    height = top + len(rows) * (bar + gap) + 50
    lo, hi = 0.2, 0.6
    x = lambda v: left + (min(max(v, lo), hi) - lo) / (hi - lo) * width
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
         'font-family="sans-serif" font-size="12">',
         f'<text x="10" y="20" font-size="14">mAP@0.5:0.95 on BCCD test, each technique added in turn</text>']
    for k, r in enumerate(rows):
        y = top + k * (bar + gap)
        colour = "#4c78a8" if r["bits"] == 4 else "#f58518"
        s.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{r["bits"]}-bit: {r["step"]}</text>')
        s.append(f'<rect x="{left}" y="{y}" width="{x(r["mAP50_95"]) - left:.1f}" height="{bar}" fill="{colour}"/>')
        s.append(f'<text x="{x(r["mAP50_95"]) + 4:.1f}" y="{y + 13}">{r["mAP50_95"]:.4f} ({r["vs_fp32"]:.2f}x)</text>')
    bottom = top + len(rows) * (bar + gap)
    for value, label, dash in [(baseline, "FP32", ""), (baseline - 0.005, "-0.005", "4,3"), (baseline - 0.02, "-0.02", "2,3")]:
        s.append(f'<line x1="{x(value):.1f}" y1="{top - 6}" x2="{x(value):.1f}" y2="{bottom}" stroke="black" '
                 f'stroke-dasharray="{dash}"/>')
        s.append(f'<text x="{x(value):.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10">{label}</text>')
    for v in [0.2, 0.3, 0.4, 0.5, 0.6]:
        s.append(f'<text x="{x(v):.1f}" y="{bottom + 30}" text-anchor="middle" font-size="10">{v:.1f}</text>')
    s.append("</svg>")
    return "\n".join(s) + "\n"


if __name__ == "__main__":
    main()
