"""Time one training step of the VAE or the DiT under one torch build and one variant.

    python3 bench_step.py --model vae|vae-legacy|dit --variant eager|channels-last|bf16|compile

Prints one JSON line: the median and all timed step times (seconds). The batch is rendered once
before timing, so the figures are the network's forward, backward and AdamW step only (the same
work in every variant). bench_speed.py runs this under both torch builds, alternating variants.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import data
from nets import DiT, TextEncoder, setup_torch
from train_vae import batch, vae_from_config, vae_loss


def make_step(args):
    """A closure doing one optimiser step, and the module(s) it trains."""
    if args.model.startswith("vae"):
        cfg = {"arch": "legacy"} if args.model == "vae-legacy" else \
            {"arch": "causal", "enc_ch": [32, 64, 128], "dec_ch": [128, 64, 32, 16]}
        net = vae_from_config(cfg)
        x, fg = batch(np.random.default_rng(0), "1:1", 6, pattern_share=0.4)
        legacy = args.model == "vae-legacy"
        if args.variant == "channels-last":
            net = net.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        fn = (lambda: vae_loss(net, x, fg, 0.0, 0.0)) if legacy else (lambda: vae_loss(net, x, fg))
        params = list(net.parameters())
    else:
        te, net = TextEncoder(len(data.VOCAB)), DiT()
        g = torch.Generator().manual_seed(0)
        B, C = 32, net.channels
        x0 = torch.randn(B, C, 4, 8, 8, generator=g)
        noise = torch.randn(B, C, 4, 8, 8, generator=g)
        t = torch.rand(B, generator=g)
        ids = torch.randint(2, len(data.VOCAB), (B, data.MAX_TOKENS), generator=g)
        mask = torch.ones(B, data.MAX_TOKENS, dtype=torch.long)
        cm = torch.zeros(B, 1, 4, 8, 8)
        cm[: B // 2, :, :2] = 1
        if args.variant == "channels-last":
            net = net.to(memory_format=torch.channels_last_3d)

        def fn():
            xt = (1 - t[:, None, None, None, None]) * x0 + t[:, None, None, None, None] * noise
            v = net(xt, t * 1000, te(ids, mask), mask, x0, cm)
            err = v - (noise - x0)
            d = err[:, :, 1:] - err[:, :, :-1]
            return (err * err).mean() + 2 * (d * d).mean()
        params = list(te.parameters()) + list(net.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    if args.variant == "compile":
        fn = torch.compile(fn)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.variant == "bf16"):
            loss = fn()
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()
        return float(loss.detach())
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vae", choices=["vae", "vae-legacy", "dit"])
    ap.add_argument("--variant", default="eager", choices=["eager", "channels-last", "bf16", "compile"])
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    setup_torch(0)
    if args.variant == "compile" and not hasattr(torch, "compile"):
        print(json.dumps({"model": args.model, "variant": args.variant, "torch": torch.__version__,
                          "skipped": "torch.compile needs torch 2"}))
        return
    step = make_step(args)
    t0 = time.time()
    for _ in range(args.warmup):
        step()
    warm = time.time() - t0
    times = []
    for _ in range(args.steps):
        t = time.time()
        loss = step()
        times.append(time.time() - t)
    print(json.dumps({"model": args.model, "variant": args.variant, "torch": torch.__version__,
                      "python": platform.python_version(), "threads": torch.get_num_threads(),
                      "median_s": float(np.median(times)), "times_s": [round(x, 3) for x in times],
                      "warmup_s": round(warm, 2), "loss_finite": bool(np.isfinite(loss)),
                      "load_avg": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
