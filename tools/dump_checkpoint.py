#!/usr/bin/env python3
"""Print reference values of an official YOLOv7 checkpoint, for the Swift Checkpoint tests.

Usage: .venv/bin/python tools/dump_checkpoint.py [path/to/model.pt]

Needs torch and the official YOLOv7 code (`models` package, e.g. from the PyPI package
yolov7-wky-package) importable, because the checkpoint pickles the model object. The values
printed here are what Tests/YOLOModelTests/CheckpointTests.swift hard-codes.
"""
import struct
import sys

import torch


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/weights/yolov7-tiny-bccd.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    print("top-level keys:", list(ckpt.keys()))
    use_ema = ckpt.get("ema") is not None
    model = ckpt["ema" if use_ema else "model"]
    print("source:", "ema" if use_ema else "model", type(model).__module__ + "." + type(model).__name__)
    sd = model.state_dict()
    kept = [k for k in sd if not k.endswith("num_batches_tracked")]
    print("state_dict entries:", len(sd), "without num_batches_tracked:", len(kept))
    print("dtypes:", sorted({str(v.dtype) for v in sd.values()}))
    print("names:", model.names)
    print("stride:", model.stride.tolist())
    print("yaml nc:", model.yaml["nc"], "keys:", list(model.yaml.keys()))
    print("yaml anchors:", model.yaml["anchors"])
    print("yaml backbone[0]:", model.yaml["backbone"][0], "rows:", len(model.yaml["backbone"]),
          "head rows:", len(model.yaml["head"]))
    print("first names:", kept[:6])
    print("last names:", kept[-8:])
    for name in ["model.0.conv.weight", "model.0.bn.running_var", "model.77.m.0.bias",
                 "model.77.ia.0.implicit", "model.77.anchors", "model.77.anchor_grid"]:
        t = sd[name]
        flat = t.flatten()
        vals = [flat[i].item() for i in (0, 1, flat.numel() - 1)]
        bits = [struct.unpack("<H", struct.pack("<e", v))[0] for v in vals]
        print(f"{name}: shape {list(t.shape)} dtype {t.dtype} first/second/last {vals} "
              f"half bits {[hex(b) for b in bits]} sum(fp32) {t.float().sum().item():.6f}")
    for path_ in ["model.0.conv", "model.0.bn", "model.0.act", "model.8", "model.8.m",
                  "model.31", "model.31.m", "model.39", "model.77"]:
        m = model.get_submodule(path_)
        attrs = {k: v for k, v in vars(m).items() if not k.startswith("_") and
                 isinstance(v, (int, float, bool, str, tuple, list))}
        print(path_, type(m).__module__ + "." + type(m).__name__, attrs)
    print("top-level classes:", [type(m).__name__ for m in model.model])
    total = sum(v.float().abs().sum().item() for k, v in sd.items() if k in kept)
    print("sum of |values| over kept tensors (fp32):", f"{total:.4f}")


if __name__ == "__main__":
    main()
