#!/usr/bin/env python3
"""Time `yolov7 bench` against ONNX Runtime, OpenVINO and PyTorch, FP32 and int8, with each one's mAP.

What it does, for each model asked for (--models):
  1. the official checkpoint: yolov7-tiny-bccd from ../shared/weights, or for `yolov7` a
     random-init official yolov7 (cfg/training/yolov7.yaml, full width, official default init)
     saved in the official checkpoint format under --workdir (speed does not depend on values);
  2. the peers' models (tools/peer_models.py, cached in --workdir): for the FP32 peers an ONNX
     export with the official code (`attempt_load`: FP32, Conv+BN and RepConv fused, ImplicitA/M
     folded), opset 12, static shape, grid decoding included (official export.py --grid), so they
     compute what `yolov7 bench` does; for the int8 peers a dynamic-shape opset-13 export of the
     three raw head maps (no decode), quantized with 32 letterboxed train images of --calib:
       ort-int8       ONNX Runtime static quantization, QDQ, per-channel s8 weights, u8 activations;
       openvino-int8  NNCF post-training quantization, MIXED preset, compiled with OpenVINO's
                      default precision (its int8 kernels; what is left unquantized in bf16 here);
     they are timed on that same quantized model fed a fixed img x img input, so their time
     excludes the Detect decode (sigmoid, grid and anchors over every output value: elementwise,
     a small part of a pass), which the engine's and the FP32 peers' times include;
  3. the engine rows: `yolov7 bench` on the checkpoint (FP32), and optionally on a quantized file:
     --packed RECIPE makes one per model with `yolov7 quantize` (+ --quantize-args), timed with
     FP32 activations and/or int8 (--packed-precision); --engine-int8 FILE uses a given file.
     The int8 row's `yolov7 bench` and `yolov7 eval` both get --engine-args, so its speed and its
     mAP describe the same model and precision;
  4. rounds: each runtime in its own fresh process (so peak RSS is its own), the order rotated
     every round; each process loads, warms up, then times --runs forward passes of one
     [batch, 3, img, img] input. Medians and p90 are over all timed runs of all rounds;
  5. accuracy (unless --no-accuracy; models with data only, not the random-init yolov7): every
     row's mAP@0.5 and mAP@0.5:0.95 on --data's test split at --img through one harness,
     tools/peer_accuracy.py (the official test.py protocol: rect letterbox, batch 1, conf 0.001,
     IoU 0.65; the engine rows through `yolov7 eval`). FP32 peers are evaluated on the raw export
     of the same weights (rect inputs need dynamic shapes), decoded by the official Detect code;
  6. one table per model: runtime, precision, median and p90 ms, peak RSS, engine int8 / peer and
     engine FP32 / peer latency ratios, mAP@0.5, mAP@0.5:0.95; --json has all of it.

Every runtime gets the same --threads (ONNX Runtime intra_op_num_threads, OpenVINO
INFERENCE_NUM_THREADS with PERFORMANCE_HINT LATENCY and one stream, torch.set_num_threads,
`yolov7 bench --threads`). The machine's cores may be shared with other work: compare the ratios
printed here, measured in one run with alternating rounds, rather than absolute times of
different runs.

--hog: a memory-bandwidth hog (a C loop summing a 256 MiB array, compiled into --workdir with
cc) runs on its own core (--hog-cpu, default the last one) during the timed rounds, so every
runtime, alternating as usual with the same thread count and the same affinity, runs beside a
neighbour that loads memory. The hog's own read bandwidth is printed (alone before the rounds,
and its median during them) so runs can be compared. By default the runtimes keep every core
(on 2 cores one of their threads then shares the hog's core); --pin CPUS confines them
(`--hog --pin 0 --threads 1`: docs/PERFORMANCE.md's one-core experiment).

Usage (repository root, release build first: swift build -c release):
  .venv/bin/python tools/bench_peers.py                           # tiny-bccd and yolov7 at 640, all peers
  .venv/bin/python tools/bench_peers.py --models tiny-bccd --rounds 5 --runs 10
  .venv/bin/python tools/bench_peers.py --packed affine/4/filter --quantize-args "--keep first,detect --calib ../shared/datasets/bccd --img 640" \\
      --packed-precision fp32,int8            # + the engine on a calibrated 4-bit file, FP32 and int8 activations
  .venv/bin/python tools/bench_peers.py --models tiny-bccd --engine-int8 Q.safetensors --engine-args "--precision int8"
  .venv/bin/python tools/bench_peers.py --models tiny-bccd --peers ort-int8,openvino-int8 --hog --no-accuracy
Takes 10-20 minutes with the defaults on a 2-core machine (yolov7 under PyTorch, and one
accuracy pass per row for tiny-bccd); the int8 peers' quantization is done once and cached.
Needs: torch 2.5.1, onnx, onnxruntime (+ ml_dtypes for its quantizer), openvino, nncf 2.19.0,
yolov7-wky-package (tools/README.md); OpenVINO rows are skipped with a note when openvino is missing.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_accuracy  # noqa: E402
import peer_models  # noqa: E402

ROOT = peer_models.ROOT
SHARED = peer_models.SHARED
PEERS = ['ort', 'ort-int8', 'openvino', 'openvino-default', 'openvino-int8', 'torch']
ENGINES = ['engine', 'engine-packed', 'engine-int8']
LABEL = {'engine': 'yolov7 bench', 'engine-packed': 'engine packed', 'engine-int8': 'engine int8',
         'ort': 'ONNX Runtime', 'ort-int8': 'ORT int8', 'openvino': 'OpenVINO f32',
         'openvino-default': 'OpenVINO default', 'openvino-int8': 'OpenVINO int8', 'torch': 'PyTorch eager'}


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
    if args.worker in ('ort', 'ort-int8'):
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
    elif args.worker.startswith('openvino'):
        # 'openvino' pins FP32; 'openvino-default' and 'openvino-int8' leave OpenVINO its own
        # precision (bf16 for what is not int8, on CPUs with AVX-512 BF16).
        import openvino as ov
        core = ov.Core()
        config = {'INFERENCE_NUM_THREADS': args.threads, 'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1}
        if args.worker == 'openvino':
            config['INFERENCE_PRECISION_HINT'] = 'f32'
        model = core.read_model(args.onnx)
        if args.worker == 'openvino-int8':
            model.reshape([args.batch, 3, args.img, args.img])   # the dynamic raw model, static for timing
        compiled = core.compile_model(model, 'CPU', config)
        request = compiled.create_infer_request()
        run = lambda: request.infer({0: x})
        hint = compiled.get_property('INFERENCE_PRECISION_HINT')
        version = f"{ov.__version__.split('-')[0]} {getattr(hint, 'to_string', lambda: str(hint))()}"
    else:
        import torch
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        model = peer_models.load_official(args.pt)
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


def pinned(cpus):
    """preexec_fn confining a child to `cpus` (None: inherit)."""
    return None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))


def run_peer(peer, files, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    model = files['grid'] if peer in ('ort', 'openvino', 'openvino-default') else files.get(peer, '')
    cmd = [sys.executable, __file__, '--worker', peer, '--pt', files['pt'], '--onnx', model,
           '--img', str(args.img), '--batch', str(args.batch), '--threads', str(args.threads),
           '--runs', str(args.runs), '--warmup', str(args.warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, preexec_fn=pinned(args.pin))
    if out.returncode != 0:
        raise RuntimeError(f'{peer} failed: {out.stderr.strip().splitlines()[-1:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_engine(weights, extra, args):
    fd, report = tempfile.mkstemp(suffix='.json')
    os.close(fd)
    cmd = [args.engine, 'bench', '--weights', str(weights), '--img', str(args.img), '--batch', str(args.batch),
           '--threads', str(args.threads), '--runs', str(args.runs), '--warmup', str(args.warmup),
           '--json', report, *extra]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, preexec_fn=pinned(args.pin))
        if out.returncode != 0:
            raise RuntimeError(f'engine failed: {shlex.join(cmd)}: {out.stderr.strip()}')
        data = json.loads(Path(report).read_text())
    finally:
        os.unlink(report)
    return {'times_ms': data['times_ms'], 'peak_rss_bytes': data['peak_rss_bytes'],
            'version': data.get('blas_core', '')}


# ---------------------------------------------------------------- preparation
def prepare_in_subprocess(name, want, args):
    """Exports and int8 quantization in a child, so this (parent) process stays small: the
    workers' rusage would otherwise start from torch's footprint."""
    cmd = [sys.executable, __file__, '--prepare', name, '--want', ','.join(want), '--img', str(args.img),
           '--batch', str(args.batch), '--workdir', args.workdir, '--calib', args.calib]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if sys.stderr.isatty() else subprocess.PIPE,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f'preparing {name} failed: {(out.stderr or "").strip()[-2000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_stamp(engine):
    st = Path(engine).stat()
    return f'{st.st_size}-{int(st.st_mtime)}'


def quantize_packed(pt, args):
    """The same weights as a packed low-bit file made by the engine (`yolov7 quantize`), cached
    by checkpoint, recipe, extra flags and engine binary (whose file format may change)."""
    scheme, bits, granularity = args.packed.split('/')
    key = peer_models.key_digest([args.packed, args.quantize_args, engine_stamp(args.engine)])
    out = Path(args.workdir) / f'{Path(pt).stem}-{peer_models.file_digest(pt)}-{scheme}{bits}-{granularity}-{key}.safetensors'
    if out.exists():
        return out, None
    cmd = [args.engine, 'quantize', '--weights', str(pt), '--scheme', scheme, '--bits', bits,
           '--granularity', granularity, *shlex.split(args.quantize_args), '--out', str(out)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f'quantize failed: {shlex.join(cmd)}: {res.stderr.strip()}')
    return out, round(time.perf_counter() - t0, 1)


def engine_int8_file(name, args):
    """--engine-int8 FILE (one model) or MODEL=FILE,...; else the --packed file if int8 was asked."""
    if not args.engine_int8:
        return None
    pairs = [p.split('=', 1) for p in args.engine_int8.split(',') if p]
    if len(pairs) == 1 and len(pairs[0]) == 1:
        return pairs[0][0]
    return dict(p for p in pairs if len(p) == 2).get(name)


# ---------------------------------------------------------------- bandwidth hog
HOG_C = r'''
/* Memory-bandwidth hog for tools/bench_peers.py --hog: sums a big array forever (reads only, so
   it streams from DRAM), printing "bytes seconds" about every 0.5 s. Built with cc into the workdir. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    size_t n = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 17;   /* MiB -> 8-byte words */
    uint64_t *a = malloc(n * sizeof *a);
    if (!a) return 1;
    for (size_t i = 0; i < n; i++) a[i] = i;
    volatile uint64_t sink = 0;
    double t0 = now();
    uint64_t bytes = 0;
    for (;;) {
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) s += a[i];
        sink += s;
        bytes += n * sizeof *a;
        double t = now();
        if (t - t0 >= 0.5) { printf("%llu %.6f\n", (unsigned long long)bytes, t - t0); fflush(stdout); bytes = 0; t0 = t; }
    }
}
'''


class Hog:
    """The hog process, pinned to one CPU; collects its GB/s samples."""

    def __init__(self, workdir, cpu, mib=256):
        src = Path(workdir) / 'bandwidth_hog.c'
        exe = Path(workdir) / 'bandwidth_hog'
        if not src.exists() or src.read_text() != HOG_C or not exe.exists():
            src.write_text(HOG_C)
            res = subprocess.run(['cc', '-O2', '-march=native', '-o', str(exe), str(src)], capture_output=True, text=True)
            if res.returncode != 0:
                raise SystemExit(f'{src}: cc failed: {res.stderr.strip()}')
        self.cmd, self.cpu, self.samples, self.proc = [str(exe), str(mib)], cpu, [], None

    def start(self):
        self.samples = []
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True, preexec_fn=pinned({self.cpu}))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            b, s = line.split()
            self.samples.append(int(b) / float(s) / 1e9)

    def stop(self):
        """Stops the hog; the median GB/s of its samples after the first (the array's warm-up)."""
        self.proc.terminate()
        self.proc.wait()
        self.reader.join(timeout=2)
        s = self.samples[1:] or self.samples
        return statistics.median(s) if s else float('nan')


# ---------------------------------------------------------------- one model
def has_data(name):
    return name != 'yolov7'   # the random-init yolov7 detects nothing: no meaningful mAP


def precision_label(c, args, version):
    if c == 'engine':
        return 'fp32'
    if c == 'engine-packed':
        return f'{args.packed} weights, fp32 act'
    if c == 'engine-int8':
        return 'int8 act' + (f', {args.packed} weights' if args.packed and not args.engine_int8 else '')
    if c == 'ort-int8':
        return 'int8 QDQ u8/s8 per-ch'
    if c == 'openvino-int8':
        return 'int8 NNCF MIXED' + (f', rest {version.split()[-1]}' if version else '')
    if c == 'openvino-default':
        return version.split()[-1] if version else 'default'
    return 'fp32'


def bench_model(name, args):
    print(f'\n== {name} at {args.img}x{args.img}, batch {args.batch}, {args.threads} threads'
          + (f', runtimes on CPUs {sorted(args.pin)}' if args.pin else '') + ' ==', flush=True)
    peers = [p for p in args.peers.split(',') if p]
    if any(p.startswith('openvino') for p in peers):
        try:
            import openvino  # noqa: F401
        except ImportError:
            print('  OpenVINO not installed: skipped (.venv/bin/pip install openvino)')
            peers = [p for p in peers if not p.startswith('openvino')]
    accuracy = args.accuracy and has_data(name)
    want = ['grid'] + [p for p in peers if p.endswith('-int8')] + (['raw'] if accuracy else [])
    files = prepare_in_subprocess(name, want, args)
    for peer, info in files['quantization'].items():
        print(f'  {LABEL[peer]}: quantized in {info["seconds"]} s' + (' (cached file; time when made)' if info['cached'] else ''))
    pt = files['pt']

    # engine rows: name -> (weights, extra flags for bench and eval)
    engines = {'engine': (pt, [])}
    packed, made_in = (quantize_packed(pt, args) if args.packed else (None, None))
    if packed:
        print(f'  engine packed file {packed.name}' + (f': quantized in {made_in} s' if made_in else ' (cached)'))
    precisions = [p for p in args.packed_precision.split(',') if p]
    if packed and 'fp32' in precisions:
        engines['engine-packed'] = (packed, [])
    int8_file = engine_int8_file(name, args) or (packed if packed and 'int8' in precisions else None)
    if int8_file:
        engines['engine-int8'] = (int8_file, shlex.split(args.engine_args.format(calib=args.calib)))
    contenders = list(engines) + peers

    hog = Hog(args.workdir, args.hog_cpu) if args.hog else None
    hog_info = None
    if hog:
        hog.start()
        time.sleep(3)
        alone = hog.stop()
        hog.start()
        print(f'  bandwidth hog on CPU {args.hog_cpu}: {alone:.1f} GB/s alone', flush=True)
    results = {c: {'times_ms': [], 'peak_rss_bytes': [], 'version': ''} for c in contenders}
    try:
        for r in range(args.rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for c in order:
                res = run_engine(*engines[c], args) if c in engines else run_peer(c, files, args)
                results[c]['times_ms'] += res['times_ms']
                results[c]['peak_rss_bytes'].append(res['peak_rss_bytes'])
                results[c]['version'] = res['version']
                print(f'  round {r + 1}: {LABEL[c]:16s} median {statistics.median(res["times_ms"]):8.1f} ms', flush=True)
    finally:
        if hog:
            during = hog.stop()
            hog_info = {'cpu': args.hog_cpu, 'array_mib': 256, 'gb_per_s_alone': round(alone, 2),
                        'gb_per_s_during_rounds': round(during, 2)}
            print(f'  bandwidth hog: {during:.1f} GB/s during the rounds (alone {alone:.1f})')

    acc = {}
    if accuracy:
        print(f'  accuracy on {args.data} test at {args.img} (official test.py protocol):', flush=True)
        for c in contenders:
            if c in engines:
                w, extra = engines[c]
                acc[c] = peer_accuracy.engine_eval(args.engine, w, args.data, 'test', args.img, extra)
            else:
                acc[c] = peer_accuracy.evaluate_peer_in_subprocess(c, files, args.data, 'test', args.img, args.threads)
            print(f'    {LABEL[c]:16s} mAP@0.5 {acc[c]["mAP50"]:.4f}  mAP@0.5:0.95 {acc[c]["mAP50_95"]:.4f}', flush=True)
    return summarize(name, contenders, results, acc, files, engines, hog_info, args)


def summarize(name, contenders, results, acc, files, engines, hog_info, args):
    med = {c: statistics.median(results[c]['times_ms']) for c in contenders}
    rows = {}
    for c in contenders:
        t = sorted(results[c]['times_ms'])
        row = {'label': LABEL[c], 'precision': precision_label(c, args, results[c]['version']),
               'median_ms': med[c], 'p90_ms': t[min(len(t) - 1, int(0.9 * len(t) + 0.999) - 1)],
               'peak_rss_bytes': max(results[c]['peak_rss_bytes']), 'runs': len(t),
               'engine_fp32_over_peer': med['engine'] / med[c],
               'version': results[c]['version'], 'times_ms': results[c]['times_ms']}
        if 'engine-int8' in med:
            row['engine_int8_over_peer'] = med['engine-int8'] / med[c]
        if c in engines:
            row['weights'] = str(engines[c][0])
            row['engine_args'] = engines[c][1]
        if c in acc:
            row['mAP50'], row['mAP50_95'] = acc[c]['mAP50'], acc[c]['mAP50_95']
            row['accuracy'] = acc[c]
        rows[c] = row
    print(f'\n  {"runtime":16s} {"precision":32s} {"median ms":>9s} {"p90 ms":>7s} {"peak RSS":>9s} '
          f'{"int8/peer":>9s} {"FP32/peer":>9s} {"mAP@0.5":>8s} {"mAP@.5:.95":>10s}')
    for c in contenders:
        row = rows[c]
        i8 = f'{row["engine_int8_over_peer"]:.3f}' if 'engine_int8_over_peer' in row and c != 'engine-int8' else ''
        f32 = f'{row["engine_fp32_over_peer"]:.3f}' if c != 'engine' else ''
        m50 = f'{row["mAP50"]:.4f}' if 'mAP50' in row else '-'
        m5095 = f'{row["mAP50_95"]:.4f}' if 'mAP50_95' in row else '-'
        print(f'  {row["label"]:16s} {row["precision"]:32s} {row["median_ms"]:9.1f} {row["p90_ms"]:7.1f} '
              f'{row["peak_rss_bytes"] / 2**20:5.0f} MiB {i8:>9s} {f32:>9s} {m50:>8s} {m5095:>10s}')
    if 'engine-packed' in rows:
        print(f'  engine packed / FP32 engine latency: {med["engine-packed"] / med["engine"]:.3f}')
    if any(c.endswith('-int8') and c in PEERS for c in contenders):
        print('  int8 peers: timed on their quantized raw-head model at a fixed input; their time excludes the'
              ' Detect decode (sigmoid, grid, anchors), which every other row includes.')
    if acc:
        print('  mAP: official test.py protocol on the test split (tools/peer_accuracy.py); FP32 peers on the'
              ' raw-head export of the same weights.')
    return {'model': name, 'checkpoint': files['pt'], 'img': args.img, 'batch': args.batch, 'threads': args.threads,
            'pin': sorted(args.pin) if args.pin else None, 'hog': hog_info, 'rounds': args.rounds,
            'runs_per_round': args.runs, 'quantization': files['quantization'], 'rows': rows}


# ---------------------------------------------------------------- command line
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
    ap.add_argument('--peers', default=','.join(PEERS), help='comma list of ' + ', '.join(PEERS))
    ap.add_argument('--engine', default=str(ROOT / '.build' / 'release' / 'yolov7'))
    ap.add_argument('--packed', metavar='SCHEME/BITS/GRANULARITY',
                    help='also time the engine on the weights quantized and packed this way (e.g. affine/4/filter)')
    ap.add_argument('--quantize-args', default='', metavar='ARGS',
                    help='extra `yolov7 quantize` flags for --packed, e.g. "--keep first,detect --calib ../shared/datasets/bccd --img 640"')
    ap.add_argument('--packed-precision', default='fp32', metavar='fp32,int8',
                    help='activations of the --packed rows: fp32 (engine packed), int8 (engine int8), or both')
    ap.add_argument('--engine-int8', metavar='FILE|MODEL=FILE,...',
                    help='the engine int8 row on this quantized file (per model as MODEL=FILE)')
    ap.add_argument('--engine-args', default='--precision int8 --calib {calib}', metavar='ARGS',
                    help='flags of the engine int8 row, given to both `yolov7 bench` and `yolov7 eval` ({calib} is --calib); '
                         'for a file that holds activation ranges: "--precision int8" (default: %(default)s)')
    ap.add_argument('--calib', default=str(SHARED / 'datasets' / 'bccd'),
                    help='dataset whose train split calibrates the int8 peers (32 images) and {calib} of --engine-args')
    ap.add_argument('--data', default=str(SHARED / 'datasets' / 'bccd'), help='dataset whose test split gives the mAPs')
    ap.add_argument('--no-accuracy', dest='accuracy', action='store_false', help='latency only')
    ap.add_argument('--hog', action='store_true', help='a memory-bandwidth hog on --hog-cpu during the timed rounds')
    ap.add_argument('--hog-cpu', type=int, help='CPU of the hog (default: the last one this process may use)')
    ap.add_argument('--pin', metavar='CPUS', help='confine every timed runtime to these CPUs (comma list), e.g. 0')
    ap.add_argument('--workdir', default=os.path.join(tempfile.gettempdir(), 'yolov7-peers'))
    ap.add_argument('--json', help='write all figures to this file')
    # internal: one runtime in its own process; preparation in a child
    ap.add_argument('--worker', choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument('--pt', help=argparse.SUPPRESS)
    ap.add_argument('--onnx', help=argparse.SUPPRESS)
    ap.add_argument('--prepare', help=argparse.SUPPRESS)
    ap.add_argument('--want', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.prepare:
        sys.path.insert(0, str(peer_models.official_package_dir()))
        out = peer_models.prepare(args.prepare, args.workdir, args.img, args.batch, args.want.split(','), data=args.calib)
        print(json.dumps(out))
        return
    if not Path(args.engine).exists():
        sys.exit(f'{args.engine}: no engine binary; build it (swift build -c release) or pass --engine')
    unknown = [p for p in args.peers.split(',') if p and p not in PEERS]
    if unknown:
        sys.exit(f'--peers: unknown {", ".join(unknown)} (known: {", ".join(PEERS)})')
    if any(p not in ('fp32', 'int8') for p in args.packed_precision.split(',') if p):
        sys.exit('--packed-precision: fp32, int8 or fp32,int8')
    models = [m for m in args.models.split(',') if m]
    if args.engine_int8 and '=' not in args.engine_int8 and len(models) > 1:
        sys.exit('--engine-int8 FILE names one model\'s file: give --models with one model, or MODEL=FILE,...')
    allowed = sorted(os.sched_getaffinity(0))
    args.pin = {int(c) for c in args.pin.split(',')} if args.pin else None
    if args.hog:
        args.hog_cpu = allowed[-1] if args.hog_cpu is None else args.hog_cpu
        if args.hog_cpu not in allowed:
            sys.exit(f'--hog-cpu {args.hog_cpu}: not one of the CPUs this process may use ({allowed})')
        if args.pin and args.hog_cpu in args.pin:
            sys.exit(f'--pin {sorted(args.pin)} includes the hog\'s CPU {args.hog_cpu}')
    out = {}
    for name in models:
        out[name] = bench_model(name, args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == '__main__':
    main()
