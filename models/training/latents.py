"""Stage 2: render the DiT's training set once and encode it with the trained VAE.

Each clip is used ~10 times by the DiT, so encoding once is far cheaper than encoding every batch.
Also computes, from these latents, what the manifest records:
  shift/scale    normalised = (raw - shift) * scale gives zero mean, unit variance;
  previewFactors least-squares map from normalised latent channels (+ bias) to the mean RGB
                 ([-1, 1]) of the 4x8x8 pixel block each latent cell covers.

    python3 latents.py --per-aspect 3000

--edges N --out FILE adds N edge clips per aspect ratio (data.render's edges: --edge-kind enter,
objects that come in by an edge, all moving; or cross, objects that also leave or outgrow the
frame) to <work>/latents.npz, normalised with the shift and scale already in
<work>/latent_stats.json (the shipped model's; nothing is recomputed), and writes the whole set to
FILE: the training set of a DiT fine-tune whose latents must mean what the shipped ones do. The
fine-tunes on them were tried and not shipped (EVAL.md, "Over a minute").

    python3 latents.py --edges 1000 --edge-kind enter --out .work-enter/latents.npz
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
    ap.add_argument("--edges", type=int, help="add this many edge clips per aspect ratio (see above)")
    ap.add_argument("--out", help="with --edges: where to write the extended set")
    ap.add_argument("--edge-kind", choices=["enter", "cross"], default="enter",
                    help="data.render's edges: objects that come in, or also leave and outgrow")
    ap.add_argument("--device", default="cpu", help="torch device that encodes (cuda on a GPU machine)")
    args = ap.parse_args()
    setup_torch(args.seed)
    dev = torch.device(args.device)
    vae = load_vae(os.path.join(args.work, "vae.pt"))[0].to(dev)
    if args.edges:
        add_edges(vae, args)
        return

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
                z = vae.encoder(x.to(dev)).cpu()
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


def add_edges(vae, args):
    """--edges: the base set plus edge clips, all normalised with the base set's shift and scale."""
    if not args.out:
        raise SystemExit("--edges needs --out (the base set stays as it is)")
    with open(os.path.join(args.work, "latent_stats.json")) as f:
        stats = json.load(f)
    base = np.load(os.path.join(args.work, "latents.npz"))
    t_start = time.time()
    out = {}
    for ai, aspect in enumerate(data.SIZES):
        rng = np.random.default_rng(args.seed * 1000 + 500 + ai)  # not the base set's streams
        zs, ids = [], []
        for start in range(0, args.edges, 25):
            clips = []
            for _ in range(min(25, args.edges - start)):
                spec = data.sample_spec(rng)
                if args.edge_kind == "enter":  # every object moves, so every one comes in
                    while not all(m.startswith("moving") for _, _, m in spec["objects"]):
                        spec = data.sample_spec(rng)
                frames, _ = data.render(spec, aspect, rng, edges=args.edge_kind)
                clips.append(data.to_model(frames))
                t = data.tokenize(data.caption_of(spec))
                ids.append(t + [0] * (data.MAX_TOKENS - len(t)))
            with torch.no_grad():
                z = vae.encoder(torch.from_numpy(np.stack(clips)).to(args.device)).cpu()
            zs.append((z.numpy() - stats["shiftFactor"]) * stats["scalingFactor"])
        out[f"z_{aspect}"] = np.concatenate([base[f"z_{aspect}"], np.concatenate(zs).astype(np.float32)])
        out[f"ids_{aspect}"] = np.concatenate([base[f"ids_{aspect}"], np.array(ids, np.int64)])
        print(f"edge clips {aspect}: {args.edges} added to {len(base[f'z_{aspect}'])} "
              f"elapsed {(time.time() - t_start) / 60:.1f} min", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez(args.out + ".tmp.npz", **out)
    os.replace(args.out + ".tmp.npz", args.out)


if __name__ == "__main__":
    main()
