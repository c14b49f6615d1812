#!/usr/bin/env python3
"""PyTorch CPU reference for bench/infer.bench.ts: builds the folded network described by a @dirac model
spec (JSON on stdin: {"runs": [{"net", "batch", "layers", "inputShape", "budget_s"}], "threads"}) with
random weights, and prints one JSON line per run: {"net", "batch", "images_per_s", "threads", "reps"}.
"threads" is a count or a list of counts to try; the best is reported with the count that gave it.

Layers: conv (explicit padding, bias), relu (a ReLU right after a ReLU is skipped, as in the JS engines),
maxpool, globalAvgPool, linear. NCHW float32, torch.inference_mode(), best of the timed repetitions.
"""
import json
import sys
import time

import torch
from torch import nn


def build(layers):
    mods = []
    last_relu = False
    for layer in layers:
        t = layer["type"]
        if t == "conv":
            (pt, pb), (pl, pr) = layer["padding"]
            if pt != pb or pl != pr:
                mods.append(nn.ZeroPad2d((pl, pr, pt, pb)))
                pad = (0, 0)
            else:
                pad = (pt, pl)
            mods.append(
                nn.Conv2d(layer["inChannels"], layer["outChannels"], tuple(layer["kernel"]),
                          stride=tuple(layer["stride"]), padding=pad, bias=layer["bias"])
            )
            last_relu = False
        elif t == "relu":
            if not last_relu:
                mods.append(nn.ReLU(inplace=True))
            last_relu = True
        elif t == "maxpool":
            p = layer["padding"][0][0]
            mods.append(nn.MaxPool2d(tuple(layer["kernel"]), tuple(layer["stride"]), p))
        elif t == "globalAvgPool":
            mods.append(nn.AdaptiveAvgPool2d(1))
            mods.append(nn.Flatten())
            last_relu = False
        elif t == "linear":
            mods.append(nn.Linear(layer["inFeatures"], layer["outFeatures"]))
            last_relu = False
        else:
            raise SystemExit(f"unsupported layer type {t}")
    return nn.Sequential(*mods).eval()


def main():
    req = json.load(sys.stdin)
    # "threads": a count, or a list of counts to try (the best is reported: on a busy machine fewer threads
    # than cores can be faster, and PyTorch deserves its best).
    threads = req.get("threads", 2)
    threads = [int(t) for t in (threads if isinstance(threads, list) else [threads])]
    torch.manual_seed(0)
    for run in req["runs"]:
        h, w, c = run["inputShape"]
        net = build(run["layers"])
        x = torch.randn(run["batch"], c, h, w)
        best, best_threads, reps = float("inf"), threads[0], 0
        with torch.inference_mode():
            for n in threads:
                torch.set_num_threads(n)
                for _ in range(2):
                    net(x)
                times = []
                start = time.perf_counter()
                while len(times) < 3 or (time.perf_counter() - start < run["budget_s"] / len(threads)
                                         and len(times) < 200):
                    t0 = time.perf_counter()
                    net(x)
                    times.append(time.perf_counter() - t0)
                reps += len(times)
                if min(times) < best:
                    best, best_threads = min(times), n
        print(json.dumps({"net": run["net"], "batch": run["batch"], "images_per_s": run["batch"] / best,
                          "threads": best_threads, "reps": reps}), flush=True)


if __name__ == "__main__":
    main()
