#!/usr/bin/env python3
"""Reference fixtures for the model tests, made with the official PyTorch YOLOv7 code.

Writes into OUT (default: Tests/Fixtures/model):

  cfg/training/*.yaml, cfg/deploy/*.yaml, cfg/NOTICE
      the 15 official model configs, copied unchanged from the `yolov7-wky-package`
      (official YOLOv7, GPL-3.0).
  rows320.json
      for each config: official Model(cfg, ch=3, nc=<its nc>) in eval mode on a zero
      1x3x320x320 input: output rows (pred[0].shape[1]), columns, parameter count, strides
      (or the error if the official code cannot build it).
  tiny_<stem>_<img>_input.npy / tiny_<stem>_<img>_pred.npy
      for 3 BCCD test images at img 416 and 640: the letterboxed input exactly as official
      detect.py makes it (uint8 [H, W, 3] RGB) and the raw prediction of
      yolov7-tiny-bccd.pt loaded with attempt_load (fused, float32) (float32 [rows, 5+nc]).
  yolov7-random.pt, yolov7-e6-random.pt
      random-init official-format checkpoints (FP16 model object, as strip_optimizer saves it)
      of cfg/training/yolov7.yaml (RepConv, IDetect) and cfg/training/yolov7-e6.yaml (ReOrg,
      DownC, IAuxDetect), reduced width, every BatchNorm and Implicit tensor randomised.
  yolov7-random-statedict.pt
      torch.save(model.state_dict()) of the same FP16 yolov7-random model.
  <name>_input.npy / <name>_pred.npy
      for each random checkpoint: a seeded random uint8 RGB 320x320 image and the official
      unfused float32 prediction for it.
  manifest.json
      what each file is: images, sizes, letterbox ratio/pad, fused-vs-unfused differences.

Usage:  .venv/bin/python tools/make_model_fixtures.py [--out DIR] [--parts cfg,rows,tiny,random]
Time:   about 1-2 minutes on 2 CPU cores (rows ~20 s: builds all 15 full-size models, the largest,
        yolov7-e6e, has 166M parameters, so ~3 GB RAM; tiny ~20 s; random ~35 s).
        Deterministic (seeded): re-running gives byte-identical files.
"""
import argparse
import copy
import json
import os
import random
import shutil
import sys
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / 'shared'

TRAINING_CFGS = ['yolov7-tiny', 'yolov7', 'yolov7x', 'yolov7-w6', 'yolov7-e6', 'yolov7-d6', 'yolov7-e6e']
DEPLOY_CFGS = ['yolov7-tiny', 'yolov7-tiny-silu', 'yolov7', 'yolov7x', 'yolov7-w6', 'yolov7-e6', 'yolov7-d6',
               'yolov7-e6e']
TINY_IMAGES = ['BloodImage_00031.jpg',  # dense: 2 WBC, 18 RBC, 4 platelets
               'BloodImage_00178.jpg',  # RBC only
               'BloodImage_00249.jpg']  # 2 WBC + 1 platelet, no RBC labelled
TINY_SIZES = [416, 640]

# random checkpoints: (name, config, width_multiple, nc, input size)
RANDOM_MODELS = [('yolov7-random', 'training/yolov7.yaml', 0.125, 80, 320),
                 ('yolov7-e6-random', 'training/yolov7-e6.yaml', 0.075, 20, 320)]


def official_package_dir():
    import models  # the official package installs `models`, `utils`, `cfg` top level
    return Path(models.__file__).resolve().parent.parent


def seed_all(seed):
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def update_manifest(out, key, value):
    path = out / 'manifest.json'
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest['generator'] = 'tools/make_model_fixtures.py'
    manifest[key] = value
    path.write_text(json.dumps(manifest, indent=1) + '\n')


# ---------------------------------------------------------------- 1.a configs
def copy_configs(out):
    src = official_package_dir() / 'cfg'
    n = 0
    for sub, names in (('training', TRAINING_CFGS), ('deploy', DEPLOY_CFGS)):
        (out / 'cfg' / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(src / sub / f'{name}.yaml', out / 'cfg' / sub / f'{name}.yaml')
            n += 1
    (out / 'cfg' / 'NOTICE').write_text(
        'The model configuration files in training/ and deploy/ are copied unchanged from the\n'
        'official YOLOv7 repository (https://github.com/WongKinYiu/yolov7, cfg/training and\n'
        'cfg/deploy), as distributed in the PyPI package yolov7-wky-package 2024.9.23.1.\n'
        'YOLOv7 is licensed under the GNU General Public License v3.0 (GPL-3.0).\n'
        'They are test data: the model tests build every one of them.\n')
    print(f'copied {n} configs from {src}')


# ---------------------------------------------------------------- 1.b rows320
def rows320(out):
    import torch
    import yaml
    from models.yolo import Model
    results = []
    for sub, names in (('training', TRAINING_CFGS), ('deploy', DEPLOY_CFGS)):
        for name in names:
            cfg = official_package_dir() / 'cfg' / sub / f'{name}.yaml'
            rel = f'cfg/{sub}/{name}.yaml'
            nc = yaml.safe_load(cfg.read_text())['nc']
            entry = {'cfg': rel, 'nc': nc, 'input': [1, 3, 320, 320]}
            try:
                seed_all(0)
                model = Model(str(cfg), ch=3, nc=nc).eval()
                with torch.no_grad():
                    pred = model(torch.zeros(1, 3, 320, 320))
                entry.update(rows=int(pred[0].shape[1]), cols=int(pred[0].shape[2]),
                             params=int(sum(p.numel() for p in model.parameters())),
                             stride=[int(s) for s in model.stride.tolist()],
                             head=type(model.model[-1]).__name__, layers=len(model.model))
                del model, pred
            except Exception as e:  # record, keep going
                entry['error'] = f'{type(e).__name__}: {e}'
                traceback.print_exc()
            print(entry)
            results.append(entry)
    (out / 'rows320.json').write_text(json.dumps(results, indent=1) + '\n')


# ---------------------------------------------------------------- 1.c tiny-bccd
def tiny_bccd(out, weights, images_dir):
    import cv2
    import torch
    from models.experimental import attempt_load
    from utils.datasets import letterbox
    model = attempt_load(str(weights), map_location='cpu')  # FP32, fused, as detect.py
    model.eval()
    stride = int(model.stride.max())
    entries = []
    for name in TINY_IMAGES:
        img0 = cv2.imread(str(images_dir / name))  # BGR
        assert img0 is not None, name
        for size in TINY_SIZES:
            lb, ratio, pad = letterbox(img0, size, stride=stride)  # auto=True as LoadImages
            rgb = np.ascontiguousarray(lb[:, :, ::-1])  # BGR to RGB, [H, W, 3]
            img = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
            with torch.no_grad():
                pred = model(img.unsqueeze(0))[0][0].numpy().astype(np.float32)
            stem = Path(name).stem
            fin, fpred = f'tiny_{stem}_{size}_input.npy', f'tiny_{stem}_{size}_pred.npy'
            np.save(out / fin, rgb.astype(np.uint8))
            np.save(out / fpred, pred)
            entries.append({'image': name, 'img_size': size, 'original_hw': list(img0.shape[:2]),
                            'letterboxed_hw': list(rgb.shape[:2]), 'ratio': [float(r) for r in ratio],
                            'pad_wh': [float(p) for p in pad], 'input': fin, 'pred': fpred,
                            'rows': pred.shape[0], 'cols': pred.shape[1],
                            'max_conf': float((pred[:, 4:5] * pred[:, 5:]).max())})
            print(entries[-1])
    update_manifest(out, 'tiny_bccd', {
        'weights': 'yolov7-tiny-bccd.pt (../shared/weights), loaded with official attempt_load '
                   "(map_location='cpu': FP32, fused, eval)",
        'names': list(model.names), 'stride': int(stride),
        'letterbox': 'cv2.imread -> utils.datasets.letterbox(img0, img_size, stride=32) (auto=True) -> BGR to RGB',
        'model_input': 'torch.from_numpy(rgb).permute(2,0,1).float()/255, batch 1; pred = model(img)[0][0]',
        'pred_columns': 'x, y, w, h (letterboxed pixels), obj, class probabilities',
        'pad_wh': 'letterbox returns (dw, dh), each half the total padding; left = round(dw-0.1), top = round(dh-0.1)',
        'items': entries})


# ---------------------------------------------------------------- 1.d/e random checkpoints
def randomise(model, seed, calib_size):
    """Randomise BN stats/affine and Implicit tensors, head biases; normalise conv weights so
    that every conv's (pre-BN) output has unit std on a random calibration image."""
    import torch
    import torch.nn as nn
    from models.common import ImplicitA, ImplicitM
    from models.yolo import IDetect, IAuxDetect, Detect
    g = torch.Generator().manual_seed(seed)
    head = model.model[-1]
    head_convs = [c for attr in ('m', 'm2') for c in getattr(head, attr, [])]  # ordered: deterministic
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 1.0 + 0.5)          # gamma U(0.5, 1.5)
                m.bias.copy_(torch.rand(n, generator=g) * 1.0 - 0.5)            # beta  U(-0.5, 0.5)
                m.running_mean.copy_(torch.rand(n, generator=g) * 1.0 - 0.5)    # mean  U(-0.5, 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)     # var   U(0.5, 2)
            elif isinstance(m, ImplicitA):
                m.implicit.copy_(torch.randn(m.implicit.shape, generator=g) * 0.5)        # N(0, 0.5)
            elif isinstance(m, ImplicitM):
                m.implicit.copy_(torch.randn(m.implicit.shape, generator=g) * 0.2 + 1.0)  # N(1, 0.2)
        for c in head_convs:  # random head biases so obj/cls sigmoids spread over (0, 1)
            c.bias.copy_(torch.randn(c.bias.shape, generator=g) * 1.0 - 0.5)

    # data-dependent scaling of every non-head conv (LSUV-like, one pass in forward order)
    def hook(mod, inp, out):
        s = out.std().clamp_min(1e-6)
        mod.weight.mul_(1.0 / s)
        if mod.bias is not None:
            mod.bias.mul_(1.0 / s)
        return out / s

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d) and not any(m is c for c in head_convs)]
    model.eval()
    x = torch.rand(1, 3, calib_size, calib_size, generator=g)
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    for m in model.modules():  # drop cached grids so the pickle stays small, as a fresh model
        if isinstance(m, (Detect, IDetect, IAuxDetect)):
            m.grid = [torch.zeros(1)] * m.nl


def random_checkpoints(out):
    import torch
    import yaml
    from models.yolo import Model
    from models.common import Conv
    pkg = official_package_dir()
    entries = []
    for idx, (name, cfg_rel, gw, nc, size) in enumerate(RANDOM_MODELS):
        seed = 1000 + idx
        seed_all(seed)
        cfg_path = pkg / 'cfg' / cfg_rel
        d = yaml.safe_load(cfg_path.read_text())
        d['width_multiple'] = gw
        d['nc'] = nc
        model = Model(d, ch=3, nc=nc)
        model.yaml_file = cfg_path.name  # as Model(path) would set it
        randomise(model, seed, size)
        # attributes the official train.py sets before saving
        hyp_name = 'hyp.scratch.p6.yaml' if 'e6' in cfg_rel or 'w6' in cfg_rel or 'd6' in cfg_rel \
            else 'hyp.scratch.p5.yaml'
        model.nc = nc
        model.hyp = yaml.safe_load((pkg / 'data' / hyp_name).read_text())
        model.gr = 1.0
        model.class_weights = torch.from_numpy(np.linspace(0.5, 1.5, nc))  # float64, as train.py sets it
        model.names = [f'class{i}' for i in range(nc)]
        model.eval()
        model.half()
        for p in model.parameters():
            p.requires_grad = False
        ckpt_path = out / f'{name}.pt'
        torch.save({'epoch': -1, 'best_fitness': None, 'training_results': None, 'model': model,
                    'ema': None, 'updates': None, 'optimizer': None, 'wandb_id': None}, ckpt_path)
        entry = {'file': ckpt_path.name, 'cfg': f'cfg/{cfg_rel}', 'width_multiple': gw,
                 'depth_multiple': d['depth_multiple'], 'nc': nc, 'seed': seed,
                 'params': int(sum(p.numel() for p in model.parameters())),
                 'bytes': ckpt_path.stat().st_size}
        if idx == 0:
            sd_path = out / f'{name}-statedict.pt'
            torch.save(model.state_dict(), sd_path)
            entry['statedict_file'] = sd_path.name
            entry['statedict_bytes'] = sd_path.stat().st_size
        del model

        # reload and run, unfused and fused
        ck = torch.load(ckpt_path, map_location='cpu', weights_only=False)
        m = ck['model'].float().eval()
        rng = np.random.default_rng(seed)
        rgb = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        x = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0
        with torch.no_grad():
            unfused = m(x)[0][0].numpy().astype(np.float32)
            mf = copy.deepcopy(m).fuse().eval()
            fused = mf(x)[0][0].numpy().astype(np.float32)
        rel = float(np.abs(fused - unfused).max() / np.abs(unfused).max())
        rel_conf = float(np.abs(fused[:, 4:] - unfused[:, 4:]).max())
        np.save(out / f'{name}_input.npy', rgb)
        np.save(out / f'{name}_pred.npy', unfused)
        if idx == 0:  # the state dict loads into Model(cfg) and gives the same output
            ms = Model(copy.deepcopy(ck['model'].yaml), ch=3, nc=nc)
            ms.load_state_dict(torch.load(out / f'{name}-statedict.pt', map_location='cpu'))
            with torch.no_grad():
                sd_out = ms.float().eval()(x)[0][0].numpy()
            entry['statedict_max_abs_diff_vs_pred'] = float(np.abs(sd_out - unfused).max())
        obj, cls = unfused[:, 4], unfused[:, 5:]
        entry.update({
            'input': f'{name}_input.npy', 'pred': f'{name}_pred.npy', 'input_hw': [size, size],
            'rows': unfused.shape[0], 'cols': unfused.shape[1],
            'stride': [int(s) for s in m.stride.tolist()], 'head': type(m.model[-1]).__name__,
            'modules': sorted({type(x).__name__ for x in m.modules()}),
            'fused_vs_unfused_max_abs_over_max_abs': rel,
            'fused_vs_unfused_max_abs_obj_cls': rel_conf,
            'obj_min_mean_max': [float(obj.min()), float(obj.mean()), float(obj.max())],
            'cls_min_mean_max': [float(cls.min()), float(cls.mean()), float(cls.max())],
            'sigmoid_fraction_in_0.01_0.99': float(((unfused[:, 4:] > 0.01) & (unfused[:, 4:] < 0.99)).mean()),
            'xywh_max': [float(v) for v in unfused[:, :4].max(0)],
        })
        print(json.dumps(entry))
        entries.append(entry)
    update_manifest(out, 'random_checkpoints', {
        'what': 'random-init official-format checkpoints: torch.save({epoch: -1, best_fitness: None, '
                'training_results: None, model: <Model, FP16>, ema: None, updates: None, optimizer: None, '
                'wandb_id: None}); BN weight U(0.5,1.5), bias U(-0.5,0.5), running_mean U(-0.5,0.5), '
                'running_var U(0.5,2); ImplicitA N(0,0.5), ImplicitM N(1,0.2); head conv biases N(-0.5,1); '
                'other conv weights scaled to unit output std on a random calibration image',
        'input': 'seeded random uint8 RGB [H, W, 3]; model input = rgb/255 as [1,3,H,W]',
        'pred': 'reloaded checkpoint, .float().eval(), not fused: model(x)[0][0], float32 [rows, 5+nc]',
        'items': entries})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(REPO / 'Tests' / 'Fixtures' / 'model'))
    ap.add_argument('--weights', default=str(SHARED / 'weights' / 'yolov7-tiny-bccd.pt'))
    ap.add_argument('--images', default=str(SHARED / 'datasets' / 'bccd' / 'images' / 'test'))
    ap.add_argument('--parts', default='cfg,rows,tiny,random', help='comma list of cfg,rows,tiny,random')
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(',')
    if 'cfg' in parts:
        copy_configs(out)
    if 'rows' in parts:
        rows320(out)
    if 'tiny' in parts:
        tiny_bccd(out, Path(args.weights), Path(args.images))
    if 'random' in parts:
        random_checkpoints(out)
    total = 0
    for f in sorted(out.rglob('*')):
        if f.is_file():
            total += f.stat().st_size
            print(f'{f.stat().st_size:>10}  {f.relative_to(out)}')
    print(f'{total:>10}  total ({total / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
