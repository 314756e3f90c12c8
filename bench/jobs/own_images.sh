#!/bin/bash
# The "Your own images" walkthrough of README and docs/guides/own-images.md, timed command by command, on a
# folder of images given as the first argument (flat, no labels). Writes docs/results/own-images-commands.json.
#   bench/jobs/own_images.sh FOLDER [STEPS]       # STEPS: training steps (default 2000)
# The folder used for the published times: 5,000 colour 32 px PNG files, made by
#   python bench/jobs/colour_digits.py --data-dir "$MNIST_DIR" --out FOLDER
set -e
cd "$(dirname "$0")/../.."
FOLDER=${1:?give the folder of images}
STEPS=${2:-2000}
G=.venv/bin/gmgan
RUN=runs/own/mine
rm -rf "$RUN" runs/own/my_clusters
declare -a NAMES TIMES
t() {  # t NAME COMMAND...: run, time, remember
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  NAMES+=("$1 ${*:2}")
  TIMES+=("$(echo "$end - $start" | bc)")
}
t $G train --data-dir "$FOLDER" --out $RUN --steps "$STEPS" --no-progress
t $G sample $RUN --n 100
t $G evaluate $RUN --no-progress
t $G cluster $RUN --export runs/own/my_clusters --no-progress
t $G report $RUN
.venv/bin/python - "$FOLDER" "$STEPS" "${#NAMES[@]}" "${NAMES[@]}" "${TIMES[@]}" <<'EOF'
import json, sys
folder, steps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names, times = sys.argv[4:4 + n], sys.argv[4 + n:4 + 2 * n]
rows = [{"command": c.replace(folder, "FOLDER").replace(".venv/bin/", ""), "seconds": round(float(s), 1)}
        for c, s in zip(names, times)]
out = {"command": f"bench/jobs/own_images.sh FOLDER {steps}", "steps": steps, "rows": rows}
open("docs/results/own-images-commands.json", "w").write(json.dumps(out, indent=1) + "\n")
for r in rows:
    print(f"{r['seconds']:8.1f} s  {r['command']}")
EOF
