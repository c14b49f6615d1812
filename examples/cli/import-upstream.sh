#!/usr/bin/env bash
# Imports a checkpoint of the paper's PyTorch code (train.py's .pt7/.pth files, or its folded ImageNet
# files) without Python, folds it, and runs it on a batch given as .npy:
#
#   bash examples/cli/import-upstream.sh <checkpoint.pt7> <input.npy (float32 NCHW)> [out dir]
#
# examples/cli/cli.test.ts runs it on the small checkpoint in packages/models/test/fixtures/torch.
# Needs the packages built (`npm run build`).
set -euo pipefail
CHECKPOINT="$1"
INPUT="$2"
OUT="${3:-imported}"

#region import
npx dirac import-torch "$CHECKPOINT" --out "$OUT/training" --json   # reads tensors only: no code runs
npx dirac fold "$OUT/training" --out "$OUT/folded"                   # verified against the training form
#endregion import

#region predict
npx dirac predict --model "$OUT/folded" --input "$INPUT" --output "$OUT/logits.npy"
#endregion predict
