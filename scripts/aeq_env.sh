#!/usr/bin/env bash
# Google's AI Edge Quantizer for the comparison in benchmarks/bench_accuracy.py (method
# "aeq"), in a folder of its own (default build-aeq/site-packages), leaving the venv
# untouched.
#
# ai-edge-quantizer 0.10.0 requires absl-py, numpy, scipy, ml_dtypes and ai-edge-litert
# 2.3.0, which the venv has, and immutabledict and litert-lm-builder, which it does not.
# Installed --no-deps into a --target folder with immutabledict (litert-lm-builder is
# only imported by its LLM bundling, not by the quantizer), it runs on the venv's LiteRT;
# bench_accuracy.py appends the folder to sys.path only for the comparison.
#
#   bash scripts/aeq_env.sh [DIR]          # or: make aeq-env
#   python benchmarks/bench_accuracy.py --methods input_percentile,aeq [--aeq-path DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PY:-$VENV/bin/python}
DIR=${1:-build-aeq/site-packages}
mkdir -p "$DIR"
"$PY" -m pip install -q --no-deps --upgrade --target "$DIR" \
  "ai-edge-quantizer==0.10.0" "immutabledict==4.3.1"
# a smoke test on the venv's own packages: the static int8 recipe loads
GEARSHIFT_AEQ_PATH="$DIR" "$PY" - <<'PY'
import os, sys
sys.path.append(os.environ["GEARSHIFT_AEQ_PATH"])
from ai_edge_quantizer import quantizer, recipe
recipe.static_wi8_ai8()
print("ai-edge-quantizer importable: static_wi8_ai8 recipe loaded")
PY
echo "AEQ comparison ready: $DIR (bench_accuracy.py finds it by default there, else --aeq-path $DIR)"
