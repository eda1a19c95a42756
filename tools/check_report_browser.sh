#!/usr/bin/env bash
# The compare report in a real browser: headless Chromium (Debian's `chromium`) renders it at a
# laptop (1366x900) and a phone (390x844) viewport, and this fails on any console message,
# a picture that did not load, a reference outside the report folder, a missing section, or a
# page wider than the viewport (tools/report_harness.html does the looking).
#
#   tools/check_report_browser.sh                     make a small report and check it (tools/test.sh)
#   tools/check_report_browser.sh DIR                 check the report in DIR
#   tools/check_report_browser.sh DIR --screenshots P also save P-desktop.png and P-phone.png
#
# The small report: 3 pictures from images/, the shipped model against a 3-bit round-to-nearest
# copy made on the spot (so there are missed and extra boxes to draw). Needs the release build.
# Skipped, with a message, where no Chromium is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${YOLOV7:-.build/release/yolov7}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "report browser check: skipped (no chromium on PATH; apt-get install chromium)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report=${1:-}
shots=
if [ "${2:-}" = "--screenshots" ]; then shots=${3:?--screenshots needs a path prefix}; fi
if [ -z "$report" ]; then
  mkdir "$work/images"
  cp images/BloodImage_00031.jpg images/BloodImage_00178.jpg images/BloodImage_00249.jpg "$work/images/"
  "$bin" quantize --weights weights/yolov7-tiny-bccd.pt --scheme affine --bits 3 --granularity filter \
    --out "$work/q3.safetensors" > /dev/null
  "$bin" compare --baseline weights/yolov7-tiny-bccd.pt --quantized "$work/q3.safetensors" --img 416 \
    --report "$work/report" "$work/images" > /dev/null
else
  cp -r "$report" "$work/report"
fi
cp tools/report_harness.html "$work/harness.html"

# Chromium in a container needs --no-sandbox; D-Bus and GPU complaints on stderr are noise.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions)
failed=0
for size in 1366x900 390x844; do
  w=${size%x*} h=${size#*x}
  timeout 120 "$browser" "${flags[@]}" --allow-file-access-from-files --window-size="$w,$((h + 40))" \
    --virtual-time-budget=20000 --enable-logging=stderr --v=0 --dump-dom \
    "file://$work/harness.html?w=$w&h=$h" > "$work/dom.txt" 2> "$work/log.txt" || true
  verdict=$(grep -o '<pre id="verdict">[^<]*' "$work/dom.txt" | sed 's/^<pre id="verdict">//' || true)
  [ -n "$verdict" ] || verdict="REPORT-CHECK FAIL: no verdict (Chromium did not run the harness)"
  console=$(grep ':CONSOLE' "$work/log.txt" || true)
  if [ -n "$console" ]; then verdict="REPORT-CHECK FAIL: console: $(echo "$console" | head -3 | tr '\n' ' ')"; fi
  echo "report browser check ${w}x${h}: ${verdict#REPORT-CHECK }"
  case "$verdict" in "REPORT-CHECK PASS"*) ;; *) failed=1 ;; esac
done

if [ -n "$shots" ]; then
  # Laptop: the top of the page. Phone: the first picture, at twice the pixels as phones show it
  # (through the harness, which opens the report at #image-1).
  timeout 120 "$browser" "${flags[@]}" --window-size=1366,900 --virtual-time-budget=15000 \
    --screenshot="$shots-desktop.png" "file://$work/report/index.html" > /dev/null 2>&1
  timeout 120 "$browser" "${flags[@]}" --allow-file-access-from-files --window-size=390,844 --force-device-scale-factor=2 \
    --virtual-time-budget=15000 --screenshot="$shots-phone.png" "file://$work/harness.html?w=390&h=844&at=image-1" > /dev/null 2>&1
  echo "wrote $shots-desktop.png, $shots-phone.png"
fi
exit $failed
