#!/usr/bin/env python3
"""NumPy reference for YOLOQuant (DESIGN.md section 3): writes Tests/Fixtures/quant/.

Independent of the Swift code, same definitions (see Sources/YOLOQuant/GroupQuantizer.swift,
GroupLayout.swift and BitPacking.swift for the documented layouts):

* groups of a conv weight W[F, C, kh, kw] (K = kh*kw), group order and element order:
  layer 1 group; filter g = f; channel g = c, elements by (f, i, j); fshape g = c*K + k,
  elements by f; cshape g = f*K + k, elements by c (always ascending flat index);
* affine / symmetric / PWLQ quantizers, float32 arithmetic one operation at a time, rounding
  with np.round (round half to even; Swift uses .toNearestOrEven), squared-error sums in
  float64 accumulated sequentially in group element order (np.cumsum, not np.sum, which is
  pairwise) so the PWLQ breakpoint search picks the same candidate;
* codes packed as one little-endian bit stream (code n's bit b is stream bit n*bits + b).

Usage (from the repository root):
  .venv/bin/python tools/quant_reference.py --extract   # (a) folded weights from the .pt (needs torch)
  .venv/bin/python tools/quant_reference.py             # (b) expected codes/values (NumPy only)

(a) loads /work/shared/weights/yolov7-tiny-bccd.pt with the official code's attempt_load (which
calls model.fuse(), so BatchNorm is folded into the conv weights) and saves three conv weights
as float32 .npy. (b) writes, for every layer x scheme, over bits x granularity in the order of
manifest.json:
  <layer>_<scheme>_codes.npy   uint8, the packed codes of each (bits, granularity), concatenated
  <layer>_<scheme>_params.npy  float32, per (bits, granularity): scale[G], then zero[G] (affine)
                               or breakpoint[G] (pwlq), concatenated
  <layer>_<scheme>_values.npy  float32 [bits, granularities, S]: dequantized values at the
                               sample indices (all N if N <= 1024, else (j*N)//1024, j < 1024)
  <layer>_<scheme>_mse.npy     float64 [bits, granularities]: mean squared error vs W
"""
import argparse
import json
import os
import sys

import numpy as np

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "quant")
WEIGHTS = "/work/shared/weights/yolov7-tiny-bccd.pt"

# tag, module in the fused model; shapes [32,3,3,3], [32,64,1,1], [128,64,3,3] (F != C, so
# fshape and cshape group counts differ).
LAYERS = [("first", "model.0.conv"), ("pointwise", "model.2.conv"), ("big", "model.58.conv")]
SCHEMES = ["affine", "symmetric", "pwlq"]
BITS = [2, 3, 4, 5, 6, 8]
GRANULARITIES = ["layer", "filter", "channel", "fshape", "cshape"]
MAX_SAMPLES = 1024


# ---------------------------------------------------------------------------- groups

def group_indices(shape, granularity):
    """[G, n] flat indices: row g lists group g's elements in group order."""
    F, C, kh, kw = shape
    K = kh * kw
    flat = np.arange(F * C * K).reshape(F, C, K)
    if granularity == "layer":
        return flat.reshape(1, -1)
    if granularity == "filter":
        return flat.reshape(F, C * K)
    if granularity == "channel":
        return flat.transpose(1, 0, 2).reshape(C, F * K)
    if granularity == "fshape":
        return flat.reshape(F, C * K).T.copy()
    if granularity == "cshape":
        return flat.transpose(0, 2, 1).reshape(F * K, C)
    raise ValueError(granularity)


def sequential_sse(x, v):
    """Row sums of (x - v)^2 in float64, accumulated left to right."""
    d = (x - v).astype(np.float64)
    return np.cumsum(d * d, axis=1)[:, -1]


# ---------------------------------------------------------------------------- schemes
# Each encoder takes X [G, n] float32 and returns codes (uint8 [G, n]), values (float32 [G, n])
# and a dict of per-group float32 parameters.

def affine_encode(X, bits):
    levels = F32((1 << bits) - 1)
    lo = X.min(axis=1)
    hi = X.max(axis=1)
    s = ((hi - lo) / levels).astype(F32)
    flat = s == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.round(-lo / s).astype(F32)
    # Constant group: s = |v|, z = -sign(v), all codes 0, so r' = v.
    s = np.where(flat, np.abs(lo), s).astype(F32)
    z = np.where(flat, np.where(lo > 0, F32(-1), np.where(lo < 0, F32(1), F32(0))), z).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.round(X / s[:, None]) + z[:, None], F32(0), levels).astype(F32)
    q = np.where(s[:, None] == 0, F32(0), q)
    values = (s[:, None] * (q - z[:, None])).astype(F32)
    return q.astype(np.uint8), values, {"scale": s, "zero": z}


def affine_decode(codes, bits, p):
    return (p["scale"][:, None] * (codes.astype(F32) - p["zero"][:, None])).astype(F32)


def symmetric_encode(X, bits):
    qmax = F32((1 << (bits - 1)) - 1)
    m = np.abs(X).max(axis=1)
    s = (m / qmax).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.round(X / s[:, None]), -qmax, qmax).astype(F32)
    q = np.where(s[:, None] == 0, F32(0), q)
    values = (s[:, None] * q).astype(F32)
    codes = (q.astype(np.int32) + int(qmax)).astype(np.uint8)
    return codes, values, {"scale": s}


def symmetric_decode(codes, bits, p):
    offset = (1 << (bits - 1)) - 1
    return (p["scale"][:, None] * (codes.astype(np.int32) - offset).astype(F32)).astype(F32)


def pwlq_steps(m, p, bits):
    H = 1 << (bits - 2)
    sc = (p / F32(H)).astype(F32)
    st = ((m - p) / F32(H - 1)).astype(F32) if H > 1 else np.zeros_like(p)
    return H, sc, st


def pwlq_apply(X, m, p, bits):
    """Codes and values for per-group m, p (p == 0 marks a degenerate group)."""
    H, sc, st = pwlq_steps(m, p, bits)
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.round(X / sc[:, None]).astype(F32)
        centre = np.abs(i) < F32(H)
        t = np.round((np.abs(X) - p[:, None]) / st[:, None]).astype(F32)
    t = np.where(st[:, None] > 0, np.clip(t, F32(0), F32(H - 1)), F32(0)).astype(F32)
    magnitude = (p[:, None] + t * st[:, None]).astype(F32)
    negative = X < 0
    centre_value = (i * sc[:, None]).astype(F32)
    values = np.where(centre, centre_value, np.where(negative, -magnitude, magnitude)).astype(F32)
    tail_code = (1 << (bits - 1)) | np.where(negative, H, 0) | np.where(centre, 0, t).astype(np.int64)
    centre_code = np.where(centre, i, 0).astype(np.int64) + (H - 1)
    codes = np.where(centre, centre_code, tail_code)
    degenerate = (p == 0)[:, None]
    codes = np.where(degenerate, H - 1, codes).astype(np.uint8)
    values = np.where(degenerate, F32(0), values).astype(F32)
    return codes, values


def pwlq_encode(X, bits, m=None):
    """m: per-group maxima to quantize over (default max|X|, the plain scheme; a smaller one
    clips, as the range search of tools/calib_reference.py tries)."""
    H = 1 << (bits - 2)
    m = np.abs(X).max(axis=1).astype(F32) if m is None else m.astype(F32)
    live = m >= np.finfo(F32).tiny
    m_live = np.where(live, m, F32(1))  # placeholder m for degenerate rows during the search

    def sse(ratio):
        p = (ratio * m_live).astype(F32)
        _, values = pwlq_apply(X, m_live, p, bits)
        return sequential_sse(X, values)

    ratios = [F32(H) / F32(2 * H - 1)] + [F32(j) / F32(32) for j in range(1, 33)]
    best_ratio = np.zeros(len(m), F32)
    best = np.full(len(m), np.inf)
    for ratio in ratios:
        ratio = np.full(len(m), ratio, F32)
        e = sse(ratio)
        better = e < best
        best = np.where(better, e, best)
        best_ratio = np.where(better, ratio, best_ratio).astype(F32)
    centre = best_ratio.copy()
    for d in list(range(-7, 0)) + list(range(1, 8)):
        ratio = (centre + F32(d) / F32(256)).astype(F32)
        valid = (ratio > 0) & (ratio <= 1)
        e = np.where(valid, sse(np.where(valid, ratio, F32(1))), np.inf)
        better = e < best
        best = np.where(better, e, best)
        best_ratio = np.where(better, ratio, best_ratio).astype(F32)
    p = np.where(live, (best_ratio * m_live).astype(F32), F32(0)).astype(F32)
    codes, values = pwlq_apply(X, m, p, bits)
    return codes, values, {"scale": m, "breakpoint": p}


def pwlq_decode(codes, bits, p):
    H, sc, st = pwlq_steps(p["scale"], p["breakpoint"], bits)
    c = codes.astype(np.int64)
    tail = (c & (1 << (bits - 1))) != 0
    centre_value = ((c - (H - 1)).astype(F32) * sc[:, None]).astype(F32)
    magnitude = (p["breakpoint"][:, None] + (c & (H - 1)).astype(F32) * st[:, None]).astype(F32)
    tail_value = np.where((c & H) != 0, -magnitude, magnitude)
    return np.where(tail, tail_value, centre_value).astype(F32)


ENCODERS = {"affine": affine_encode, "symmetric": symmetric_encode, "pwlq": pwlq_encode}
DECODERS = {"affine": affine_decode, "symmetric": symmetric_decode, "pwlq": pwlq_decode}
PARAMETER_ORDER = {"affine": ["scale", "zero"], "symmetric": ["scale"], "pwlq": ["scale", "breakpoint"]}


# ---------------------------------------------------------------------------- packing

def pack(codes, bits):
    """Little-endian bit stream: bit b of code n is stream bit n*bits + b."""
    stream = np.unpackbits(codes.astype(np.uint8)[:, None], axis=1, bitorder="little")[:, :bits]
    return np.packbits(stream.reshape(-1), bitorder="little")


def unpack(data, bits, count):
    stream = np.unpackbits(data, bitorder="little")[: count * bits].reshape(count, bits)
    return np.packbits(stream, axis=1, bitorder="little")[:, 0]


# ---------------------------------------------------------------------------- driver

def quantize(W, scheme, bits, granularity):
    """Flat codes, flat values, parameter vector (in PARAMETER_ORDER), for one combination."""
    idx = group_indices(W.shape, granularity)
    X = W.reshape(-1)[idx]
    codes, values, params = ENCODERS[scheme](X, bits)
    decoded = DECODERS[scheme](codes, bits, params)
    assert np.array_equal(decoded, values), "decode disagrees with encode"
    assert np.isfinite(values).all()
    flat_codes = np.empty(W.size, np.uint8)
    flat_values = np.empty(W.size, F32)
    flat_codes[idx] = codes
    flat_values[idx] = values
    vector = np.concatenate([params[name].astype(F32) for name in PARAMETER_ORDER[scheme]])
    return flat_codes, flat_values, vector


def sample_indices(n):
    if n <= MAX_SAMPLES:
        return np.arange(n)
    return (np.arange(MAX_SAMPLES, dtype=np.int64) * n) // MAX_SAMPLES


def extract(weights):
    import functools
    import torch
    # The checkpoint pickles the model object (the official format), so torch >= 2.6's default
    # weights_only=True refuses it; this is the project's own trusted file.
    torch.load = functools.partial(torch.load, weights_only=False)
    from models.experimental import attempt_load  # official YOLOv7 code (yolov7-wky-package)
    model = attempt_load(weights, map_location="cpu")  # .float().fuse(): BN folded into convs
    for tag, name in LAYERS:
        w = model.get_submodule(name).weight.detach().float().numpy().astype(F32)
        np.save(os.path.join(OUT, f"{tag}_weight.npy"), w)
        print(f"{tag}: {name} {list(w.shape)}")


def generate():
    manifest = {"layers": [], "schemes": SCHEMES, "bits": BITS, "granularities": GRANULARITIES,
                "maxSamples": MAX_SAMPLES}
    for tag, name in LAYERS:
        W = np.load(os.path.join(OUT, f"{tag}_weight.npy")).astype(F32)
        manifest["layers"].append({"tag": tag, "source": name, "shape": list(W.shape)})
        samples = sample_indices(W.size)
        for scheme in SCHEMES:
            all_codes, all_params = [], []
            values = np.zeros((len(BITS), len(GRANULARITIES), len(samples)), F32)
            mse = np.zeros((len(BITS), len(GRANULARITIES)), np.float64)
            for b, bits in enumerate(BITS):
                for g, granularity in enumerate(GRANULARITIES):
                    codes, deq, params = quantize(W, scheme, bits, granularity)
                    packed = pack(codes, bits)
                    assert len(packed) == (codes.size * bits + 7) // 8
                    assert np.array_equal(unpack(packed, bits, codes.size), codes)
                    all_codes.append(packed)
                    all_params.append(params)
                    values[b, g] = deq[samples]
                    mse[b, g] = np.mean((W.reshape(-1).astype(np.float64) - deq) ** 2)
            np.save(os.path.join(OUT, f"{tag}_{scheme}_codes.npy"), np.concatenate(all_codes))
            np.save(os.path.join(OUT, f"{tag}_{scheme}_params.npy"), np.concatenate(all_params))
            np.save(os.path.join(OUT, f"{tag}_{scheme}_values.npy"), values)
            np.save(os.path.join(OUT, f"{tag}_{scheme}_mse.npy"), mse)
            print(f"{tag:9s} {scheme:9s} " + "  ".join(
                f"{bits}b:" + "/".join(f"{10 * np.log10(np.mean(W.astype(np.float64) ** 2) / e):.1f}"
                                       for e in mse[b]) for b, bits in enumerate(BITS)) + "  (SQNR dB, granularity order)")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", action="store_true", help="first save the folded weights from --weights")
    parser.add_argument("--weights", default=WEIGHTS)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.extract:
        extract(args.weights)
    generate()


if __name__ == "__main__":
    sys.exit(main())
