#!/bin/bash
# Every output of the report from the committed records, into the folder $1, and their sha256 sums into $1.sums:
# the leaderboard, the README's block, every plot, the six exports (runs/configs/ablations x csv/json) and
# --columns. Run it before and after a refactor and diff the two .sums files: the same records must give the same
# bytes. It works on a scratch copy of results/ and README.md, so the checkout is left as it was.
set -euo pipefail
dest=$(realpath -m "$1"); rm -rf "$dest"; mkdir -p "$dest"
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); cp -r "$src/results" "$src/README.md" "$tmp/"
cd "$tmp"
PYTHONPATH=$src python -m benchmarks leaderboard > /dev/null
cp results/LEADERBOARD.md "$dest/"
sed -n "/leaderboard:start/,/leaderboard:end/p" README.md > "$dest/README-block.md"
cp -r results/plots "$dest/plots"
for table in runs configs ablations; do
  for format in csv json; do
    PYTHONPATH=$src python -m benchmarks leaderboard --format $format --table $table > "$dest/$table.$format"
  done
done
PYTHONPATH=$src python -m benchmarks leaderboard --columns > "$dest/columns.md"
cd "$src"; rm -rf "$tmp"
(cd "$dest" && find . -type f | sort | xargs sha256sum) > "$dest.sums"
