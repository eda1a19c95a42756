#!/usr/bin/env bash
# The project's whole test run: README.md's test command, which .ci/run calls after installing
# the Debian packages. Each step says what it checks; a step whose tools are missing on this
# machine says so and is skipped (CI installs them all, so nothing is skipped there).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== swift test (release)"
swift test -c release -Xswiftc -enable-testing

echo "== compare --report in headless Chromium (desktop and phone widths)"
# The executable swift test built for CLITests (building it again with other flags would
# recompile everything).
[ -x .build/release/yolov7 ] || swift build -c release --product yolov7 > /dev/null
tools/check_report_browser.sh
