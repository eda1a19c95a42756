#!/usr/bin/env python3
"""Make the small checkpoint / safetensors fixtures that the YOLOModel reader tests use.

Usage (from the package root, standard library only, no torch needed):

    python3 tools/make_hostile_fixtures.py

Writes Tests/Fixtures/checkpoint/ (valid synthetic checkpoints and plain pickles) and
Tests/Fixtures/hostile/ (files that must be refused cleanly: malicious globals, truncation,
lying headers, 100,000-deep nesting, a PNG claiming 50,000 x 50,000 pixels). Output is deterministic, so re-running it changes nothing.

Checkpoints are pickled with Python's own pickle module at protocol 2, as torch.save does: the
torch / YOLOv7 classes are stand-ins registered under their real module names, so the opcodes
(GLOBAL, NEWOBJ + BUILD for modules, REDUCE of _rebuild_tensor_v2, BINPERSID storages) are the
ones a real checkpoint holds. The zip writer below is hand-written so it can also force zip64
records and 64-byte payload alignment like PyTorch's writer.
"""
import collections
import os
import pickle
import struct
import sys
import types
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
VALID = os.path.join(ROOT, "checkpoint")
HOSTILE = os.path.join(ROOT, "hostile")


# ---------------------------------------------------------------- stand-in classes

def _module(name):
    """Registers (or returns) an importable stand-in module so pickle can name things in it."""
    if name in sys.modules:
        return sys.modules[name]
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    if "." in name:
        parent, _, child = name.rpartition(".")
        setattr(_module(parent), child, mod)
    return mod


def _define_class(module_name, class_name):
    cls = type(class_name, (object,), {"__module__": module_name})
    setattr(_module(module_name), class_name, cls)
    return cls


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks):
    raise RuntimeError("stand-in: never called")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    raise RuntimeError("stand-in: never called")


_utils = _module("torch._utils")
for fn in (_rebuild_tensor_v2, _rebuild_parameter):
    fn.__module__ = "torch._utils"
    fn.__qualname__ = fn.__name__
    setattr(_utils, fn.__name__, fn)

STORAGE_CLASSES = {code: _define_class("torch", name) for code, name in [
    ("e", "HalfStorage"), ("f", "FloatStorage"), ("d", "DoubleStorage"), ("q", "LongStorage"),
    ("bf16", "BFloat16Storage"),
]}
ITEM_SIZE = {"e": 2, "f": 4, "d": 8, "q": 8, "bf16": 2}

MODULE_CLASSES = {}
for dotted in ["torch.nn.modules.conv.Conv2d", "torch.nn.modules.batchnorm.BatchNorm2d",
               "torch.nn.modules.activation.LeakyReLU", "torch.nn.modules.container.Sequential",
               "torch.nn.modules.container.ModuleList", "models.yolo.Model", "models.yolo.IDetect",
               "models.common.Conv", "models.common.ImplicitA", "models.common.ImplicitM"]:
    mod, _, cls = dotted.rpartition(".")
    MODULE_CLASSES[cls] = _define_class(mod, cls)


class Storage:
    """Raw storage bytes, pickled as a persistent id exactly as torch.save does."""

    def __init__(self, code, values, key):
        self.code, self.key = code, key
        self.numel = len(values)
        if code == "bf16":
            self.data = b"".join(struct.pack("<f", v)[2:] for v in values)  # truncation: exact for test values
        else:
            self.data = struct.pack("<%d%s" % (len(values), code), *values)


class Tensor:
    """A strided view of a storage; reduces to torch._utils._rebuild_tensor_v2."""

    def __init__(self, storage, offset, size, stride, parameter=False):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
        self.parameter = parameter

    def __reduce_ex__(self, protocol):
        tensor = (_rebuild_tensor_v2, self.args)
        if not self.parameter:
            return tensor
        return (_rebuild_parameter, (_Rebuilt(tensor), True, collections.OrderedDict()))


class _Rebuilt:
    def __init__(self, reduce_value):
        self.reduce_value = reduce_value

    def __reduce_ex__(self, protocol):
        return self.reduce_value


def contiguous(storage, size, offset=0, parameter=False):
    stride, step = [], 1
    for dim in reversed(size):
        stride.insert(0, step)
        step *= dim
    return Tensor(storage, offset, size, stride, parameter)


class CheckpointPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", STORAGE_CLASSES[obj.code], obj.key, "cpu", obj.numel)
        return None


def nn_module(cls_name, parameters=(), buffers=(), modules=(), non_persistent=(), **attributes):
    """An object laid out like a torch.nn.Module's __dict__ (the hook dicts left out)."""
    obj = MODULE_CLASSES[cls_name].__new__(MODULE_CLASSES[cls_name])
    obj.__dict__.update({
        "training": False,
        "_parameters": collections.OrderedDict(parameters),
        "_buffers": collections.OrderedDict(buffers),
        "_non_persistent_buffers_set": set(non_persistent),
        "_forward_hooks": collections.OrderedDict(),
        "_modules": collections.OrderedDict(modules),
    })
    obj.__dict__.update(attributes)
    return obj


def pickle_checkpoint(obj, protocol=2):
    import io
    buffer = io.BytesIO()
    CheckpointPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


# ---------------------------------------------------------------- zip writer

def make_zip(entries, zip64=False, align=64, deflate=()):
    """entries: [(name, bytes)]. Stored payloads start on `align` bytes (PyTorch uses 64) by
    padding the local extra field; zip64=True writes zip64 extra fields and end records even
    though nothing needs them, as writers do for files over 4 GB."""
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        raw_name = name.encode()
        method = 8 if name in deflate else 0
        payload = zlib.compress(data)[2:-4] if method == 8 else data
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(out)
        extra = b""
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(payload))
        header_len = 30 + len(raw_name) + len(extra)
        if align and method == 0:
            pad = (-(offset + header_len + 4)) % align
            extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # 'FB' padding field, like PyTorch
        size32 = 0xFFFFFFFF if zip64 else len(payload)
        usize32 = 0xFFFFFFFF if zip64 else len(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, method, 0, 0x21,
                           crc, size32, usize32, len(raw_name), len(extra))
        out += raw_name + extra + payload
        if zip64:
            cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(payload), offset)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, crc,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(raw_name), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF)
            central += raw_name + cextra
        else:
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                   len(payload), len(data), len(raw_name), 0, 0, 0, 0, 0, offset)
            central += raw_name
    cd_offset = len(out)
    out += central
    count = len(entries)
    if zip64:
        record = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, record, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


def checkpoint_zip(folder, pickled, storages, byteorder=b"little", **zip_options):
    entries = [(folder + "/data.pkl", pickled), (folder + "/byteorder", byteorder)]
    entries += [(folder + "/data/" + s.key, s.data) for s in storages]
    entries.append((folder + "/version", b"3\n"))
    return make_zip(entries, **zip_options)


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- valid fixtures

def tiny_model(seed):
    """A two-layer YOLOv7-style model object (Conv + IDetect with implicit layers), values
    offset by `seed` so that the 'model' and 'ema' copies differ."""
    storages = []

    def storage(code, values):
        s = Storage(code, values, str(len(storages)))
        storages.append(s)
        return s

    conv_w = storage("e", [seed + (i % 7) * 0.25 for i in range(4 * 3 * 3 * 3)])
    # BatchNorm weight and bias share one storage, as views at different offsets.
    bn_wb = storage("f", [1.0, 1.5, 2.0, 2.5, 0.5, -0.5, 0.25, -0.25])
    bn_mean = storage("f", [0.1, 0.2, 0.3, 0.4])
    bn_var = storage("f", [1.0, 2.0, 3.0, 4.0])
    tracked = storage("q", [1234])
    anchors = storage("f", [1.25, 1.625, 2.0, 3.75, 4.125, 2.875])
    stride = storage("f", [8.0])
    head_w = storage("e", [(i % 5) * 0.5 - 1.0 for i in range(21 * 4)])
    head_b = storage("f", [float(i) for i in range(21)])
    ia = storage("f", [0.0, 0.01, 0.02, 0.03])
    im = storage("f", [1.0 + i / 64 for i in range(21)])
    scratch = storage("f", [9.0, 9.0])

    conv = nn_module("Conv2d", parameters=[("weight", contiguous(conv_w, [4, 3, 3, 3], parameter=True)),
                                           ("bias", None)],
                     in_channels=3, out_channels=4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1),
                     dilation=(1, 1), groups=1, padding_mode="zeros")
    bn = nn_module("BatchNorm2d",
                   parameters=[("weight", contiguous(bn_wb, [4], 0, True)), ("bias", contiguous(bn_wb, [4], 4, True))],
                   buffers=[("running_mean", contiguous(bn_mean, [4])), ("running_var", contiguous(bn_var, [4])),
                            ("num_batches_tracked", Tensor(tracked, 0, [], []))],
                   num_features=4, eps=0.001, momentum=0.03)
    act = nn_module("LeakyReLU", negative_slope=0.1, inplace=True)
    layer0 = nn_module("Conv", modules=[("conv", conv), ("bn", bn), ("act", act)], i=0, f=-1,
                       type="models.common.Conv", np=148)
    head_conv = nn_module("Conv2d", parameters=[("weight", contiguous(head_w, [21, 4, 1, 1], parameter=True)),
                                                ("bias", contiguous(head_b, [21], parameter=True))],
                          kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), groups=1)
    detect = nn_module("IDetect",
                       buffers=[("anchors", contiguous(anchors, [1, 3, 2])),
                                ("scratch", contiguous(scratch, [2]))],
                       non_persistent=["scratch"],
                       modules=[("m", nn_module("ModuleList", modules=[("0", head_conv)])),
                                ("ia", nn_module("ModuleList", modules=[
                                    ("0", nn_module("ImplicitA", parameters=[("implicit", contiguous(ia, [1, 4, 1, 1], parameter=True))]))])),
                                ("im", nn_module("ModuleList", modules=[
                                    ("0", nn_module("ImplicitM", parameters=[("implicit", contiguous(im, [1, 21, 1, 1], parameter=True))]))]))],
                       nc=2, no=7, nl=1, na=3, i=1, f=[0], stride=contiguous(stride, [1]))
    yaml = {"nc": 2, "depth_multiple": 1.0, "width_multiple": 1.0,
            "anchors": [[10, 13, 16, 30, 33, 23]],
            "backbone": [[-1, 1, "Conv", [4, 3, 2, None, 1, "nn.LeakyReLU(0.1)"]]],
            "head": [[[0], 1, "IDetect", ["nc", "anchors"]]], "ch": 3}
    model = nn_module("Model", modules=[("model", nn_module("Sequential", modules=[("0", layer0), ("1", detect)]))],
                      yaml_file="tiny.yaml", yaml=yaml, save=[0], names=["cell", "other"],
                      stride=contiguous(stride, [1]), nc=2)
    return model, storages


def valid_fixtures():
    # The training code's dict: 'ema' must win over 'model'. The two copies use disjoint keys.
    model, model_storages = tiny_model(seed=0.0)
    ema, ema_storages = tiny_model(seed=0.5)
    for s in ema_storages:
        s.key = "e" + s.key
    ckpt = {"epoch": -1, "best_fitness": 0.5, "training_results": None, "model": model, "ema": ema,
            "updates": 100, "optimizer": None, "wandb_id": None}
    write(VALID, "tiny_model.pt", checkpoint_zip("tiny_model", pickle_checkpoint(ckpt), model_storages + ema_storages))
    # As strip_optimizer leaves it: 'ema' None, the model under 'model'.
    ckpt = {"epoch": -1, "model": model, "ema": None, "optimizer": None}
    write(VALID, "tiny_model_stripped.pt", checkpoint_zip("archive", pickle_checkpoint(ckpt), model_storages))

    # A bare state dict under 'state_dict' with views that are not plain row-major.
    base = Storage("f", [float(i) for i in range(8)], "0")
    half = Storage("e", [0.5, -2.0, 65504.0, 6.103515625e-05, 5.960464477539063e-08, -0.0], "1")
    bf16 = Storage("bf16", [1.0, -3.5, 256.0], "2")
    f64 = Storage("d", [0.1, 1e10], "3")
    i64 = Storage("q", [-7, 42], "4")
    sd = collections.OrderedDict([
        ("transposed", Tensor(base, 1, [2, 3], [1, 2])),       # [[1,3,5],[2,4,6]]
        ("expanded", Tensor(base, 4, [2, 3], [0, 1])),         # [[4,5,6],[4,5,6]]
        ("row", Tensor(base, 6, [1, 2], [99, 1])),             # size-1 dim, any stride: [[6,7]]
        ("scalar", Tensor(base, 3, [], [])),                   # 3
        ("empty", Tensor(base, 0, [0, 4], [4, 1])),
        ("half", contiguous(half, [6])),
        ("bf16", contiguous(bf16, [3])),
        ("f64", contiguous(f64, [2])),
        ("i64", contiguous(i64, [2])),
        ("bn.num_batches_tracked", Tensor(i64, 0, [], [])),
    ])
    storages = [base, half, bf16, f64, i64]
    pickled = pickle_checkpoint({"state_dict": sd, "note": "bare"})
    write(VALID, "state_dict.pt", checkpoint_zip("state_dict", pickled, storages))
    write(VALID, "state_dict_zip64.pt", checkpoint_zip("state_dict", pickled, storages, zip64=True, align=0))
    write(VALID, "state_dict_protocol4.pt",
          checkpoint_zip("p4", pickle_checkpoint({"state_dict": sd}, protocol=4), storages))
    write(VALID, "state_dict_toplevel.pt", checkpoint_zip("top", pickle_checkpoint(sd), storages))

    # Plain data at three protocols, for the pickle machine's opcode coverage.
    shared = [1, 2]
    plain = {"int": 1, "neg": -70000, "i32": 2 ** 31 - 1, "big": 2 ** 70, "minus_big": -(2 ** 64),
             "i64min": -(2 ** 63), "float": 2.5, "str": "h\u00e9llo \u2603", "bytes": b"\x00\xff\x10",
             "list": [1, [2, 3]], "tuple": (1, 2, 3), "set": {7}, "frozen": frozenset({8}), "none": None,
             "true": True, "false": False, "shared_a": shared, "shared_b": shared, "empty": {},
             "quote": "it's \"q\"\n\\"}
    for protocol in (0, 2, 5):
        write(VALID, "plain_p%d.pkl" % protocol, pickle.dumps(plain, protocol=protocol))


# ---------------------------------------------------------------- hostile fixtures

def hostile_fixtures():
    model, storages = tiny_model(seed=0.0)
    good_pickle = pickle_checkpoint({"model": model, "ema": None})
    good = checkpoint_zip("victim", good_pickle, storages)

    # The classic: os.system called on load.
    write(HOSTILE, "os_system.pt", checkpoint_zip("evil", b"\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo pwned!\x85R.", []))
    # Protocol 4 spelling: STACK_GLOBAL builtins.eval.
    evil = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x0aprint('x')\x85R."
    write(HOSTILE, "builtins_eval.pt", checkpoint_zip("evil", evil, []))
    # A forbidden global hidden inside an otherwise valid model object.
    hidden = good_pickle.replace(b"cmodels.common\nImplicitM\n", b"csubprocess\nPopen\n")
    assert hidden != good_pickle
    write(HOSTILE, "subprocess_hidden.pt", checkpoint_zip("evil", hidden, storages))
    # copyreg extension codes can name any callable.
    write(HOSTILE, "ext_code.pt", checkpoint_zip("evil", b"\x80\x02\x82\x01)R.", []))

    write(HOSTILE, "truncated.pt", good[: len(good) * 6 // 10])
    write(HOSTILE, "not_a_zip.pt", b"\x80\x02}q\x00.")  # a bare pickle, the pre-1.6 layout

    # A [4, 3, 3, 3] half tensor whose storage holds only 100 of its 108 elements.
    short = Storage("e", [0.0] * 100, "0")
    sd = collections.OrderedDict([("layer.weight", contiguous(short, [4, 3, 3, 3]))])
    write(HOSTILE, "short_storage.pt", checkpoint_zip("short", pickle_checkpoint(sd), [short]))
    # The pickle claims a storage key that the archive lacks.
    missing = Storage("f", [1.0], "7")
    sd = collections.OrderedDict([("w", contiguous(missing, [1]))])
    write(HOSTILE, "missing_storage.pt", checkpoint_zip("missing", pickle_checkpoint(sd), []))
    # A view whose strides reach past the storage (non-contiguous, not just short).
    strided = Storage("f", [0.0] * 6, "0")
    sd = collections.OrderedDict([("w", Tensor(strided, 0, [3, 3], [1, 3]))])
    write(HOSTILE, "stride_overrun.pt", checkpoint_zip("stride", pickle_checkpoint(sd), [strided]))

    write(HOSTILE, "big_endian.pt", checkpoint_zip("victim", good_pickle, storages, byteorder=b"big"))
    write(HOSTILE, "deflated.pt", make_zip([("victim/data.pkl", good_pickle), ("victim/byteorder", b"little")]
                                           + [("victim/data/" + s.key, s.data) for s in storages],
                                           deflate={"victim/data.pkl"}))
    corrupt = bytearray(good)
    payload = good.index(storages[0].data[:16])
    corrupt[payload] ^= 0x55
    write(HOSTILE, "bad_crc.pt", bytes(corrupt))

    # 100,000-deep nesting two ways: lists via APPEND, and a chain of TUPLE1 (the tests build
    # 100,000 MARKs and 100,000-deep JSON in memory, to keep the fixtures small).
    depth = 100_000
    lists = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    write(HOSTILE, "deep_lists.pt", checkpoint_zip("deep", lists, []))
    tuples = b"\x80\x02N" + b"\x85" * depth + b"."
    write(HOSTILE, "deep_tuples.pt", checkpoint_zip("deep", tuples, []))
    # Values that only a walk over the decoded graph can see are too deep: a 3,000-long chain
    # of lists built through the memo (the stack never grows), and a list that contains itself,
    # each stored as a model object's `yaml` attribute.
    def model_with_yaml(value_ops):
        return (b"\x80\x02}X\x05\x00\x00\x00modelcmodels.yolo\nModel\n)\x81}X\x04\x00\x00\x00yaml"
                + value_ops + b"sbs.")
    chain = bytearray(b"]r\x00\x00\x00\x00")
    for i in range(1, 3000):
        chain += b"]r" + struct.pack("<I", i) + b"a0j" + struct.pack("<I", i)
    chain += b"0j\x00\x00\x00\x00"
    write(HOSTILE, "deep_memo_chain.pt", checkpoint_zip("deep", model_with_yaml(bytes(chain)), []))
    write(HOSTILE, "cycle.pt", checkpoint_zip("cycle", model_with_yaml(b"]r\x00\x00\x00\x00j\x00\x00\x00\x00a"), []))

    # Exponential unfolding through shared references: L0 = [L1, L1], L1 = [L2, L2], ... 40
    # levels, shallow enough for the depth limit, 2^40 paths for a naive walk.
    blowup = bytearray(b"]r" + struct.pack("<I", 40) + b"0")
    for i in range(39, -1, -1):
        blowup += b"]r" + struct.pack("<I", i) + b"(j" + struct.pack("<I", i + 1) + b"j" + struct.pack("<I", i + 1) + b"e0"
    blowup += b"j" + struct.pack("<I", 0)
    write(HOSTILE, "shared_blowup.pt", checkpoint_zip("blowup", model_with_yaml(bytes(blowup)), []))
    # Quadratic work: set(big_list) rebuilt 2,000 times from one memoized 5,000-item list.
    bomb = bytearray(b"\x80\x02c__builtin__\nset\nq\x00]q\x01(" + b"K\x07" * 5_000 + b"e0")
    bomb += b"h\x00h\x01\x85R0" * 2_000
    bomb += b"N."
    write(HOSTILE, "rebuild_bomb.pt", checkpoint_zip("bomb", bytes(bomb), []))

    # ---- safetensors
    def st(header, data, length=None):
        raw = header.encode()
        return struct.pack("<Q", len(raw) if length is None else length) + raw + data

    write(HOSTILE, "header_past_end.safetensors", st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4, length=4096))
    write(HOSTILE, "huge_header_length.safetensors", struct.pack("<Q", 2 ** 63 + 5) + b"{}")
    write(HOSTILE, "offsets_outside.safetensors", st('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', b"\0" * 8))
    write(HOSTILE, "overlap.safetensors",
          st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', b"\0" * 12))
    write(HOSTILE, "gap.safetensors",
          st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', b"\0" * 12))
    write(HOSTILE, "size_mismatch.safetensors", st('{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}', b"\0" * 8))
    write(HOSTILE, "bad_dtype.safetensors", st('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', b"\0" * 16))
    write(HOSTILE, "metadata_not_string.safetensors", st('{"__metadata__":{"bits":4}}', b""))
    write(HOSTILE, "duplicate_key.safetensors",
          st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0"))
    write(HOSTILE, "not_json.safetensors", st("{this is not json}", b""))
    write(HOSTILE, "shape_overflow.safetensors",
          st('{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}', b""))

    # ---- images (the server's tests post it): a PNG whose header claims 50,000 x 50,000 RGB
    # (7.5 GB decoded) around one empty deflate block; refused from the header alone.
    def png_chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    write(HOSTILE, "png_claims_50000x50000.png", b"\x89PNG\r\n\x1a\n"
          + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
          + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b""))


def main():
    valid_fixtures()
    hostile_fixtures()
    for folder in (VALID, HOSTILE):
        names = sorted(os.listdir(folder))
        print(folder, len(names), "files,", sum(os.path.getsize(os.path.join(folder, n)) for n in names), "bytes")


if __name__ == "__main__":
    main()
