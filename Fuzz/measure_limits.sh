#!/usr/bin/env bash
# Measures how the built CLI refuses the hostile inputs of docs/SECURITY.md: each file is made
# in a temporary folder and run under /usr/bin/time -v; prints the error line, wall time and
# maximum resident memory.
#   Fuzz/measure_limits.sh [path/to/yolov7]     (default: .build/release/yolov7)
# Weights files go through `yolov7 inspect FILE`, images through
# `yolov7 detect --weights weights/yolov7-tiny-bccd.pt FILE` (model load included).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${1:-$root/.build/release/yolov7}"
weights="$root/weights/yolov7-tiny-bccd.pt"
dir="$(mktemp -d "${TMPDIR:-/tmp}/yolov7-limits.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

python3 - "$dir" <<'PY'
import io, json, struct, sys, zipfile, zlib
d = sys.argv[1]
def chunk(t, data): return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data) & 0xffffffff)
# A 68-byte PNG whose IHDR says 50,000 x 50,000 RGB (7.5 GB decoded).
open(f'{d}/png_50000x50000.png', 'wb').write(
    b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 50000, 50000, 8, 2, 0, 0, 0))
    + chunk(b'IDAT', zlib.compress(b'\x00' * 16)) + chunk(b'IEND', b''))
# A JPEG header (SOF0) claiming 65,535 x 65,535, with tables and a scan so that libjpeg reads it.
def jpeg(w, h):
    sof = b'\xff\xc0' + struct.pack('>HBHHB', 17, 8, h, w, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    dqt = b''.join(b'\xff\xdb' + struct.pack('>H', 67) + bytes([t]) + bytes([1] * 64) for t in (0, 1))
    dht = b''.join(b'\xff\xc4' + struct.pack('>H', 20) + bytes([c]) + bytes([1] + [0] * 15) + b'\x00' for c in (0x00, 0x10, 0x01, 0x11))
    sos = b'\xff\xda' + struct.pack('>HB', 12, 3) + bytes([1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
    return b'\xff\xd8' + dqt + sof + dht + sos + b'\x00' * 64 + b'\xff\xd9'
open(f'{d}/jpeg_65535x65535.jpg', 'wb').write(jpeg(65535, 65535))
open(f'{d}/jpeg_60000x60000.jpg', 'wb').write(jpeg(60000, 60000))
# A checkpoint whose pickle nests lists 100,000 deep (protocol 2: 100,000 EMPTY_LIST, then APPENDs).
def pt(name, pkl):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/byteorder', 'little')
    open(f'{d}/{name}', 'wb').write(buf.getvalue())
n = 100_000
pt('pickle_lists_100000_deep.pt', b'\x80\x02' + b']' * n + b'a' * (n - 1) + b'.')
pt('pickle_tuples_100000_deep.pt', b'\x80\x02N' + b'\x85' * n + b'.')
# safetensors whose 8-byte length says 2,000,000,000 and whose header really is that long
# (sparse: '{' and then a hole), and one that only claims it.
with open(f'{d}/safetensors_header_2GB.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', 2_000_000_000) + b'{')
    f.truncate(8 + 2_000_000_000)
open(f'{d}/safetensors_header_2GB_claimed.safetensors', 'wb').write(struct.pack('<Q', 2_000_000_000) + b'{"a":1}')
# Model YAML nested 100,000 deep in a weights file's metadata.
h = json.dumps({'__metadata__': {'format': 'yolov7-swift', 'config': '[' * n + ']' * n}}).encode()
h += b' ' * (-len(h) % 8)
open(f'{d}/yaml_100000_deep.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h)
PY

measure() {
    local file=$1; shift
    /usr/bin/time -v "$@" > "$dir/out" 2> "$dir/err"
    local rc=$?
    local line wall rss
    line=$(grep -m1 "^yolov7: " "$dir/err" | cut -c1-150)
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/err")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/err")
    printf '%-44s exit %-3s %9s %9s KB  %s\n' "$file" "$rc" "$wall" "$rss" "${line#yolov7: $dir/}"
}
echo "file                                         exit      wall   max RSS     message"
for f in safetensors_header_2GB.safetensors safetensors_header_2GB_claimed.safetensors \
         pickle_lists_100000_deep.pt pickle_tuples_100000_deep.pt yaml_100000_deep.safetensors; do
    measure "$f" "$cli" inspect "$dir/$f"
done
for f in png_50000x50000.png jpeg_65535x65535.jpg jpeg_60000x60000.jpg; do
    measure "$f" "$cli" detect --weights "$weights" "$dir/$f"
done
measure "(baseline) inspect yolov7-tiny-bccd.pt" "$cli" inspect "$weights"
