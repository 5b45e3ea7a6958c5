#!/usr/bin/env bash
# The inspect --html page of three logs, and a screenshot of each, in Chromium (no
# browser download): a 9-actor all-actors run, a 2-actor v0 run that fails, a deadlock.
#   docs/screenshots.sh [OUT]   (default OUT: runs/screenshots; run from the checkout)
set -euo pipefail
out=${1:-runs/screenshots}
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
iommu-stress run configs/all-actors.toml --seed 0 --log all --out "$out/all-actors" >/dev/null || true
iommu-stress run --version v0 --seed 1 --out "$out/v0" >/dev/null || true
iommu-stress run --plugin tests.plugins.broken_engine:DeadlockingDone --seed 0 \
    --out "$out/deadlock" >/dev/null || true
for name in all-actors:0 v0:1 deadlock:0; do
    run=${name%:*} seed=${name#*:}
    iommu-stress inspect "$out/$run/logs/$seed.jsonl" --html "$out/$run.html" >/dev/null
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,800 \
        --screenshot="$out/$run.png" "file://$(realpath "$out/$run.html")" 2>/dev/null
    echo "$out/$run.png"
done
