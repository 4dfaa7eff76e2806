#!/usr/bin/env bash
# TensorFlow Model Optimization Toolkit for the comparison in benchmarks/bench_train.py,
# in a folder of its own (default build-tfmot/site-packages), leaving the venv untouched.
#
# TFMOT needs Keras 2 (tf_keras) and pins absl-py~=1.2, which a normal install would
# downgrade in the venv (TensorFlow 2.21 runs with absl-py 2.x). Installed --no-deps
# into a --target folder, it runs on the venv's TensorFlow, absl-py, numpy, six, attrs
# and wrapt; bench_train.py appends the folder to sys.path only for the comparison.
# The versions: tf_keras must match TensorFlow's minor version (2.21.x for TF 2.21).
#
#   bash scripts/tfmot_env.sh [DIR]        # or: make tfmot-env
#   python benchmarks/bench_train.py --json out.json [--tfmot-path DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PY:-$VENV/bin/python}
DIR=${1:-build-tfmot/site-packages}
TF_KERAS=${TF_KERAS:-}
if [ -z "$TF_KERAS" ]; then
  tfv=$("$PY" -c "import tensorflow as tf; print('.'.join(tf.__version__.split('.')[:2]))")
  TF_KERAS="tf_keras~=$tfv.0"
fi
mkdir -p "$DIR"
"$PY" -m pip install -q --no-deps --upgrade --target "$DIR" \
  "$TF_KERAS" "tensorflow-model-optimization==0.8.1" "dm-tree==0.1.10"
# a smoke test on the venv's own packages: a pruning step and a QAT step on a tiny model
GEARSHIFT_TFMOT_PATH="$DIR" TF_CPP_MIN_LOG_LEVEL=3 "$PY" - <<'PY'
import os, sys
sys.path.append(os.environ["GEARSHIFT_TFMOT_PATH"])
import absl, numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as tk

x = np.random.default_rng(0).random((64, 6, 6, 1), dtype=np.float32)
y = np.arange(64) % 3
def tiny():
    return tk.Sequential([tk.Input((6, 6, 1)), tk.layers.Conv2D(4, 3, activation="relu"),
                          tk.layers.Flatten(), tk.layers.Dense(3, activation="softmax")])
sched = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
for m, cbs in ((tfmot.sparsity.keras.prune_low_magnitude(tiny(), pruning_schedule=sched),
                [tfmot.sparsity.keras.UpdatePruningStep()]),
               (tfmot.quantization.keras.quantize_model(tiny()), [])):
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=cbs)
print(f"tfmot {tfmot.__version__}, tf_keras {tk.__version__}, absl-py {absl.__version__}: prune and QAT steps ran")
PY
echo "TFMOT comparison ready: $DIR (bench_train.py finds it by default there, else --tfmot-path $DIR)"
