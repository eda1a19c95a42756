#!/usr/bin/env python3
"""mAP@0.5 and mAP@0.5:0.95 of every runtime on a dataset split, through the official test.py.

One harness for all runtimes, so their figures differ only by what each runtime computes:
  - The official `test.test()` itself runs the evaluation (imported from the venv's
    yolov7-wky-package, python_scripts/test.py), called as train.py calls it, with a dataloader
    made as test.py makes its own: `create_dataloader(split, img, batch 1, stride, opt, pad=0.5,
    rect=True)` (rect letterbox per image), conf 0.001, IoU 0.65, the official multi-label
    `non_max_suppression`, matching and `ap_per_class`. Nothing of the protocol is re-written here.
  - The "model" test() calls is a thin module: it hands the letterboxed image to the runtime,
    which returns the three raw head maps of the dynamic-shape raw model (tools/peer_models.py:
    no grid decode in any graph), and decodes them with the official Detect module's own forward
    (a copy of the checkpoint's Detect/IDetect whose three output convs are replaced by identities,
    since the runtime already ran them): sigmoid, grid, anchors and strides exactly as PyTorch
    does, identically for every runtime. So the int8 peers' decode is never quantized.
  - Runtimes: torch (the official model, FP32, the Detect's `export` flag set), ort (FP32),
    ort-int8, openvino (f32 hint), openvino-default (OpenVINO's own precision: bf16 on AVX-512
    BF16 CPUs), openvino-int8 (NNCF). Each runs in its own process.
  - The engine's rows run `yolov7 eval --weights W --data D --split S --img N --json F [ARGS]`
    (the engine's eval reproduces test.py: tools/make_eval_reference.py) and read its JSON. ARGS
    are the same extra flags its benchmark row gets (e.g. `--precision int8 --calib DIR`).

Check of the harness: torch through it reproduces the official test.py figures of
Tests/Fixtures/detect/official_eval.json (tiny-bccd, BCCD test, 416 and 640) exactly; printed as
"official test.py" beside the table when that fixture applies.

Usage (repository root):
  .venv/bin/python tools/peer_accuracy.py                                   # tiny-bccd, BCCD test, 640, every runtime
  .venv/bin/python tools/peer_accuracy.py --runtimes torch,ort,openvino --img 416
  .venv/bin/python tools/peer_accuracy.py --runtimes engine-int8 --engine-int8 Q.safetensors \\
      --engine-args "--precision int8 --calib ../shared/datasets/bccd"
Time: about 20-60 s per runtime at 640 on 2 busy cores (72 images), plus the one-off exports
and int8 quantizations (cached in --workdir, shared with tools/bench_peers.py).
"""
import argparse
import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_models  # noqa: E402
from official_test_hooks import PerClassCapture, official_test_module  # noqa: E402

ROOT = peer_models.ROOT
SHARED = peer_models.SHARED
PEER_RUNTIMES = ['torch', 'ort', 'ort-int8', 'openvino', 'openvino-default', 'openvino-int8']
ENGINE_RUNTIMES = ['engine', 'engine-int8']
REFERENCE = ROOT / 'Tests' / 'Fixtures' / 'detect' / 'official_eval.json'


# ---------------------------------------------------------------- the runtimes (raw head maps)
def raw_runner(runtime, files, threads):
    """A function: letterboxed [1, 3, H, W] float32 array -> the three raw head maps."""
    import numpy as np
    if runtime == 'torch':
        import torch
        torch.set_num_threads(threads)
        model = peer_models.load_official(files['pt'])
        peer_models.head(model).export = True

        def run(x):
            with torch.no_grad():
                return model(torch.from_numpy(x))
        return run
    if runtime.startswith('ort'):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(files['ort-int8' if runtime == 'ort-int8' else 'raw'], so,
                                    providers=['CPUExecutionProvider'])
        return lambda x: sess.run(peer_models.RAW_OUTPUTS, {'images': np.ascontiguousarray(x)})
    if runtime.startswith('openvino'):
        import openvino as ov
        config = {'INFERENCE_NUM_THREADS': threads, 'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1}
        if runtime == 'openvino':
            config['INFERENCE_PRECISION_HINT'] = 'f32'
        compiled = ov.Core().compile_model(files['openvino-int8' if runtime == 'openvino-int8' else 'raw'], 'CPU', config)
        request = compiled.create_infer_request()
        outputs = [compiled.output(name) for name in peer_models.RAW_OUTPUTS]

        def run(x):
            res = request.infer({0: x})
            return [res[o] for o in outputs]
        return run
    raise ValueError(f'unknown runtime {runtime}')


def official_decoder(detect):
    """The checkpoint's Detect/IDetect, its output convs replaced by identities: called on the
    raw maps put back in conv layout, its own forward does the sigmoid, grid and anchor decode."""
    import torch
    d = copy.deepcopy(detect)
    d.m = torch.nn.ModuleList(torch.nn.Identity() for _ in d.m)
    d.export, d.concat, d.end2end, d.include_nms = False, False, False, False
    # IDetect's plain forward applies ImplicitA/M around the conv; the fused one (attempt_load
    # fuses, folding them into the conv the runtime ran) does not.
    d.forward = types.MethodType(getattr(type(d), 'fuseforward', type(d).forward), d)
    d.eval()

    def decode(maps):
        xs = []
        for m in maps:
            m = m if isinstance(m, torch.Tensor) else torch.from_numpy(m)
            bs, na, ny, nx, no = m.shape   # [bs, anchors, ny, nx, 5 + nc] -> [bs, anchors * (5 + nc), ny, nx]
            xs.append(m.permute(0, 1, 4, 2, 3).reshape(bs, na * no, ny, nx))
        with torch.no_grad():
            return d(xs)
    return decode


def runtime_model(runtime, files, threads):
    """What official test() calls: model(img, augment) -> (decoded predictions, raw maps)."""
    import torch

    class RuntimeModel(torch.nn.Module):
        def __init__(self, run, decode, names):
            super().__init__()
            self.device_marker = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # test() reads the device
            self.run, self.decode, self.names = run, decode, names

        def forward(self, img, augment=False):
            return self.decode(self.run(img.numpy()))

    official = peer_models.load_official(files['pt'])
    names = official.names if hasattr(official, 'names') else official.module.names
    stride = int(max(official.stride))
    return RuntimeModel(raw_runner(runtime, files, threads), official_decoder(peer_models.head(official)), names), stride


# ---------------------------------------------------------------- the official test loop
def dataset_names(data_dir):
    import yaml
    cfg = Path(data_dir) / 'data.yaml'
    return list(yaml.safe_load(cfg.read_text())['names']) if cfg.exists() else None


def official_eval(model, stride, data_dir, split, img):
    """official test.test() on `split` of the dataset folder, batch 1, conf 0.001, IoU 0.65."""
    import torch
    from utils.datasets import create_dataloader
    from utils.general import check_img_size
    official_test = official_test_module()
    if not sys.stderr.isatty():   # quiet when piped; test() wraps its loader in tqdm
        official_test.tqdm = lambda it, *a, **k: it
    capture = PerClassCapture(official_test)
    names = dataset_names(data_dir) or list(model.names)
    with tempfile.TemporaryDirectory(prefix='peer_accuracy_') as tmp:
        tmp = Path(tmp)
        # The official loader writes a labels .cache next to the labels: work on a copy.
        for sub in ('images', 'labels'):
            shutil.copytree(Path(data_dir) / sub / split, tmp / 'data' / sub / split)
        split_dir = str(tmp / 'data' / 'images' / split)
        data = {'train': split_dir, 'val': split_dir, 'test': split_dir, 'nc': len(names), 'names': names}
        gs = max(stride, 32)
        imgsz = check_img_size(img, s=gs)
        opt = argparse.Namespace(single_cls=False)
        loader = create_dataloader(split_dir, imgsz, 1, gs, opt, pad=0.5, rect=True, prefix=f'{split}: ')[0]
        t0 = time.perf_counter()
        with torch.no_grad():
            (mp, mr, map50, map5095, *_), _, _ = official_test.test(
                data, batch_size=1, imgsz=imgsz, conf_thres=0.001, iou_thres=0.65, save_json=False,
                single_cls=False, augment=False, verbose=False, model=model, dataloader=loader,
                save_dir=tmp, plots=False, half_precision=False, v5_metric=False)
        seconds = time.perf_counter() - t0
        n_images = len(loader.dataset)
    per_class, n_labels = [], 0
    if capture.calls:   # test() skips ap_per_class when nothing was detected
        per_class, nt = capture.per_class(names)
        n_labels = int(nt.sum())
    return {'mAP50': float(map50), 'mAP50_95': float(map5095), 'precision': float(mp), 'recall': float(mr),
            'images': n_images, 'labels': n_labels, 'per_class': per_class, 'seconds': round(seconds, 1)}


def evaluate_peer(runtime, files, data_dir, split, img, threads):
    """In this process: one peer runtime through the official test loop."""
    model, stride = runtime_model(runtime, files, threads)
    return official_eval(model, stride, data_dir, split, img)


def evaluate_peer_in_subprocess(runtime, files, data_dir, split, img, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, '--one', runtime, '--files', json.dumps(files), '--data', str(data_dir),
           '--split', split, '--img', str(img), '--threads', str(threads)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if sys.stderr.isatty() else subprocess.PIPE,
                         text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        tail = (out.stderr or '').strip().splitlines()[-1:]
        raise RuntimeError(f'accuracy of {runtime} failed: {tail}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_eval(engine, weights, data_dir, split, img, extra_args=()):
    """`yolov7 eval` on the same split and size; its JSON in the harness's form."""
    fd, report = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    cmd = [str(engine), 'eval', '--weights', str(weights), '--data', str(data_dir), '--split', split,
           '--img', str(img), '--json', report, *extra_args]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f'{shlex.join(cmd)} failed: {out.stderr.strip()}')
        data = json.loads(Path(report).read_text())
    finally:
        os.unlink(report)
    keep = ('mAP50', 'mAP50_95', 'precision', 'recall', 'images', 'labels', 'per_class')
    res = {k: data[k] for k in keep if k in data}
    res['seconds'] = round(time.perf_counter() - t0, 1)
    res['command'] = shlex.join(cmd[:cmd.index('--json')] + cmd[cmd.index('--json') + 2:])
    return res


def official_reference(model_name, data_dir, split, img):
    """The official test.py figures of the committed fixture, when they describe this run."""
    if model_name != 'tiny-bccd' or split != 'test' or Path(data_dir).resolve() != (SHARED / 'datasets' / 'bccd').resolve():
        return None
    if not REFERENCE.exists():
        return None
    return json.loads(REFERENCE.read_text()).get(str(img))


# ---------------------------------------------------------------- command line
def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='tiny-bccd', help='tiny-bccd or an official .pt file')
    ap.add_argument('--data', default=str(SHARED / 'datasets' / 'bccd'),
                    help='dataset folder (images/<split>, labels/<split>, data.yaml); its train split calibrates the int8 peers')
    ap.add_argument('--split', default='test')
    ap.add_argument('--img', type=int, default=640)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--runtimes', default=','.join(['engine'] + PEER_RUNTIMES),
                    help='comma list of ' + ', '.join(ENGINE_RUNTIMES + PEER_RUNTIMES))
    ap.add_argument('--engine', default=str(ROOT / '.build' / 'release' / 'yolov7'))
    ap.add_argument('--engine-int8', metavar='FILE', help='weights for the engine-int8 row (e.g. a calibrated 4-bit file)')
    ap.add_argument('--engine-args', default='--precision int8',
                    help='extra `yolov7 eval` flags of the engine-int8 row (default: %(default)s; eval calibrates on '
                         "--data's train split when the file holds no ranges and no --calib is given)")
    ap.add_argument('--ort-calibration', choices=['minmax', 'percentile', 'entropy'], default=peer_models.ORT_CALIBRATION,
                    help='ort-int8: calibration method (default: %(default)s, the best measured)')
    ap.add_argument('--ort-exclude-head', action=argparse.BooleanOptionalAction, default=peer_models.ORT_EXCLUDE_HEAD,
                    help="ort-int8: keep the Detect head's three output convs in FP32 (default: %(default)s, the best measured)")
    ap.add_argument('--workdir', default=os.path.join(tempfile.gettempdir(), 'yolov7-peers'))
    ap.add_argument('--json', help='write all figures to this file')
    ap.add_argument('--one', choices=PEER_RUNTIMES, help=argparse.SUPPRESS)
    ap.add_argument('--files', help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(peer_models.official_package_dir()))
    if args.one:
        res = evaluate_peer(args.one, json.loads(args.files), args.data, args.split, args.img, args.threads)
        print(json.dumps(res))
        return
    runtimes = [r for r in args.runtimes.split(',') if r]
    unknown = [r for r in runtimes if r not in ENGINE_RUNTIMES + PEER_RUNTIMES]
    if unknown:
        sys.exit(f'--runtimes: unknown {", ".join(unknown)}')
    if any(r.startswith('engine') for r in runtimes) and not Path(args.engine).exists():
        sys.exit(f'{args.engine}: no engine binary; build it (swift build -c release) or pass --engine')
    if 'engine-int8' in runtimes and not args.engine_int8:
        sys.exit('--runtimes engine-int8 needs --engine-int8 FILE')
    want = ['raw'] + [r for r in runtimes if r.endswith('-int8') and not r.startswith('engine')]
    files = peer_models.prepare(args.model, args.workdir, args.img, 1, want, data=args.data,
                                ort_method=args.ort_calibration, ort_exclude_head=args.ort_exclude_head)
    for peer, info in files['quantization'].items():
        print(f'{peer}: quantized in {info["seconds"]} s' + (' (cached)' if info['cached'] else ''), flush=True)
    results = {}
    for r in runtimes:
        if r == 'engine':
            results[r] = engine_eval(args.engine, files['pt'], args.data, args.split, args.img)
        elif r == 'engine-int8':
            results[r] = engine_eval(args.engine, args.engine_int8, args.data, args.split, args.img,
                                     shlex.split(args.engine_args))
        else:
            results[r] = evaluate_peer_in_subprocess(r, files, args.data, args.split, args.img, args.threads)
        res = results[r]
        print(f'{r:18s} mAP@0.5 {res["mAP50"]:.6f}  mAP@0.5:0.95 {res["mAP50_95"]:.6f}  '
              f'P {res["precision"]:.4f}  R {res["recall"]:.4f}  ({res["seconds"]} s)', flush=True)
    ref = official_reference(args.model, args.data, args.split, args.img)
    if ref:
        print(f'{"official test.py":18s} mAP@0.5 {ref["mAP50"]:.6f}  mAP@0.5:0.95 {ref["mAP50_95"]:.6f}  '
              f'P {ref["precision"]:.4f}  R {ref["recall"]:.4f}  ({REFERENCE.relative_to(ROOT)})')
    if args.json:
        Path(args.json).write_text(json.dumps({'model': args.model, 'data': args.data, 'split': args.split,
                                               'img': args.img, 'results': results,
                                               'quantization': files['quantization'], 'official': ref}, indent=1))


if __name__ == '__main__':
    main()
