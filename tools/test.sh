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

