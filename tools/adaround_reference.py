#!/usr/bin/env python3
"""PyTorch reference for learned rounding (AdaRound) in YOLOQuant: writes
Tests/Fixtures/quant/adaround/.

An independent implementation of what Sources/YOLOQuant/Calibration/LearnedRounding.swift and
ReconstructionObjective.swift document, written the way the papers state it rather than the
way the Swift code computes it:

* the reconstruction loss is the conv's real output error, through torch's conv2d on the input
  maps (not the Swift side's quadratic form in the input moments): with x the conv's input in
  the FP32 model and x~ its input in the partly quantized model,
      rec = mean over output positions of sum over filters (conv(x~; W~) - conv(x; W))^2,
  optionally centred (each filter's mean error over the positions taken out first: what is
  left after bias correction), plus the damping delta ||W~ - W||^2 with delta = 1% of the mean
  diagonal of E[x~ x~^T] (centred likewise), as the Swift objective adds;
* gradients by autograd, Adam by torch.optim.Adam, everything in float64;
* the grid's levels from quant_reference.py's encoders (min/max parameters per group), each
  weight's two enclosing levels found by searching the level list, the soft weight
  w~ = down + h(V) (up - down), h(V) = clamp(1.2 sigmoid(V) - 0.1, 0, 1);
* regulariser lambda * sum over weights with a choice (up > down) of 1 - |2h - 1|^beta, off for
  the first 20% of the steps, then beta from 20 down to 2 linearly (BRECQ's LinearTempDecay:
  at step t, beta = 2 + 18 * max(0, 1 - (t - 0.2 T) / (0.8 T))), lambda 0.01;
* the start V puts h at the weight's position between its levels (saved, float32, so the Swift
  test starts from the very same values); the end codes: up where V >= 0.

Deterministic (seeded inputs, no sampling: every output position of the small map is used).

Usage (repository root): .venv/bin/python tools/adaround_reference.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calib_reference as cr  # noqa: E402
import quant_reference as qr  # noqa: E402

F32 = np.float32
OUT = os.path.join(qr.ROOT, "Tests", "Fixtures", "quant", "adaround")
SHAPE = (6, 4, 3, 3)          # F, C, kh, kw (stride 1, padding 1)
INPUT = (1, 4, 10, 9)
STEPS = 80
RATE = 0.05
LAMBDA = 0.01
WARMUP = 0.2
BETA = (20.0, 2.0)
DAMPING = 0.01
# (scheme, bits, granularity, centred)
CASES = [("affine", 2, "filter", False), ("pwlq", 3, "cshape", True), ("symmetric", 4, "channel", False)]


def grid_levels(W, scheme, bits, granularity):
    """Per weight (flat W order): down value, down code, up value, up code."""
    idx = qr.group_indices(W.shape, granularity)
    _, _, params = qr.ENCODERS[scheme](W.reshape(-1)[idx], bits)
    groups = cr.group_of(W.shape, granularity).reshape(-1)
    levels = []
    for g in range(len(idx)):
        pairs = {}
        for code in range(1 << bits):
            value = qr.DECODERS[scheme](np.array([[code]], np.uint8), bits,
                                        {k: v[g:g + 1] for k, v in params.items()})[0, 0]
            back, back_value = cr.encode_fixed(value, scheme, bits, params, g)
            if back == code and back_value == value:
                pairs.setdefault(float(value), code)
        levels.append(sorted(pairs.items()))
    flat = W.reshape(-1)
    down = np.empty(flat.size)
    up = np.empty(flat.size)
    down_code = np.empty(flat.size, np.uint8)
    up_code = np.empty(flat.size, np.uint8)
    for i, w in enumerate(flat):
        values = [v for v, _ in levels[groups[i]]]
        codes = [c for _, c in levels[groups[i]]]
        above = int(np.searchsorted(values, float(w), side="right"))  # first level > w
        if above == 0:
            a = b = 0
        elif above == len(values) or values[above - 1] == float(w):
            a = b = above - 1
        else:
            a, b = above - 1, above
        down[i], down_code[i], up[i], up_code[i] = values[a], codes[a], values[b], codes[b]
    return down, down_code, up, up_code


def initial_v(W, down, up):
    flat = W.reshape(-1).astype(np.float64)
    rng = up - down
    h = np.where(rng > 0, np.clip((flat - down) / np.where(rng > 0, rng, 1), 0, 1), 0)
    sigma = (h + 0.1) / 1.2
    return np.where(rng > 0, np.log(sigma / (1 - sigma)), 0).astype(F32)


def objective(W, x, xq, soft, centred):
    """The reconstruction loss (damping included) of weights `soft`, as learn() computes it."""
    w = torch.tensor(W.astype(np.float64))
    x = torch.tensor(x.astype(np.float64))
    xq = torch.tensor(xq.astype(np.float64))
    cols = Fn.unfold(xq, 3, padding=1)[0]
    if centred:
        cols = cols - cols.mean(dim=1, keepdim=True)
    delta = DAMPING * float((cols * cols).mean(dim=1).mean())
    soft = torch.tensor(np.asarray(soft, np.float64)).reshape(SHAPE)
    err = Fn.conv2d(xq, soft, padding=1) - Fn.conv2d(x, w, padding=1)
    if centred:
        err = err - err.mean(dim=(2, 3), keepdim=True)
    return float(err.pow(2).sum(1).mean() + delta * (soft - w).pow(2).sum())


def learn(W, x, xq, down, up, v0, centred):
    d = torch.tensor(down).reshape(SHAPE)
    r = torch.tensor(up - down).reshape(SHAPE)
    variable = r > 0
    w = torch.tensor(W.astype(np.float64))
    x = torch.tensor(x.astype(np.float64))
    xq = torch.tensor(xq.astype(np.float64))
    cols = Fn.unfold(xq, 3, padding=1)[0]          # N x positions
    if centred:
        cols = cols - cols.mean(dim=1, keepdim=True)
    delta = DAMPING * float((cols * cols).mean(dim=1).mean())
    target = Fn.conv2d(x, w, padding=1)
    v = torch.tensor(v0.astype(np.float64)).reshape(SHAPE).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=RATE)
    losses = []
    start = WARMUP * STEPS
    for t in range(1, STEPS + 1):
        h = torch.clamp(torch.sigmoid(v) * 1.2 - 0.1, 0, 1)
        soft = d + h * r
        err = Fn.conv2d(xq, soft, padding=1) - target
        if centred:
            err = err - err.mean(dim=(2, 3), keepdim=True)
        rec = err.pow(2).sum(1).mean() + delta * (soft - w).pow(2).sum()
        losses.append(float(rec))
        loss = rec
        if t >= start:
            beta = BETA[1] + (BETA[0] - BETA[1]) * max(0.0, 1 - (t - start) / (STEPS - start))
            reg = (1 - (2 * h - 1).abs().pow(beta))[variable].sum()
            loss = rec + LAMBDA * reg
        opt.zero_grad()
        loss.backward()
        opt.step()
    return v.detach().numpy().reshape(-1), np.array(losses)


def main():
    rng = np.random.default_rng(11)
    W = (rng.standard_normal(SHAPE) * 0.1).astype(F32)
    W.reshape(-1)[rng.choice(W.size, 5, replace=False)] *= 3
    base = rng.standard_normal((INPUT[1], INPUT[2] * INPUT[3]))
    mix = rng.standard_normal((INPUT[1], INPUT[1])) * 0.5 + np.eye(INPUT[1])
    x = (mix @ base + 0.3).reshape(INPUT).astype(F32)
    # The partly quantized model's input: the same map, perturbed and shifted a little.
    xq = (x + 0.15 * rng.standard_normal(INPUT) + 0.05).astype(F32)
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "weight.npy"), W)
    np.save(os.path.join(OUT, "input.npy"), x)
    np.save(os.path.join(OUT, "input_quantized.npy"), xq)
    starts, finals, codes, curves, nearest, results = [], [], [], [], [], []
    for scheme, bits, granularity, centred in CASES:
        down, down_code, up, up_code = grid_levels(W, scheme, bits, granularity)
        v0 = initial_v(W, down, up)
        v, losses = learn(W, x, xq, down, up, v0, centred)
        choose_up = (v >= 0) & (up > down)
        c = np.where(choose_up, up_code, down_code).astype(np.uint8)
        # Codes must not hang on float noise: every variable ends well away from 0.
        margin = np.abs(v[up > down]).min()
        assert margin > 1e-2, f"{scheme}: a rounding variable ends at {margin}"
        flat = W.reshape(-1)
        near_up = np.abs(flat - up) < np.abs(flat - down)
        near = np.where(near_up, up_code, down_code)
        learned_loss = objective(W, x, xq, np.where(choose_up, up, down), centred)
        nearest_loss = objective(W, x, xq, np.where(near_up, up, down), centred)
        assert learned_loss < nearest_loss, f"{scheme}: learned {learned_loss} >= nearest {nearest_loss}"
        print(f"{scheme} {bits}-bit {granularity} centred={centred}: loss {losses[0]:.5f} -> {losses[-1]:.5f} (soft), "
              f"hard {learned_loss:.5f} against nearest {nearest_loss:.5f}; "
              f"{int((c != near).sum())} of {flat.size} codes differ from nearest, margin {margin:.3f}")
        results.append({"learned_loss": learned_loss, "nearest_loss": nearest_loss})
        starts.append(v0)
        finals.append(v.astype(F32))
        codes.append(c)
        curves.append(losses)
        nearest.append(near)
    np.save(os.path.join(OUT, "v_start.npy"), np.array(starts, F32))
    np.save(os.path.join(OUT, "v_final.npy"), np.array(finals, F32))
    np.save(os.path.join(OUT, "codes.npy"), np.array(codes, np.uint8))
    np.save(os.path.join(OUT, "losses.npy"), np.array(curves, np.float64))
    manifest = {"shape": SHAPE, "input": INPUT, "steps": STEPS, "rate": RATE, "lambda": LAMBDA, "warmup": WARMUP,
                "beta": BETA, "damping": DAMPING,
                "cases": [f"{s}/{b}/{g}/{'centred' if c else 'raw'}" for s, b, g, c in CASES], "results": results}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
