#!/usr/bin/env python3
"""NumPy reference for the integer-grid formats (docs/FORMAT.md, version 2): writes
Tests/Fixtures/quant/grid/.

Independent of the Swift code, same definitions (Sources/YOLOQuant/NestedGroupQuantizer.swift,
CodebookQuantizer.swift, IntegerGrid.swift document them):

* sub-filter groups (group16/32/64, affine or symmetric, 2-4 bits): per filter, groups of N
  consecutive weights in the filter's order (the last one shorter when N does not divide
  C*kh*kw); each group's float grid by search (range shrink ratios, least-squares refit,
  importance-weighted squared error); then the filter's FP16 super-scale d (rounded up) and per
  group the integer scale l (and affine min m) among floor/ceil, with the nearest codes;
  r' = d * (l*q - m), symmetric m = l * 2^(k-1);
* codebook (per layer / filter / channel group, 2-4 bits): weighted 1-D k-means from weighted
  quantiles (Lloyd, at most 100 iterations, stop when no level moves), then levels made
  integers times an FP16 scale s = halfUp(max|c| / 127), codes the nearest integer level.

Float32 arithmetic one operation at a time in the Swift order, rounding half to even (np.round),
sums in float64 accumulated sequentially (np.cumsum), so the codes and parameters are the
Swift ones bit for bit.

Writes (all cases in manifest.json order, concatenated):
  codes.npy     uint8    packed codes (as X.qweight)
  integers.npy  float32  group_scale, then group_min (affine groups), or the levels (codebook)
  scales.npy    float32  super_scale (per filter) or level_scale (per group), FP16 values
  mse.npy       float64  mean squared error against the weight
  importance.npy float32 the importance vector of the `calib` layer's cases: the diagonal of
                the fixture's input second moment (../calib/second_moment.npy) plus 1% of its
                mean, as ModelQuantizer.importance makes it

Usage (from the repository root; NumPy only, reads the weights tools/quant_reference.py and
tools/calib_reference.py saved; deterministic, under a minute):
  .venv/bin/python tools/grid_reference.py
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quant_reference import group_indices, pack  # noqa: E402  (the same group order and packing)

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUANT = os.path.join(ROOT, "Tests", "Fixtures", "quant")
OUT = os.path.join(QUANT, "grid")

RATIOS = [F32(r) for r in ["1", "0.96", "0.92", "0.88", "0.84", "0.8", "0.76", "0.72", "0.68", "0.64", "0.6"]]
MAX_ITERATIONS = 100

NESTED_SMALL = [(s, b, g) for s in ("affine", "symmetric") for b in (2, 3, 4) for g in ("group16", "group32", "group64")]
CODEBOOK_SMALL = [("codebook", b, g) for b in (2, 3, 4) for g in ("filter", "layer", "channel")]
CASES = {
    "first": NESTED_SMALL + CODEBOOK_SMALL,
    "pointwise": NESTED_SMALL + CODEBOOK_SMALL,
    "big": [("affine", 2, "group32"), ("affine", 4, "group32"), ("symmetric", 2, "group32"),
            ("symmetric", 4, "group32"), ("codebook", 2, "filter"), ("codebook", 4, "filter")],
    "calib": [(s, b, "group16") for s in ("affine", "symmetric") for b in (2, 3, 4)]
             + [("codebook", b, "filter") for b in (2, 3, 4)],
}
WEIGHT_FILES = {"first": "first_weight.npy", "pointwise": "pointwise_weight.npy", "big": "big_weight.npy",
                "calib": os.path.join("calib", "weight.npy")}


def seqsum(values):
    """Sum in float64, left to right (Swift's loop order)."""
    values = np.asarray(values, np.float64)
    return float(np.cumsum(values)[-1]) if values.size else 0.0


def half_up(value):
    """The smallest FP16 value not below value (>= 0), as float32."""
    value = F32(value)
    h = np.float16(value)
    if F32(h) < value:
        h = np.nextafter(h, np.float16(np.inf))
    return F32(h)


# ---------------------------------------------------------------------------- sub-filter groups

def affine_search(x, w, bits):
    max_code = F32((1 << bits) - 1)
    lo = F32(min(F32(0), x.min()))
    hi = F32(x.max())
    if not F32(hi - lo) > 0:
        return F32(0), lo
    best = (F32(F32(hi - lo) / max_code), lo)
    best_error = np.inf
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    for ratio in RATIOS:
        s = F32(F32(F32(hi - lo) * ratio) / max_code)
        mn = F32(lo * ratio)
        if not s > 0:
            continue
        q = np.clip(np.round(((x - mn) / s).astype(F32)), F32(0), max_code).astype(F32)
        q64 = q.astype(np.float64)
        a = seqsum(w64 * q64 * q64)
        b = seqsum(w64 * q64)
        c = seqsum(w64)
        dx = seqsum(w64 * x64 * q64)
        e = seqsum(w64 * x64)
        fit_scale, fit_min = float(s), float(mn)
        det = a * c - b * b
        if det > 0:
            fit_scale = (dx * c - b * e) / det
            fit_min = (a * e - b * dx) / det
        if fit_min > 0:
            fit_min = 0.0
            if a > 0:
                fit_scale = dx / a
        if not fit_scale > 0:
            fit_scale, fit_min = float(s), float(mn)
        cs, cm = F32(fit_scale), F32(fit_min)
        d = (x - ((cs * q).astype(F32) + cm).astype(F32)).astype(F32).astype(np.float64)
        error = seqsum(w64 * d * d)
        if error < best_error:
            best_error, best = error, (cs, cm)
    return best


def symmetric_search(x, w, bits):
    half = 1 << (bits - 1)
    m = F32(np.abs(x).max())
    if not m > 0:
        return F32(0)
    low, high = F32(-half), F32(half - 1)
    best = F32(m / F32(half))
    best_error = np.inf
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    for ratio in RATIOS:
        for v in (half, half - 1):
            if v <= 0:
                continue
            s = F32(F32(m * ratio) / F32(v))
            if not s > 0:
                continue
            q = np.clip(np.round((x / s).astype(F32)), low, high).astype(F32)
            q64 = q.astype(np.float64)
            a = seqsum(w64 * q64 * q64)
            dx = seqsum(w64 * x64 * q64)
            fit = dx / a if a > 0 else float(s)
            if not fit > 0:
                fit = float(s)
            cand = F32(fit)
            d = (x - (cand * q).astype(F32)).astype(F32).astype(np.float64)
            error = seqsum(w64 * d * d)
            if error < best_error:
                best_error, best = error, cand
    return best


def nested_encode(x, d, l, m, bits):
    """Codes and values of x on the grid d * (l*q - m)."""
    max_code = F32((1 << bits) - 1)
    step, shift = F32(d * F32(l)), F32(d * F32(m))
    if step == 0:
        q = np.zeros(x.shape, np.int64)
    else:
        q = np.clip(np.round(((x + shift).astype(F32) / step).astype(F32)), F32(0), max_code).astype(np.int64)
    values = (d * (l * q - m).astype(F32)).astype(F32)
    return q, values


def nested_quantize(W, scheme, bits, size, importance):
    F = W.shape[0]
    n = W[0].size
    rows = W.reshape(F, n).astype(F32)
    w = importance if importance is not None else np.ones(n, F32)
    half, max_code = 1 << (bits - 1), (1 << bits) - 1
    limit = (1 << (bits + 3)) - 1
    codes = np.zeros((F, n), np.int64)
    supers, scales, mins = [], [], []
    for f in range(F):
        runs = [(j, min(j + size, n)) for j in range(0, n, size)]
        grids = []
        for a, b in runs:
            x, wx = rows[f, a:b], w[a:b]
            grids.append(affine_search(x, wx, bits) if scheme == "affine" else (symmetric_search(x, wx, bits), F32(0)))
        top = F32(0)
        if scheme == "affine":
            for s, mn in grids:
                top = max(top, max(F32(-mn), F32(abs(F32(F32(s * F32(max_code)) + mn)))))
            d = half_up(F32(top / F32(limit)))
        else:
            for s, _ in grids:
                top = max(top, s)
            d = half_up(F32(top / F32(15)))
        supers.append(d)
        for (a, b), (s, mn) in zip(runs, grids):
            x, wx = rows[f, a:b], w[a:b].astype(np.float64)
            if not d > 0:
                candidates = [(0, 0)]
            else:
                t = F32(s / d)
                candidates = []
                if scheme == "affine":
                    u = F32(F32(-mn) / d)
                    for lc in (np.floor(t), np.ceil(t)):
                        for mc in (np.floor(u), np.ceil(u)):
                            mm = min(max(int(mc), 0), limit)
                            ll = min(max(int(lc), 0), (limit + mm) // max_code)
                            candidates.append((ll, mm))
                else:
                    for lc in (np.floor(t), np.ceil(t)):
                        ll = min(max(int(lc), 0), 15)
                        candidates.append((ll, ll * half))
            best, best_error = None, np.inf
            for ll, mm in candidates:
                q, values = nested_encode(x, d, ll, mm, bits)
                diff = (x - values).astype(F32).astype(np.float64)
                error = seqsum(wx * diff * diff)
                if best is None or error < best_error:
                    best, best_error = (ll, mm, q), error
            ll, mm, q = best
            scales.append(ll)
            if scheme == "affine":
                mins.append(mm)
            codes[f, a:b] = q
    return codes.reshape(-1), np.array(supers, F32), scales, mins


def nested_dequantize(codes, supers, scales, mins, scheme, bits, shape, size):
    F = shape[0]
    n = int(np.prod(shape[1:]))
    per = -(-n // size)
    half = 1 << (bits - 1)
    out = np.zeros(F * n, F32)
    for f in range(F):
        for j in range(per):
            g = f * per + j
            ll = scales[g]
            mm = mins[g] if scheme == "affine" else ll * half
            a, b = f * n + j * size, f * n + min((j + 1) * size, n)
            out[a:b] = (supers[f] * (ll * codes[a:b] - mm).astype(F32)).astype(F32)
    return out


# ---------------------------------------------------------------------------- codebook

def kmeans(x, w, count):
    order = np.argsort(x, kind="stable")
    xs = x[order]
    n = x.size
    cw = np.concatenate([[0.0], np.cumsum(w[order].astype(np.float64))])
    cm = np.concatenate([[0.0], np.cumsum(w[order].astype(np.float64) * x[order].astype(np.float64))])
    total = cw[n]
    centroids = []
    for j in range(count):
        target = (j + 0.5) / count * total
        i = int(np.searchsorted(cw[1:], target, side="left")) + 1
        centroids.append(xs[min(i, n) - 1])
    centroids = np.array(centroids, F32)
    if not total > 0:
        return centroids
    for _ in range(MAX_ITERATIONS):
        nxt = centroids.copy()
        start = 0
        for j in range(count):
            end = n
            if j < count - 1:
                boundary = F32(F32(centroids[j] + centroids[j + 1]) * F32(0.5))
                end = start + int(np.searchsorted(xs[start:], boundary, side="right"))
            weight = cw[end] - cw[start]
            if weight > 0:
                nxt[j] = F32((cm[end] - cm[start]) / weight)
            start = end
        if np.array_equal(nxt, centroids):
            break
        centroids = nxt
    return centroids


def codebook_levels(centroids):
    top = F32(np.abs(centroids).max()) if centroids.size else F32(0)
    s = half_up(F32(top / F32(127)))
    if not s > 0:
        return s, np.zeros(centroids.size, np.int64)
    return s, np.clip(np.round((centroids / s).astype(F32)), -127, 127).astype(np.int64)


def codebook_encode(x, s, levels):
    values = (s * levels.astype(F32)).astype(F32)
    mids = ((values[:-1] + values[1:]).astype(F32) * F32(0.5)).astype(F32)
    return np.searchsorted(mids, x, side="left")


def codebook_quantize(W, bits, granularity, importance):
    shape = W.shape
    n = int(np.prod(shape[1:]))
    flat = W.reshape(-1).astype(F32)
    w = importance if importance is not None else np.ones(n, F32)
    groups = group_indices(shape, granularity)
    codes = np.zeros(flat.size, np.int64)
    scales, levels = [], []
    for idx in groups:
        x = flat[idx]
        c = kmeans(x, w[idx % n], 1 << bits)
        s, lv = codebook_levels(c)
        scales.append(s)
        levels.extend(lv.tolist())
        codes[idx] = codebook_encode(x, s, lv)
    return codes, np.array(scales, F32), levels


def codebook_dequantize(codes, scales, levels, bits, shape, granularity):
    flat = np.zeros(int(np.prod(shape)), F32)
    count = 1 << bits
    for g, idx in enumerate(group_indices(shape, granularity)):
        lv = np.array(levels[g * count:(g + 1) * count], np.int64)
        flat[idx] = (scales[g] * lv[codes[idx]].astype(F32)).astype(F32)
    return flat


# ---------------------------------------------------------------------------- fixtures

def importance_of(second_moment):
    diagonal = np.diag(second_moment).astype(np.float64)
    damping = 0.01 * seqsum(diagonal) / max(diagonal.size, 1)
    return (diagonal + damping).astype(F32)


def main():
    os.makedirs(OUT, exist_ok=True)
    importance = importance_of(np.load(os.path.join(QUANT, "calib", "second_moment.npy")))
    manifest = {"cases": []}
    all_codes, all_integers, all_scales, all_mse = [], [], [], []
    for tag, cases in CASES.items():
        W = np.load(os.path.join(QUANT, WEIGHT_FILES[tag])).astype(F32)
        weights = importance if tag == "calib" else None
        for scheme, bits, granularity in cases:
            if granularity.startswith("group"):
                size = int(granularity[5:])
                codes, supers, scales, mins = nested_quantize(W, scheme, bits, size, weights)
                values = nested_dequantize(codes, supers, scales, mins, scheme, bits, W.shape, size)
                integers = scales + mins
                float_scales = supers
            else:
                codes, float_scales, levels = codebook_quantize(W, bits, granularity, weights)
                values = codebook_dequantize(codes, float_scales, levels, bits, W.shape, granularity)
                integers = levels
            packed = pack(codes.astype(np.uint8), bits)
            mse = float(np.mean((W.reshape(-1).astype(np.float64) - values.astype(np.float64)) ** 2))
            manifest["cases"].append({"layer": tag, "scheme": scheme, "bits": bits, "granularity": granularity,
                                      "importance": weights is not None, "codeBytes": int(packed.size),
                                      "integers": len(integers), "scales": int(float_scales.size)})
            all_codes.append(packed)
            all_integers.append(np.array(integers, F32))
            all_scales.append(float_scales.astype(F32))
            all_mse.append(mse)
            print(f"{tag} {scheme} {bits}-bit {granularity}: mse {mse:.4e}")
    manifest["weights"] = WEIGHT_FILES
    np.save(os.path.join(OUT, "codes.npy"), np.concatenate(all_codes).astype(np.uint8))
    np.save(os.path.join(OUT, "integers.npy"), np.concatenate(all_integers).astype(F32))
    np.save(os.path.join(OUT, "scales.npy"), np.concatenate(all_scales).astype(F32))
    np.save(os.path.join(OUT, "mse.npy"), np.array(all_mse, np.float64))
    np.save(os.path.join(OUT, "importance.npy"), importance)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(manifest['cases'])} cases to {OUT}")


if __name__ == "__main__":
    main()
