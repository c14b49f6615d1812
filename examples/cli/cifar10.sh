#!/usr/bin/env bash
# The CLI guides end to end: train a DiracNet-10-1 on CIFAR-10, resume it, evaluate it, fold it again,
# export it for ONNX (float32 and int8) and TF.js.
#
#   bash examples/cli/cifar10.sh [CIFAR-10 .tar.gz or folder] [run directory]
#
# Defaults: ../shared/data/cifar-10-binary.tar.gz and runs/diracnet-10-1-quick. TRAIN_LIMIT (default 4000)
# and TEST_LIMIT (default 1000) keep it a few minutes long; examples/cli/cifar10.slow.test.ts runs it with
# smaller ones.
# Needs the packages built (`npm run build`).
set -euo pipefail
DATA="${1:-../shared/data/cifar-10-binary.tar.gz}"
RUN="${2:-runs/diracnet-10-1-quick}"
TRAIN_LIMIT="${TRAIN_LIMIT:-4000}"
TEST_LIMIT="${TEST_LIMIT:-1000}"

#region train
npx dirac train --model diracnet-10-1 --data "$DATA" --out "$RUN" \
  --epochs 1 --batch-size 32 --train-limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT"
#endregion train

#region resume
# Continue a stopped run (Ctrl-C, a crash, SIGKILL) where its last checkpoint left it; options given
# here override the saved ones, so this also extends the finished one-epoch run to two epochs:
npx dirac train --resume "$RUN" --epochs 2
#endregion resume

#region eval
npx dirac eval --model "$RUN/folded" --data "$DATA" --limit "$TEST_LIMIT" --json
#endregion eval

#region fold
# `dirac train` already wrote the verified folded model to $RUN/folded; fold any training-form
# model directory yourself (it refuses to write when the outputs of both forms disagree):
npx dirac fold "$RUN/model" --out "$RUN/folded-again" --fp16
#endregion fold

#region export
npx dirac export "$RUN/folded" --format onnx --out "$RUN/model.onnx"
npx dirac export "$RUN/folded" --format tfjs --out "$RUN/web-model"
#endregion export

#region int8
# int8 (QDQ) ONNX, calibrated on training images: Dirac convs become an int8 filter plus an exact int8
# identity path (--no-split-identity quantizes them whole). Measure it like any model, and time it:
npx dirac export "$RUN/folded" --format onnx --quantize int8 --calibration "$DATA" --calibration-size 64 \
  --out "$RUN/model.int8.onnx"
npx dirac eval --model "$RUN/model.int8.onnx" --data "$DATA" --limit "$TEST_LIMIT" --json
node bench/onnx-variants.bench.mjs "$RUN/model.onnx" "$RUN/model.int8.onnx"
#endregion int8

ls "$RUN"
