"""Stage 2: render the DiT's training set once and encode it with the trained VAE.

Each clip is used ~10 times by the DiT, so encoding once is far cheaper than encoding every batch.
Also computes, from these latents, what the manifest records:
  shift/scale    normalised = (raw - shift) * scale gives zero mean, unit variance;
  previewFactors least-squares map from normalised latent channels (+ bias) to the mean RGB
                 ([-1, 1]) of the 4x8x8 pixel block each latent cell covers.

    python3 latents.py --per-aspect 3000
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import data
from nets import setup_torch
from train_vae import load_vae


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-aspect", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(__file__), ".work"))
    args = ap.parse_args()
    setup_torch(args.seed)
    vae = load_vae(os.path.join(args.work, "vae.pt"))[0]

    t_start = time.time()
    raw, tokens, captions = {}, {}, {}
    fit_x, fit_y = [], []  # samples for the preview-factor least squares
    for ai, aspect in enumerate(data.SIZES):
        rng = np.random.default_rng(args.seed * 1000 + ai)
        zs, ids, caps = [], [], []
        for start in range(0, args.per_aspect, 25):
            clips = []
            for _ in range(min(25, args.per_aspect - start)):
                spec = data.sample_spec(rng)
                frames, _ = data.render(spec, aspect, rng)
                clips.append(data.to_model(frames))
                cap = data.caption_of(spec)
                t = data.tokenize(cap)
                ids.append(t + [0] * (data.MAX_TOKENS - len(t)))
                caps.append(cap)
            x = torch.from_numpy(np.stack(clips))
            with torch.no_grad():
                z = vae.encoder(x)
            zs.append(z.numpy())
            if start < 500:
                # Block means: [B,3,F,H,W] -> [B,3,T,h,w]
                B, _, F, H, W = x.shape
                blk = x.reshape(B, 3, F // 4, 4, H // 8, 8, W // 8, 8).mean((3, 5, 7))
                fit_x.append(z.permute(0, 2, 3, 4, 1).reshape(-1, z.shape[1]).numpy())
                fit_y.append(blk.permute(0, 2, 3, 4, 1).reshape(-1, 3).numpy())
            if start % 1000 == 0:
                print(f"latents {aspect} {start}/{args.per_aspect} "
                      f"elapsed {(time.time() - t_start) / 60:.1f} min", flush=True)
        raw[aspect] = np.concatenate(zs)
        tokens[aspect] = np.array(ids, np.int64)
        captions[aspect] = caps

    allz = np.concatenate([z.ravel() for z in raw.values()])
    shift = float(allz.mean())
    scale = float(1.0 / allz.std())
    # Preview factors on normalised latents, with a bias column.
    X = (np.concatenate(fit_x) - shift) * scale
    Y = np.concatenate(fit_y)
    A = np.concatenate([X, np.ones((len(X), 1), np.float32)], 1)
    sol, *_ = np.linalg.lstsq(A, Y, rcond=None)
    resid = float(np.sqrt(((A @ sol - Y) ** 2).mean()))

    out = os.path.join(args.work, "latents.npz")
    np.savez(out + ".tmp.npz", **{f"z_{a}": (raw[a] - shift) * scale for a in raw},
             **{f"ids_{a}": tokens[a] for a in tokens})
    os.replace(out + ".tmp.npz", out)
    stats = {"shiftFactor": shift, "scalingFactor": scale,
             "previewFactors": sol[:-1].tolist(), "previewBias": sol[-1].tolist(),
             "preview_rmse": resid, "per_aspect": args.per_aspect,
             "seconds": time.time() - t_start}
    with open(os.path.join(args.work, "latent_stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(f"latents done: shift {shift:.4f} scale {scale:.4f} preview rmse {resid:.3f} "
          f"in {stats['seconds'] / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
