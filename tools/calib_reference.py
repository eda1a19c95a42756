#!/usr/bin/env python3
"""NumPy reference for the calibrated quantization techniques of YOLOQuant (issue: practically
lossless 4-bit): writes Tests/Fixtures/quant/calib/.

Independent implementations, same definitions as the Swift code documents:
* input statistics (Sources/YOLOQuant/Calibration/ConvInputStatistics.swift): im2col columns of
  a conv's input, one per output position, rows ordered (c, i, j); second moment E[x x^T] and
  mean E[x], here in float64 from an explicit im2col;
* error-feedback rounding, GPTQ (ErrorFeedbackQuantizer.swift): the plain column-by-column
  algorithm (no blocking): H damped by 1% of its mean diagonal, U = upper Cholesky factor of
  H^-1, for each column i: q = nearest level of the fixed grid, e = (w - q) / U[i,i],
  w[:, j>i] -= e * U[i, j>i]; the grid (per-group parameters) is the round-to-nearest one;
* bias correction: b' = b + (W - Q) E[x];
* range search (RangeSearch.swift): affine/symmetric try the range scaled by 1, 0.97, ..., 0.70
  and keep the least squared error (first on ties); PWLQ tries maxima m * (1, .95, .9, .85, .8),
  each with its own breakpoint search.

Usage (repository root): .venv/bin/python tools/calib_reference.py
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quant_reference as qr  # noqa: E402

F32 = np.float32
OUT = os.path.join(qr.ROOT, "Tests", "Fixtures", "quant", "calib")
SHAPE = (6, 4, 3, 3)           # F, C, kh, kw: N = 36
INPUT = (1, 4, 10, 9)          # the conv's input feature map (stride 1, padding 1)
CASES = [(s, b, g) for s in ["affine", "symmetric", "pwlq"] for b in [3, 4] for g in ["filter", "cshape", "channel"]]
RANGE_RATIOS = [F32(x) for x in [1, 0.97, 0.94, 0.91, 0.88, 0.85, 0.82, 0.79, 0.76, 0.73, 0.70]]
PWLQ_RATIOS = [F32(x) for x in [1, 0.95, 0.9, 0.85, 0.8]]


def im2col(x, kernel=3, padding=1):
    _, C, H, W = x.shape
    padded = np.zeros((C, H + 2 * padding, W + 2 * padding))
    padded[:, padding:padding + H, padding:padding + W] = x[0]
    cols = []
    for oy in range(H):
        for ox in range(W):
            cols.append(padded[:, oy:oy + kernel, ox:ox + kernel].reshape(-1))
    return np.array(cols).T  # [C*k*k, H*W], rows (c, i, j)


def encode_fixed(value, scheme, bits, params, g):
    """Nearest level of group g's grid for one float32 value: (code, reconstructed float32)."""
    r = np.array([[F32(value)]], F32)
    if scheme == "affine":
        s, z = params["scale"][g], params["zero"][g]
        if s == 0:
            return 0, F32(0)
        levels = F32((1 << bits) - 1)
        q = np.clip(np.round(r / s) + z, F32(0), levels).astype(F32)[0, 0]
        return int(q), F32(s * (q - z))
    if scheme == "symmetric":
        s = params["scale"][g]
        qmax = F32((1 << (bits - 1)) - 1)
        if s == 0:
            return int(qmax), F32(0)
        q = np.clip(np.round(r / s), -qmax, qmax).astype(F32)[0, 0]
        return int(q) + int(qmax), F32(s * q)
    codes, values = qr.pwlq_apply(r, params["scale"][g:g + 1], params["breakpoint"][g:g + 1], bits)
    return int(codes[0, 0]), values[0, 0]


def group_of(shape, granularity):
    """[F, N] group index of every weight."""
    idx = qr.group_indices(shape, granularity)
    groups = np.empty(int(np.prod(shape)), np.int64)
    for g, row in enumerate(idx):
        groups[row] = g
    return groups.reshape(shape[0], -1)


def gptq(W, H, scheme, bits, granularity):
    F = W.shape[0]
    Wm = W.reshape(F, -1).astype(np.float64)
    N = Wm.shape[1]
    # The grid: round-to-nearest parameters of the original weights.
    idx = qr.group_indices(W.shape, granularity)
    _, _, params = qr.ENCODERS[scheme](W.reshape(-1)[idx], bits)
    groups = group_of(W.shape, granularity)
    H = H.copy()
    for i in range(N):
        if H[i, i] <= 0:
            H[i, i] = 1
            Wm[:, i] = 0
    H += 0.01 * np.mean(np.diag(H)) * np.eye(N)
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    codes = np.zeros((F, N), np.uint8)
    for i in range(N):
        for f in range(F):
            code, q = encode_fixed(Wm[f, i], scheme, bits, params, groups[f, i])
            codes[f, i] = code
            e = (Wm[f, i] - float(q)) / U[i, i]
            Wm[f, i + 1:] -= e * U[i, i + 1:]
    return codes.reshape(-1), params


def decode_flat(codes, scheme, bits, params, shape, granularity):
    idx = qr.group_indices(shape, granularity)
    values = np.empty(int(np.prod(shape)), F32)
    values[idx] = qr.DECODERS[scheme](codes[idx], bits, params)
    return values


def range_search(W, scheme, bits):
    """Filter granularity: per filter the best clipped range; returns codes and parameters."""
    idx = qr.group_indices(W.shape, "filter")
    X = W.reshape(-1)[idx]
    codes = np.empty_like(X, dtype=np.uint8)
    out = {k: np.empty(len(X), F32) for k in qr.PARAMETER_ORDER[scheme]}
    for g, row in enumerate(X):
        row = row[None, :]
        best = None
        if scheme in ("affine", "symmetric"):
            for ratio in RANGE_RATIOS:
                if scheme == "affine":
                    lo, hi = (row.min() * ratio).astype(F32), (row.max() * ratio).astype(F32)
                    c, v, p = qr.affine_encode(np.array([[lo, hi]], F32), bits)
                    p = {"scale": p["scale"], "zero": p["zero"]}
                else:
                    m = (np.abs(row).max() * ratio).astype(F32)
                    _, _, p = qr.symmetric_encode(np.array([[m]], F32), bits)
                values = []
                cs = []
                for r in row[0]:
                    c, v = encode_fixed(r, scheme, bits, p, 0)
                    cs.append(c)
                    values.append(v)
                err = qr.sequential_sse(row, np.array([values], F32))[0]
                if best is None or err < best[0]:
                    best = (err, cs, p)
        else:
            for ratio in PWLQ_RATIOS:
                m = np.array([np.abs(row).max() * ratio], F32)
                c, v, p = qr.pwlq_encode(row, bits, m=m)
                err = qr.sequential_sse(row, v)[0]
                if best is None or err < best[0]:
                    best = (err, list(c[0]), p)
        codes[g] = best[1]
        for k in out:
            out[k][g] = best[2][k][0]
    flat = np.empty(W.size, np.uint8)
    flat[idx] = codes
    return flat, np.concatenate([out[k] for k in qr.PARAMETER_ORDER[scheme]])


def main():
    rng = np.random.default_rng(7)
    W = (rng.standard_normal(SHAPE) * 0.1).astype(F32)
    W.reshape(-1)[rng.choice(W.size, 6, replace=False)] *= 4  # a few outliers, as real filters have
    # Correlated input channels (mixing), a non-zero mean and one channel that is always 0
    # (a dead column block in H).
    base = rng.standard_normal((INPUT[1], INPUT[2] * INPUT[3]))
    mix = rng.standard_normal((INPUT[1], INPUT[1])) * 0.5 + np.eye(INPUT[1])
    x = (mix @ base + 0.3).reshape(INPUT).astype(F32)
    x[0, 2] = 0
    bias = (rng.standard_normal(SHAPE[0]) * 0.05).astype(F32)
    cols = im2col(x.astype(np.float64))
    H = cols @ cols.T / cols.shape[1]
    mean = cols.mean(axis=1)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "weight.npy"), W)
    np.save(os.path.join(OUT, "input.npy"), x)
    np.save(os.path.join(OUT, "bias.npy"), bias)
    np.save(os.path.join(OUT, "second_moment.npy"), H)
    np.save(os.path.join(OUT, "mean.npy"), mean)
    gptq_codes, corrected = [], []
    for scheme, bits, granularity in CASES:
        codes, params = gptq(W, H, scheme, bits, granularity)
        gptq_codes.append(codes)
        q = decode_flat(codes, scheme, bits, params, SHAPE, granularity).reshape(SHAPE[0], -1)
        corrected.append((bias.astype(np.float64) + (W.reshape(SHAPE[0], -1).astype(np.float64) - q) @ mean).astype(F32))
    np.save(os.path.join(OUT, "gptq_codes.npy"), np.array(gptq_codes, np.uint8))
    np.save(os.path.join(OUT, "corrected_bias.npy"), np.array(corrected, F32))
    range_codes, range_params = [], []
    for scheme in ["affine", "symmetric", "pwlq"]:
        c, p = range_search(W, scheme, 3)
        range_codes.append(c)
        range_params.append(p)
    np.save(os.path.join(OUT, "range_codes.npy"), np.array(range_codes, np.uint8))
    np.save(os.path.join(OUT, "range_params.npy"), np.concatenate(range_params).astype(F32))
    manifest = {"shape": SHAPE, "input": INPUT, "gptq_cases": [f"{s}/{b}/{g}" for s, b, g in CASES],
                "range_cases": ["affine/3/filter", "symmetric/3/filter", "pwlq/3/filter"]}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
