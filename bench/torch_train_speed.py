"""PyTorch CPU reference for bench/train-speed.bench.mjs: one SGD step of a CIFAR DiracNet in its training
form (Dirac-parameterized 3x3 convs + batch norm, as upstream v2), timed the same way. Written for this
benchmark; prints one JSON line. Usage: python3 torch_train_speed.py DEPTH WIDTH BATCH STEPS THREADS"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def build(depth, width):
    n = (depth - 4) // 6
    widths = [int(v * width) for v in (16, 32, 64)]
    params = {'conv': torch.randn(widths[0], 3, 3, 3) * (2 / 27) ** 0.5}
    bn = {'bn': widths[0]}
    blocks = []
    cin = widths[0]
    for g, w in enumerate(widths):
        for i in range(2 * n):
            name = 'g%d.b%d' % (g, i)
            params[name + '.w'] = torch.randn(w, cin, 3, 3) * (2 / (9 * cin)) ** 0.5
            params[name + '.a'] = torch.ones(w)
            params[name + '.b'] = torch.full((w,), 0.1)
            bn[name + '.bn'] = w
            blocks.append((g, name, torch.nn.init.dirac_(torch.empty(w, cin, 3, 3))))
            cin = w
    params['fc.w'] = torch.randn(10, cin) * (2 / cin) ** 0.5
    params['fc.b'] = torch.zeros(10)
    for k, c in bn.items():
        params[k + '.g'] = torch.rand(c)
        params[k + '.beta'] = torch.zeros(c)
    stats = {k: (torch.zeros(c), torch.ones(c)) for k, c in bn.items()}
    for v in params.values():
        v.requires_grad_(True)

    def f(x):
        o = F.conv2d(x, params['conv'], padding=1)
        o = F.relu(F.batch_norm(o, *stats['bn'], params['bn.g'], params['bn.beta'], training=True))
        last = 0
        for g, name, delta in blocks:
            if g != last:
                o = F.max_pool2d(o, 2)
                last = g
            w = params[name + '.w']
            w = params[name + '.b'].view(-1, 1, 1, 1) * F.normalize(w.view(w.shape[0], -1)).view_as(w) + params[name + '.a'].view(-1, 1, 1, 1) * delta
            o = F.conv2d(F.relu(o), w, padding=1)
            o = F.batch_norm(o, *stats[name + '.bn'], params[name + '.bn.g'], params[name + '.bn.beta'], training=True)
        o = F.adaptive_avg_pool2d(F.relu(o), 1).flatten(1)
        return F.linear(o, params['fc.w'], params['fc.b'])

    return f, params


def main():
    depth, width, batch, steps, threads = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    f, params = build(depth, width)
    decay = [v for k, v in params.items() if v.dim() > 1]
    rest = [v for k, v in params.items() if v.dim() <= 1]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': 5e-4}, {'params': rest}], lr=0.05, momentum=0.9, nesterov=True)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.arange(batch) % 10

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(f(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({'imagesPerSecond': batch / median, 'threads': threads, 'torch': torch.__version__}))


main()
