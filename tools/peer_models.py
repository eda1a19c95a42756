#!/usr/bin/env python3
"""The models the peer runtimes run, made from one official checkpoint and cached in a workdir.

Used by tools/bench_peers.py (latency) and tools/peer_accuracy.py (mAP); nothing here times or
evaluates. For a checkpoint `pt` (yolov7-tiny-bccd from ../shared/weights, a random-init official
yolov7, or any official .pt), `prepare()` makes what the runtimes asked for need:

  grid    static [batch, 3, img, img] ONNX, opset 12, grid decoding in the graph (as the official
          export.py --grid): what the FP32 peers are timed on, the same computation as `yolov7 bench`.
  raw     ONNX opset 13, batch/height/width dynamic, the official Detect's `export` flag set: the
          three raw head maps [batch, anchors, ny, nx, 5 + nc] before the sigmoid, no decode.
          The accuracy harness runs this (rect letterbox needs dynamic shapes) and decodes with the
          official Detect arithmetic itself, identically for every runtime.
  ort-int8       `raw` quantized by ONNX Runtime (static, QDQ, per-channel s8 weights, u8 activations).
  openvino-int8  `raw` quantized by NNCF post-training quantization (MIXED preset), OpenVINO IR.

Both int8 models quantize the raw model, so the decode is never quantized; their latency is taken
on these same models fed a fixed img x img input (the ~0.1-1 ms decode is then not in their time).

Calibration for both: CALIB_IMAGES images of the dataset's train split, spread evenly over the
sorted list exactly as the engine's `--calib` picks them (index i * n / count), each letterboxed
as official detect.py does (`letterbox(img0, img, stride)`, auto=True: the smallest stride
multiple rectangle, 640x480 for BCCD at 640), BGR -> RGB, /255, NCHW float32.

Caching: files are named by the checkpoint's content hash, and the int8 ones also by a hash of
the calibration set (files, size, count) and the quantizer settings; a sidecar .json keeps the
settings and how long quantization took (reported again when the cached file is reused).
"""
import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / 'shared'
CALIB_IMAGES = 32
RAW_OUTPUTS = ['head_p3', 'head_p4', 'head_p5']

# ONNX Runtime int8 settings. Activations u8 (asymmetric): after LeakyReLU / SiLU most of each map
# is >= 0, so an asymmetric u8 grid spends its 256 levels on the values that occur, and u8 x s8 is
# what x86 int8 kernels multiply (VNNI vpdpbusd). Weights s8 symmetric per output channel (the
# zero point is 0, so no correction term per filter). On CPUs without VNNI, u8 x s8 through
# vpmaddubsw can saturate (ORT's reduce_range exists for that); this machine has VNNI.
# Calibration method and head exclusion were chosen by BCCD test mAP@0.5:0.95 at 640 (FP32 0.5493;
# tools/README.md, "int8 peers"): with the Detect head's three output convs quantized, ORT's QDQ
# also quantizes their outputs, the raw logits, to u8 (0.5410 with MinMax); kept in FP32 they give
# 0.5498 (MinMax) / 0.5504 (Percentile, no clear gain, 3x the calibration time). So MinMax, head
# excluded (NNCF leaves conv outputs in FP32 anyway: it quantizes inputs and weights only).
ORT_CALIBRATION = 'minmax'
ORT_EXCLUDE_HEAD = True


def official_package_dir():
    import models
    return Path(models.__file__).resolve().parent.parent


def file_digest(path, n=12):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()[:n]


def key_digest(obj, n=10):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


# ---------------------------------------------------------------- checkpoints and exports
def random_checkpoint(cfg_rel, path, seed=0):
    """An official yolov7 model with the official default init, saved as train.py's
    strip_optimizer leaves it (FP16 model object)."""
    import torch
    from models.yolo import Model
    torch.manual_seed(seed)
    model = Model(str(official_package_dir() / 'cfg' / cfg_rel), ch=3, nc=80)
    model.names = [f'class{i}' for i in range(80)]
    model.eval().half()
    for p in model.parameters():
        p.requires_grad = False
    torch.save({'epoch': -1, 'best_fitness': None, 'training_results': None, 'model': model,
                'ema': None, 'updates': None, 'optimizer': None, 'wandb_id': None}, path)


def checkpoint(name, workdir):
    """The .pt behind a model name: tiny-bccd, yolov7 (random init, made once), or a path."""
    if name == 'tiny-bccd':
        return SHARED / 'weights' / 'yolov7-tiny-bccd.pt'
    if name == 'yolov7':
        pt = Path(workdir) / 'yolov7-random.pt'
        if not pt.exists():
            Path(workdir).mkdir(parents=True, exist_ok=True)
            random_checkpoint('training/yolov7.yaml', pt)
        return pt
    return Path(name)


def load_official(pt):
    from models.experimental import attempt_load
    return attempt_load(str(pt), map_location='cpu')  # FP32, fused, eval


def head(model):
    """The official Detect / IDetect module of a loaded model."""
    return model.model[-1]


def export_grid_onnx(pt, onnx_path, img, batch):
    import torch
    model = load_official(pt)
    head(model).export = False   # keep the grid decoding (official export.py --grid)
    head(model).concat = True
    x = torch.zeros(batch, 3, img, img)
    with torch.no_grad():
        model(x)  # dry run: builds the grids
        torch.onnx.export(model, x, str(onnx_path), opset_version=12, input_names=['images'],
                          output_names=['output'])


def export_raw_onnx(pt, onnx_path):
    import torch
    model = load_official(pt)
    head(model).export = True    # official flag: return the three head maps, no sigmoid or grid
    x = torch.zeros(1, 3, 640, 640)
    axes = {'images': {0: 'batch', 2: 'height', 3: 'width'}}
    for i, name in enumerate(RAW_OUTPUTS):
        axes[name] = {0: 'batch', 2: f'ny{i}', 3: f'nx{i}'}
    with torch.no_grad():
        torch.onnx.export(model, x, str(onnx_path), opset_version=13, input_names=['images'],
                          output_names=RAW_OUTPUTS, dynamic_axes=axes)


# ---------------------------------------------------------------- calibration set
def calibration_files(data_dir, count=CALIB_IMAGES):
    exts = {'.jpg', '.jpeg', '.png', '.bmp'}
    train = Path(data_dir) / 'images' / 'train'
    files = sorted(str(p) for p in train.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise SystemExit(f'{train}: no calibration images')
    n = min(count, len(files))
    return [files[i * len(files) // n] for i in range(n)]


def letterboxed_input(path, img, stride):
    """One image as official detect.py feeds it: letterbox (auto), RGB, /255, [1, 3, H, W] float32."""
    import cv2
    import numpy as np
    from utils.datasets import letterbox
    im0 = cv2.imread(str(path))
    if im0 is None:
        raise SystemExit(f'{path}: not a readable image')
    im = letterbox(im0, img, stride=stride)[0]
    im = np.ascontiguousarray(im[:, :, ::-1].transpose(2, 0, 1))
    return (im.astype(np.float32) / 255.0)[None]


def calibration_inputs(files, img, stride):
    return [letterboxed_input(f, img, stride) for f in files]


# ---------------------------------------------------------------- int8 quantizers
def head_nodes(onnx_model):
    """The nodes from each raw output back to its conv (Transpose <- Reshape <- Conv): the Detect
    head's three output convs and their reshapes."""
    producers = {o: n for n in onnx_model.graph.node for o in n.output}
    names = []
    for out in onnx_model.graph.output:
        node = producers.get(out.name)
        while node is not None:
            names.append(node.name)
            if node.op_type == 'Conv':
                break
            node = producers.get(node.input[0])
    return names


@contextlib.contextmanager
def scratch_cwd():
    """The quantizers write temporary files (shape-inference models, external data) into the
    working directory, and leave them there when they fail: give them a folder of their own."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix='peer_quant_') as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(old)


def quantize_ort(raw_onnx, out_path, inputs, method=ORT_CALIBRATION, exclude_head=ORT_EXCLUDE_HEAD):
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(inputs)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {'images': x}

    raw_onnx, out_path = Path(raw_onnx).resolve(), Path(out_path).resolve()
    pre = Path(str(out_path) + '.pre.onnx')
    # ORT's recommended pre-processing (its basic graph optimisations, ONNX shape inference); its
    # symbolic shape inference gives up on the dynamic height/width ("Incomplete symbolic shape
    # inference"), and ONNX's own inference is enough for quantization.
    with scratch_cwd():
        quant_pre_process(str(raw_onnx), str(pre), skip_symbolic_shape=True)
    methods = {'minmax': CalibrationMethod.MinMax, 'percentile': CalibrationMethod.Percentile,
               'entropy': CalibrationMethod.Entropy}
    exclude = head_nodes(onnx.load(str(pre))) if exclude_head else []
    with scratch_cwd():
        quantize_static(str(pre), str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], nodes_to_exclude=exclude)
    pre.unlink()
    return {'format': 'QDQ', 'opset': 13, 'per_channel': True, 'activations': 'u8 asymmetric per tensor',
            'weights': 's8 symmetric per channel', 'calibration': method, 'excluded_nodes': exclude}


def check_nncf():
    """nncf 2.14 imports openvino.runtime, which OpenVINO 2026 no longer has."""
    import nncf
    import openvino as ov
    try:
        from nncf.common.utils.backend import BackendType, get_backend
        get_backend(ov.Model([], []))
    except Exception as e:  # the version mismatch shows here, before any work
        raise SystemExit(f'nncf {nncf.__version__} does not work with openvino {ov.__version__} ({type(e).__name__}); '
                         'install nncf 2.19.0 (tools/README.md, "int8 peers")') from None
    return nncf


def quantize_openvino(raw_onnx, out_xml, inputs):
    nncf = check_nncf()
    import openvino as ov
    model = ov.Core().read_model(str(raw_onnx))
    # Default model type: ModelType.TRANSFORMER is for attention models (it keeps MatMul/Softmax
    # patterns and SmoothQuant-style handling); YOLO is a convolutional network.
    quantized = nncf.quantize(model, nncf.Dataset(inputs), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(inputs))
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return {'tool': f'nncf {nncf.__version__}', 'preset': 'MIXED (symmetric weights, asymmetric activations)',
            'model_type': 'default', 'subset_size': len(inputs)}


# ---------------------------------------------------------------- prepare everything asked for
def cached(path, make, settings):
    """Make `path` unless it exists; returns the sidecar (settings and seconds taken)."""
    side = Path(str(path) + '.json')
    if Path(path).exists() and side.exists():
        info = json.loads(side.read_text())
        info['cached'] = True
        return info
    t0 = time.perf_counter()
    info = dict(settings, **(make() or {}))
    info['seconds'] = round(time.perf_counter() - t0, 1)
    side.write_text(json.dumps(info, indent=1))
    info['cached'] = False
    return info


def prepare(name, workdir, img, batch, want=('grid',), data=None, ort_method=ORT_CALIBRATION,
            ort_exclude_head=ORT_EXCLUDE_HEAD):
    """Paths of the models in `want` (grid, raw, ort-int8, openvino-int8) for model `name`, made
    when missing, and the quantizers' sidecars (settings, seconds, cached or not)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pt = checkpoint(name, workdir)
    stem = f'{pt.stem}-{file_digest(pt)}'
    out = {'pt': str(pt), 'quantization': {}}
    if 'grid' in want:
        p = workdir / f'{stem}-{img}-b{batch}-grid.onnx'
        if not p.exists():
            export_grid_onnx(pt, p, img, batch)
        out['grid'] = str(p)
    int8 = [w for w in want if w.endswith('-int8')]
    if 'raw' in want or int8:
        p = workdir / f'{stem}-raw-op13.onnx'
        if not p.exists():
            export_raw_onnx(pt, p)
        out['raw'] = str(p)
    if int8:
        data = Path(data or SHARED / 'datasets' / 'bccd')
        files = calibration_files(data)
        stride = int(max(load_official(pt).stride))
        calib = {'images': [Path(f).name for f in files], 'count': len(files), 'img': img, 'stride': stride,
                 'letterbox': 'detect.py auto'}
        inputs = []

        def load_inputs():
            if not inputs:
                inputs.extend(calibration_inputs(files, img, stride))
            return inputs
        settings = {'calibration_data': str(data), 'calibration_images': len(files), 'img': img}
        if 'ort-int8' in want:
            q = {'method': ort_method, 'exclude_head': ort_exclude_head}
            p = workdir / f'{stem}-ort-int8-{key_digest([calib, q])}.onnx'
            out['quantization']['ort-int8'] = cached(
                p, lambda: quantize_ort(out['raw'], p, load_inputs(), ort_method, ort_exclude_head), settings)
            out['ort-int8'] = str(p)
        if 'openvino-int8' in want:
            p = workdir / f'{stem}-openvino-int8-{key_digest([calib, "nncf MIXED"])}.xml'
            out['quantization']['openvino-int8'] = cached(
                p, lambda: quantize_openvino(out['raw'], p, load_inputs()), settings)
            out['openvino-int8'] = str(p)
    return out
