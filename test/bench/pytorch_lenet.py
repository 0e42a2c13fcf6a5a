"""PyTorch CPU reference for the LeNet-5 training benchmark (installs nothing).

Same architecture as shared/model.ts (Conv 6@5x5 tanh, AvgPool 2 s1, Conv 16@5x5 tanh, AvgPool 2 s2,
Conv 120@5x5 tanh, Flatten, Dense 84 tanh, Dense 10 softmax), Adam lr 1e-3, categorical cross-entropy,
batch 32, real MNIST from the IDX files in DATA_DIR, shuffled, pixels scaled to [0, 1].

  /usr/bin/python3 test/bench/pytorch_lenet.py DATA_DIR [--batches 300] [--warmup 20] [--threads 2]

Prints one JSON line: {"imagesPerSecond": ..., "msPerBatch": ..., ...}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("--batches", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    images = read_idx(os.path.join(a.data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte"))
    x_all = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y_all = torch.from_numpy(labels.astype(np.int64))
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2, stride=1),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120 * 5 * 5, 84), nn.Tanh(), nn.Linear(84, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()  # softmax + categorical cross-entropy
    order = torch.randperm(x_all.shape[0])
    bs = a.batch_size

    def step(i):
        idx = order[(i * bs) % (x_all.shape[0] - bs):][:bs]
        xb, yb = x_all[idx], y_all[idx]
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        return loss.item(), (out.argmax(1) == yb).float().mean().item()

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.batches):
        step(a.warmup + i)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "framework": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "batchSize": bs, "batches": a.batches,
        "imagesPerSecond": round(a.batches * bs / seconds, 1),
        "msPerBatch": round(seconds * 1000 / a.batches, 3),
    }))


if __name__ == "__main__":
    main()
