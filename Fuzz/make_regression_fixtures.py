#!/usr/bin/env python3
"""Writes Tests/Fixtures/fuzz/: the inputs behind the fuzz regression tests
(Tests/YOLOModelTests/FuzzRegressionTests.swift, Tests/YOLOVisionTests/FuzzRegressionTests.swift).

Inputs that a fuzzer found are copied from Fuzz/artifacts/ by hand and listed in FINDINGS below
with where they came from; the rest are written here from their description. Standard library
only; instant; deterministic.

Usage:  python3 Fuzz/make_regression_fixtures.py [--out Tests/Fixtures/fuzz]
"""
import argparse
import json
import struct
from pathlib import Path


def safetensors(metadata):
    header = json.dumps({'__metadata__': metadata}, separators=(',', ':')).encode()
    header += b' ' * (-len(header) % 8)
    return struct.pack('<Q', len(header)) + header


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=str(Path(__file__).resolve().parent.parent / 'Tests' / 'Fixtures' / 'fuzz'))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    # Model YAML nested 5,000 deep in a weights file's metadata: Yams composes recursively and
    # overflowed the stack (SIGSEGV in Parser.loadSequence, `yolov7 inspect` of this file) from
    # about 4,500 levels in a release build; under ASan (FuzzModelConfig) sooner.
    depth = 5000
    (out / 'yaml_nested_flow.safetensors').write_bytes(
        safetensors({'format': 'yolov7-swift', 'config': '[' * depth + ']' * depth}))
    # The same depth in block style: compact nested sequences on one line.
    (out / 'yaml_nested_block.yaml').write_text('- ' * depth + 'x\n')
    # "Billion laughs": 12 levels of aliases, each repeating the previous ten times (10^12 values).
    lines = ['nc: 1', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for i in range(1, 12):
        lines.append(f'a{i}: &a{i} [' + ', '.join([f'*a{i - 1}'] * 10) + ']')
    (out / 'yaml_aliases.yaml').write_text('\n'.join(lines) + '\n')

    # Configs whose graph arithmetic overflows Int (a Swift trap, SIGILL) while the graph is built:
    # channels multiplied by ReOrg, summed by Concat, feature maps multiplied by nn.Upsample. The
    # same text in a weights file's metadata crashes `yolov7 inspect` (graph_reorg_overflow.safetensors).
    def config(rows):
        return ('nc: 1\nanchors:\n  - [10,13, 16,30, 33,23]\nbackbone:\n  ['
                + ',\n   '.join(rows) + ']\nhead: []\n')
    detect = '[[-1], 1, Detect, [nc, anchors]]'
    reorg = config(['[-1, 1, ReOrg, []]'] * 40 + [detect])
    (out / 'graph_reorg_overflow.yaml').write_text(reorg)
    (out / 'graph_reorg_overflow.safetensors').write_bytes(safetensors({'format': 'yolov7-swift', 'config': reorg}))
    (out / 'graph_concat_overflow.yaml').write_text(
        config(['[-1, 1, Conv, [65536, 1, 1]]'] + ['[[-1, -1, -1, -1, -1, -1, -1, -1], 1, Concat, [1]]'] * 30 + [detect]))
    (out / 'graph_upsample_overflow.yaml').write_text(
        config(['[-1, 1, Conv, [8, 3, 1]]'] + ["[-1, 1, nn.Upsample, [None, 16, 'nearest']]"] * 15 + [detect]))


if __name__ == '__main__':
    main()
