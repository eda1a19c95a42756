#!/usr/bin/env bash
# The project's whole test run: README.md's test command, which .ci/run calls after installing
# the Debian packages. Each step says what it checks; a step whose tools are missing on this
# machine says so and is skipped (CI installs them all, so nothing is skipped there).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== swift test (release)"
swift test -c release -Xswiftc -enable-testing

echo "== Examples/: the library used from a package of its own"
(cd Examples && swift build -c release)
examples="$(Examples/.build/release/DetectImages)"
echo "$examples"
if [[ $(grep -c " objects: " <<<"$examples") -ne 4 ]]; then
  echo "Examples: expected one line for each of the 4 pictures in images/" >&2
  exit 1
fi

echo "== yolov7 serve: 2 replicas behind nginx, driven by wrk (tools/serve_cluster.sh)"
if command -v nginx >/dev/null && command -v wrk >/dev/null; then
  cluster="$(tools/serve_cluster.sh 2 --img 320 --connections 4 --duration 5)"
  echo "$cluster"
  # Every request answered 200, none failed or timed out.
  if ! grep -Eq "RESULT requests=[1-9][0-9]* .* statuses=200:[0-9]+ timeouts=0 errors=0" <<<"$cluster"; then
    echo "serve_cluster.sh: not every request was answered 200" >&2
    exit 1
  fi
else
  echo "skipped: nginx or wrk not installed (apt-get install nginx wrk)"
fi
