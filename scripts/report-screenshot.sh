#!/usr/bin/env bash
# Makes docs/report-scenario.png, the README's picture of `egress-xray report`
# on the scenario's samples (both gateways, the push before/after, Trap 2's
# logs), with Debian's headless Chromium. Run from anywhere:
#   bash scripts/report-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "needs chromium (Debian: apt-get install chromium)" >&2; exit 1; }
out="$(mktemp -d "${TMPDIR:-/tmp}/egress-xray-shot.XXXXXX")"
trap 'rm -rf "$out"' EXIT
s=samples
SOURCE_DATE_EPOCH=1767225600 cargo run --quiet --release -- report \
  $s/egw-mtls.config_dump.json $s/egw-pt.config_dump.json \
  $s/push/egw-pt.before.config_dump.json $s/push/egw-pt.after.config_dump.json \
  --envoy-log $s/trap2/egw-mtls-6c8f9d7b5-x2k4p.egress-mtls.log \
  --envoy-log $s/trap2/egw-pt-7d9f8c6b4-q8mzl.egress-pt.log \
  --istiod-log $s/trap2/istiod.log --istio $s/trap2/istio \
  --diff $s/push/egw-pt.before.config_dump.json $s/push/egw-pt.after.config_dump.json \
  -O "$out/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --disable-background-networking --disable-component-update --no-first-run \
  --hide-scrollbars --user-data-dir="$out/profile" --window-size=1280,1400 \
  --screenshot="$PWD/docs/report-scenario.png" "file://$out/report.html" 2>/dev/null
echo "wrote docs/report-scenario.png"
