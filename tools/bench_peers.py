#!/usr/bin/env python3
"""Time `yolov7 bench` against ONNX Runtime, OpenVINO and PyTorch eager on the same model.

What it does, for each model asked for (--models):
  1. the official checkpoint: yolov7-tiny-bccd from ../shared/weights, or for `yolov7` a
     random-init official yolov7 (cfg/training/yolov7.yaml, full width, official default init)
     saved in the official checkpoint format under --workdir (speed does not depend on values);
  2. ONNX export with the official code: `attempt_load` (FP32, Conv+BN and RepConv fused,
     ImplicitA/M folded) and `torch.onnx.export`, opset 12, grid decoding included
     (as the official export.py --grid), so every runtime computes what `yolov7 bench` does;
  3. rounds: each runtime in its own fresh process (so peak RSS is its own), the order rotated
     every round; each process loads, warms up, then times --runs forward passes of one
     [batch, 3, img, img] input. Medians are over all timed runs of all rounds.

Everything runs FP32, batch 1 by default, the same --threads for every runtime (ONNX Runtime
intra_op_num_threads, OpenVINO INFERENCE_NUM_THREADS with INFERENCE_PRECISION_HINT=f32,
torch.set_num_threads, `yolov7 bench --threads`). The machine's cores may be shared with other
work: compare the ratios printed here, measured in one run with alternating rounds, rather than
absolute times from different runs.

Usage (repository root, release build first: swift build -c release):
  .venv/bin/python tools/bench_peers.py                           # tiny-bccd and yolov7 at 640
  .venv/bin/python tools/bench_peers.py --models tiny-bccd --rounds 5 --runs 10
  .venv/bin/python tools/bench_peers.py --engine .build-perf/release/yolov7 --json peers.json
  .venv/bin/python tools/bench_peers.py --packed affine/4/filter   # also the engine on a 4-bit packed file
  .venv/bin/python tools/bench_peers.py --packed affine/4/filter --packed-precision int8  # ... with int8 activations
Takes about 3-5 minutes with the defaults on a 2-core machine (most of it yolov7 under PyTorch).
Needs: torch 2.5.1, onnx, onnxruntime, yolov7-wky-package (tools/README.md); openvino is
optional (`.venv/bin/pip install openvino`), skipped with a note when missing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / 'shared'
PEERS = ['ort', 'openvino', 'openvino-default', 'torch']
LABEL = {'engine': 'yolov7 bench', 'packed': 'engine packed', 'ort': 'ONNX Runtime', 'openvino': 'OpenVINO f32',
         'openvino-default': 'OpenVINO default', 'torch': 'PyTorch eager'}


def official_package_dir():
    import models
    return Path(models.__file__).resolve().parent.parent


# ---------------------------------------------------------------- model preparation
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


def load_official(pt):
    from models.experimental import attempt_load
    model = attempt_load(str(pt), map_location='cpu')  # FP32, fused, eval
    return model


def export_onnx(pt, onnx_path, img, batch):
    import torch
    model = load_official(pt)
    model.model[-1].export = False   # keep the grid decoding (official export.py --grid)
    model.model[-1].concat = True
    x = torch.zeros(batch, 3, img, img)
    with torch.no_grad():
        model(x)  # dry run: builds the grids
        torch.onnx.export(model, x, str(onnx_path), opset_version=12, input_names=['images'],
                          output_names=['output'])


def prepare(name, workdir, img, batch):
    workdir.mkdir(parents=True, exist_ok=True)
    if name == 'tiny-bccd':
        pt = SHARED / 'weights' / 'yolov7-tiny-bccd.pt'
    elif name == 'yolov7':
        pt = workdir / 'yolov7-random.pt'
        if not pt.exists():
            random_checkpoint('training/yolov7.yaml', pt)
    else:
        pt = Path(name)
    onnx_path = workdir / f'{pt.stem}-{img}-b{batch}.onnx'
    if not onnx_path.exists() or onnx_path.stat().st_mtime < pt.stat().st_mtime:
        export_onnx(pt, onnx_path, img, batch)
    return pt, onnx_path


def prepare_in_subprocess(name, args):
    """Export in a child, so this (parent) process stays small: the workers' rusage would
    otherwise start from torch's footprint."""
    cmd = [sys.executable, __file__, '--prepare', name, '--img', str(args.img), '--batch', str(args.batch),
           '--workdir', args.workdir]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f'export of {name} failed: {out.stderr.strip()[-2000:]}')
    pt, onnx_path = json.loads(out.stdout.strip().splitlines()[-1])
    return Path(pt), Path(onnx_path)


# ---------------------------------------------------------------- workers (own process each)
def peak_rss_bytes():
    """VmHWM of /proc/self/status: this process's own peak. (getrusage's ru_maxrss is kept
    across fork+exec on Linux, so a child started by a big parent reports the parent's peak.)"""
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(args):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((args.batch, 3, args.img, args.img), dtype=np.float32)
    if args.worker == 'ort':
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(args.onnx, so, providers=['CPUExecutionProvider'])
        name = sess.get_inputs()[0].name
        run = lambda: sess.run(None, {name: x})
        version = ort.__version__
    elif args.worker in ('openvino', 'openvino-default'):
        # 'openvino' pins FP32; 'openvino-default' leaves OpenVINO its own precision (bf16 on
        # CPUs with AVX-512 BF16, such as this Zen 4).
        import openvino as ov
        core = ov.Core()
        config = {'INFERENCE_NUM_THREADS': args.threads, 'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1}
        if args.worker == 'openvino':
            config['INFERENCE_PRECISION_HINT'] = 'f32'
        compiled = core.compile_model(args.onnx, 'CPU', config)
        request = compiled.create_infer_request()
        run = lambda: request.infer({0: x})
        version = f"{ov.__version__} {compiled.get_property('INFERENCE_PRECISION_HINT')}"
    else:
        import torch
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        model = load_official(args.pt)
        t = torch.from_numpy(x)

        def run():
            with torch.inference_mode():
                return model(t)[0]
        version = torch.__version__
    for _ in range(args.warmup):
        run()
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'times_ms': times, 'peak_rss_bytes': peak_rss_bytes(), 'version': version}))


def run_peer(peer, pt, onnx_path, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, __file__, '--worker', peer, '--pt', str(pt), '--onnx', str(onnx_path),
           '--img', str(args.img), '--batch', str(args.batch), '--threads', str(args.threads),
           '--runs', str(args.runs), '--warmup', str(args.warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f'{peer} failed: {out.stderr.strip().splitlines()[-1:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_engine(pt, args, precision='fp32'):
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
        report = f.name
    cmd = [args.engine, 'bench', '--weights', str(pt), '--img', str(args.img), '--batch', str(args.batch),
           '--threads', str(args.threads), '--runs', str(args.runs), '--warmup', str(args.warmup),
           '--json', report]
    if precision != 'fp32':
        # Activation ranges from train images only (calibration is before the timed runs).
        cmd += ['--precision', precision, '--calib', args.calib]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f'engine failed: {out.stderr.strip()}')
    data = json.loads(Path(report).read_text())
    os.unlink(report)
    return {'times_ms': data['times_ms'], 'peak_rss_bytes': data['peak_rss_bytes'],
            'version': data.get('blas_core', '')}


def quantize_packed(pt, recipe, args):
    """The same weights as a packed low-bit file made by the engine (`yolov7 quantize`)."""
    scheme, bits, granularity = recipe.split('/')
    out = Path(args.workdir) / f'{pt.stem}-{scheme}{bits}-{granularity}.safetensors'
    cmd = [args.engine, 'quantize', '--weights', str(pt), '--scheme', scheme, '--bits', bits,
           '--granularity', granularity, '--out', str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f'quantize failed: {res.stderr.strip()}')
    return out


def bench_model(name, args):
    print(f'\n== {name} at {args.img}x{args.img}, batch {args.batch}, {args.threads} threads ==', flush=True)
    pt, onnx_path = prepare_in_subprocess(name, args)
    packed = quantize_packed(pt, args.packed, args) if args.packed else None
    peers = [p for p in args.peers.split(',') if p]
    if any(p.startswith('openvino') for p in peers):
        try:
            import openvino  # noqa: F401
        except ImportError:
            print('  OpenVINO not installed: skipped (.venv/bin/pip install openvino)')
            peers = [p for p in peers if not p.startswith('openvino')]
    contenders = ['engine'] + (['packed'] if packed else []) + peers
    results = {c: {'times_ms': [], 'peak_rss_bytes': [], 'version': ''} for c in contenders}
    for r in range(args.rounds):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for c in order:
            if c in ('engine', 'packed'):
                res = run_engine(pt, args) if c == 'engine' else run_engine(packed, args, args.packed_precision)
            else:
                res = run_peer(c, pt, onnx_path, args)
            results[c]['times_ms'] += res['times_ms']
            results[c]['peak_rss_bytes'].append(res['peak_rss_bytes'])
            results[c]['version'] = res['version']
            print(f'  round {r + 1}: {LABEL[c]:14s} median {statistics.median(res["times_ms"]):8.1f} ms', flush=True)
    summary = {}
    engine_median = statistics.median(results['engine']['times_ms'])
    print(f'\n  {"runtime":16s} {"median ms":>10s} {"p90 ms":>9s} {"peak RSS":>10s}  engine/peer')
    for c in contenders:
        t = sorted(results[c]['times_ms'])
        med = statistics.median(t)
        p90 = t[min(len(t) - 1, int(0.9 * len(t) + 0.999) - 1)]
        rss = max(results[c]['peak_rss_bytes'])
        ratio = engine_median / med
        summary[c] = {'median_ms': med, 'p90_ms': p90, 'peak_rss_bytes': rss, 'runs': len(t),
                      'engine_over_peer': ratio, 'version': results[c]['version']}
        print(f'  {LABEL[c]:16s} {med:10.1f} {p90:9.1f} {rss / 2**20:8.0f} MiB  '
              + ('' if c in ('engine', 'packed') else f'{ratio:.3f}'))
    if packed:
        ratio = summary['packed']['median_ms'] / engine_median
        summary['packed']['recipe'] = args.packed
        summary['packed']['precision'] = args.packed_precision
        summary['packed']['packed_over_fp32'] = ratio
        print(f'  packed {args.packed} ({args.packed_precision} activations) / FP32 engine latency: {ratio:.3f} '
              f'(peak RSS {summary["packed"]["peak_rss_bytes"] / 2**20:.0f} vs '
              f'{summary["engine"]["peak_rss_bytes"] / 2**20:.0f} MiB)')
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default='tiny-bccd,yolov7',
                    help='comma list: tiny-bccd, yolov7 (random-init official), or paths to official .pt files')
    ap.add_argument('--img', type=int, default=640)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--runs', type=int, default=8, help='timed runs per round and runtime')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--peers', default=','.join(PEERS), help='comma list of ort, openvino (FP32), openvino-default (its own precision), torch')
    ap.add_argument('--engine', default=str(ROOT / '.build' / 'release' / 'yolov7'))
    ap.add_argument('--packed', metavar='SCHEME/BITS/GRANULARITY',
                    help='also time the engine on the weights quantized and packed this way (e.g. affine/4/filter)')
    ap.add_argument('--packed-precision', choices=['fp32', 'int8'], default='fp32',
                    help='activations of the packed run: int8 runs `yolov7 bench --precision int8` (AVX-512 VNNI)')
    ap.add_argument('--calib', default=str(SHARED / 'datasets' / 'bccd'),
                    help='calibration images for --packed-precision int8 (a dataset: its train split)')
    ap.add_argument('--workdir', default=os.path.join(tempfile.gettempdir(), 'yolov7-peers'))
    ap.add_argument('--json', help='write all figures to this file')
    # internal: one runtime in its own process
    ap.add_argument('--worker', choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument('--pt', help=argparse.SUPPRESS)
    ap.add_argument('--onnx', help=argparse.SUPPRESS)
    ap.add_argument('--prepare', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.prepare:
        sys.path.insert(0, str(official_package_dir()))
        pt, onnx_path = prepare(args.prepare, Path(args.workdir), args.img, args.batch)
        print(json.dumps([str(pt), str(onnx_path)]))
        return
    if not Path(args.engine).exists():
        sys.exit(f'{args.engine}: no engine binary; build it (swift build -c release) or pass --engine')
    out = {}
    for name in [m for m in args.models.split(',') if m]:
        out[name] = bench_model(name, args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == '__main__':
    main()
