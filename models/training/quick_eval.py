"""Judge DiT checkpoints in PyTorch, without exporting them: the held-out prompts of evaluate.py
(23 triples x 3 aspects x --seeds seeds, 36 two-object prompts, 36 seen ones), sampled by the
package's sampler (rectified-flow Euler, classifier-free guidance, shift 1) in torch and decoded
by the VAE's primed decode, then scored by analyse.py.

It compares training runs on one footing (a GPU run's checkpoints on the GPU, say) before one is
exported; the noise is torch's, not the package's mulberry32, so its figures sit near
evaluate.py's but not on them: EVAL.md quotes evaluate.py for every shipped figure.

    python3 quick_eval.py --vae .work/vae.pt --out q.json run-a/dit.pt run-b/dit.pt
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import data
from analyse import Analyser, score
from evaluate import PROMPT_SEED, prompt_sets
from nets import networks_from_config
from train_vae import load_vae

ASPECTS = list(data.SIZES)


def prompts(seeds):
    """(kind, spec, aspect, seed) of evaluate.py's held-out single, two-object and seen prompts."""
    _, single, pairs, seen = prompt_sets(np.random.default_rng(PROMPT_SEED), seeds=seeds)
    return [(kind, spec, a, seed) for kind, ps in (("single", single), ("pair", pairs), ("seen", seen))
            for _, spec, a, seed in ps]


def load_dit(path, dev):
    ck = torch.load(path, map_location="cpu")
    cfg = ck.get("config", {})
    te, dit = networks_from_config(cfg, len(data.VOCAB))
    te.load_state_dict(ck["ema_te"])
    dit.load_state_dict(ck["ema_dit"])
    return te.to(dev).eval(), dit.to(dev).eval(), {**cfg, "step": ck.get("step")}


@torch.no_grad()
def sample(te, dit, jobs, dev, steps=20, guidance=4.5, batch=64):
    """jobs of one aspect -> normalised latents [N,C,T,h,w] (CPU)."""
    W, H = data.SIZES[jobs[0][2]]
    C, T, h, w = dit.channels, data.FRAMES // 4, H // 8, W // 8
    out = []
    for b in range(0, len(jobs), batch):
        part = jobs[b:b + batch]
        n = len(part)
        ids = torch.zeros(2 * n, data.MAX_TOKENS, dtype=torch.long)
        for i, (_, spec, _, _) in enumerate(part):
            t = data.tokenize(data.caption_of(spec))[:data.MAX_TOKENS]
            ids[i, :len(t)] = torch.tensor(t)
        mask = (ids > 0).long()
        mask[n:] = 0
        ids, mask = ids.to(dev), mask.to(dev)
        text = te(ids, mask)
        x = torch.stack([torch.randn(C, T, h, w, generator=torch.Generator().manual_seed(s))
                         for _, _, _, s in part]).to(dev)
        cond = torch.zeros(2 * n, C, T, h, w, device=dev)
        cmask = torch.zeros(2 * n, 1, T, h, w, device=dev)
        sig = [1 - i / steps for i in range(steps + 1)]
        for i in range(steps):
            ts = torch.full((2 * n,), sig[i] * 1000, device=dev)
            v = dit(torch.cat([x, x]), ts, text, mask, cond, cmask)
            x = x + (sig[i + 1] - sig[i]) * (v[n:] + guidance * (v[:n] - v[n:]))
        out.append(x.cpu())
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--vae", required=True)
    ap.add_argument("--stats", help="latent_stats.json (default: beside --vae)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--guidance", type=float, default=4.5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=int, default=1, help="judge every n-th prompt only (smoke runs)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.set_num_threads(int(os.environ.get("SKYLOOM_THREADS", "2")))
    stats = json.load(open(args.stats or args.vae.replace("vae.pt", "latent_stats.json")))
    vae, _ = load_vae(args.vae)
    vae.to(dev).eval()
    an = Analyser().calibrate()
    jobs = prompts(args.seeds)[::args.every]
    report = {}
    for path in args.checkpoints:
        t0 = time.time()
        te, dit, cfg = load_dit(path, dev)
        rows = {"single": [], "pair": [], "seen": []}
        for a in ASPECTS:
            mine = [j for j in jobs if j[2] == a]
            z = sample(te, dit, mine, dev, guidance=args.guidance)
            raw = z / stats["scalingFactor"] + stats["shiftFactor"]
            for k, (kind, spec, _, seed) in enumerate(mine):
                with torch.no_grad():
                    y = vae.decode_primed(raw[k:k + 1].to(dev)).cpu()
                v = np.clip((y[0].numpy().transpose(1, 2, 3, 0) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
                r = score(spec, an.analyse(v))
                r["shape_name"] = spec["objects"][0][1]
                rows[kind].append(r)
        res = {"config": cfg, "seconds": time.time() - t0}
        for kind, rs in rows.items():
            keys = sorted({k for r in rs for k, val in r.items() if isinstance(val, (bool, np.bool_))})
            res[kind] = {"n": len(rs), **{k: float(np.mean([bool(r[k]) for r in rs if k in r])) for k in keys}}
        res["single_shape_by_class"] = {
            s: float(np.mean([bool(r["shape"]) for r in rows["single"] if r["shape_name"] == s] or [0]))
            for s in data.SHAPES}
        report[path] = res
        print(path, json.dumps(res), flush=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
