#!/usr/bin/env python3
"""Makes the two seeds of Fuzz/corpus/ that no committed fixture provides: a small but real
official checkpoint (yolov7-tiny at width_multiple 1/16, nc 3, FP16 model object, saved as the
official train.py saves it) and, through the engine's own `convert`, its safetensors forms.
Everything else in the corpus is copied from Tests/Fixtures by make_corpus.sh, which runs this.

Usage:  .venv/bin/python Fuzz/make_seeds.py --cli .build-fuzz/release/yolov7 --out Fuzz/corpus
Needs:  the venv of tools/README.md (torch 2.5.1 + yolov7-wky-package). About 10 s.
        Deterministic apart from torch.save's zip timestamps (none: torch writes zeros).
"""
import argparse
import subprocess
from pathlib import Path

import torch
import yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cli', required=True, help='built yolov7 executable (for convert)')
    ap.add_argument('--out', default='Fuzz/corpus')
    args = ap.parse_args()
    out = Path(args.out)
    import models
    from models.yolo import Model
    cfg = Path(models.__file__).resolve().parent.parent / 'cfg' / 'training' / 'yolov7-tiny.yaml'
    torch.manual_seed(7)
    d = yaml.safe_load(cfg.read_text())
    d['width_multiple'] = 1 / 16
    d['nc'] = 3
    model = Model(d, ch=3, nc=3)
    model.names = ['RBC', 'WBC', 'Platelets']
    model.eval()
    model.half()
    for p in model.parameters():
        p.requires_grad = False
    for m in model.modules():  # no cached grids: a fresh model's pickle
        if hasattr(m, 'grid') and isinstance(m.grid, list):
            m.grid = [torch.zeros(1)] * len(m.grid)
    (out / 'checkpoint').mkdir(parents=True, exist_ok=True)
    (out / 'safetensors').mkdir(parents=True, exist_ok=True)
    pt = out / 'checkpoint' / 'tiny_w16.pt'
    torch.save({'epoch': -1, 'best_fitness': None, 'training_results': None, 'model': model,
                'ema': None, 'updates': None, 'optimizer': None, 'wandb_id': None}, pt)
    subprocess.run([args.cli, 'convert', str(pt), '--out', str(out / 'safetensors' / 'tiny_w16_folded.safetensors')],
                   check=True)
    subprocess.run([args.cli, 'convert', str(pt), '--half', '--out',
                    str(out / 'safetensors' / 'tiny_w16_half.safetensors')], check=True)
    # The config as the engine stores it in metadata (one line of YAML flow style).
    import json
    import struct
    raw = (out / 'safetensors' / 'tiny_w16_folded.safetensors').read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    (out / 'modelconfig').mkdir(parents=True, exist_ok=True)
    (out / 'modelconfig' / 'metadata_flow.yaml').write_text(header['__metadata__']['config'])


if __name__ == '__main__':
    main()
