"""Fine-tune the decoder of a trained causal VAE with its encoder frozen, so the latent space (and
a DiT trained on it) stays valid.

--lookahead gives each latent frame a view of the next one (nets.CausalDecoder's `la`, starting
at zero): a causal decoder cannot know where latent frame t + 1 puts the object when it draws the
last frames of t, so each latent frame's four frames move less than the clip does and the next
one starts with a jump (EVAL.md: border steps 1.5x the steps inside latent frames). --border
weighs the frame-step term at latent-frame borders (steps into frames 4, 8, ...) that much more.
--primed trains and measures on the decode the runtime runs for latent.decoderPrime "translate"
(each clip's first latent frame decoded after its priming frame), not the plain one.

    python3 train_decoder.py --init .work/vae.pt --work .work-la --lookahead --steps 1500
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import data
from nets import n_params, setup_torch
from train_vae import ASPECTS, batch, grad_l1, load_vae, psnr, vae_from_config


def step_weights(frames, border, first_border=None):
    """Weight of each frame step: `border` into frames 4, 8, ... (latent-frame borders), else 1;
    `first_border` (when given) into frame 4, the end of the first latent frame."""
    w = torch.ones(frames - 1)
    w[3::4] = border
    if first_border is not None and frames > 4:
        w[3] = first_border
    return w.view(1, 1, -1, 1, 1)


def decode(vae, z, primed):
    """The whole-clip decode, or with primed each clip's first latent frame after its own priming
    frame (a batch holds unrelated clips, so each has its own shift)."""
    return vae.decode_primed(z, per_clip=True) if primed else vae.decode(z)


def edge_band(fg, radius=1):
    """1 within `radius` pixels of an edge of the foreground coverage fg [B, 1, F, H, W], else 0:
    where a shape's outline (its corners and straight sides) is drawn."""
    gx = (fg[..., :, 1:] - fg[..., :, :-1]).abs()
    gy = (fg[..., 1:, :] - fg[..., :-1, :]).abs()
    g = torch.nn.functional.pad(gx, (0, 1)) + torch.nn.functional.pad(gy, (0, 0, 0, 1))
    k = 2 * radius + 1
    g = torch.nn.functional.max_pool3d(g, (1, k, k), stride=1, padding=(0, radius, radius))
    return (g > 0.05).float()


def loss_fn(vae, x, fg, tdiff, border, primed, first_border=None, outline=None):
    with torch.no_grad():
        z = vae.encoder(x)
    y = decode(vae, z, primed)
    w = 1.0 + 9.0 * fg
    if outline is not None:
        w = w + outline
    d = y - x
    dt = (y[:, :, 1:] - y[:, :, :-1]) - (x[:, :, 1:] - x[:, :, :-1])
    wt = torch.maximum(w[:, :, 1:], w[:, :, :-1]) * step_weights(x.shape[2], border, first_border).to(x.device)
    return (w * d * d).mean() + 0.5 * (w * d.abs()).mean() + grad_l1(y, x, w) + tdiff * (wt * dt.abs()).mean()


def border_ratio(vae, clips, primed):
    """Median over moving clips of (largest latent-border step) / (largest step inside latent
    frames), and the mean held-out PSNR: what the fine-tune is for, and what it must keep."""
    ratios, psnrs = [], []
    with torch.no_grad():
        for f in clips:
            x = torch.from_numpy(data.to_model(f))[None].to(next(vae.parameters()).device)
            y = decode(vae, vae.encoder(x), primed)
            psnrs.append(psnr(y, x))
            r = np.clip((y[0].cpu().numpy().transpose(1, 2, 3, 0) + 1) * 127.5 + 0.5, 0, 255)
            s = np.abs(np.diff(r, axis=0)).mean((1, 2, 3))
            if np.abs(np.diff(f.astype(np.float32), axis=0)).mean() < 0.3:
                continue  # still clips have no steps to compare
            borders = s[3::4]
            inner = np.delete(s, np.arange(3, len(s), 4))
            ratios.append(borders.max() / max(inner.max(), 1e-6))
    return float(np.median(ratios)), float(np.mean(psnrs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="a train_vae.py checkpoint (causal)")
    ap.add_argument("--work", required=True, help="writes vae.pt and decoder_stats.json here")
    ap.add_argument("--lookahead", action="store_true")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--schedule-steps", type=int,
                    help="the cosine schedule's length, when the run stops before its end (default --steps)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--tdiff", type=float, default=2.0, help="weight of the frame-step term")
    ap.add_argument("--border", type=float, default=3.0, help="extra weight of border steps")
    ap.add_argument("--pattern-share", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--primed", action="store_true", help="train and measure the primed decode")
    ap.add_argument("--first-border", type=float, help="weight of the step into frame 4 (default --border)")
    ap.add_argument("--outline", type=float, default=0.0,
                    help="extra loss weight within a pixel of a shape clip's outline (edge_band)")
    ap.add_argument("--device", default="cpu", help="torch device to train on (cuda on a GPU machine)")
    args = ap.parse_args()
    setup_torch(args.seed)
    os.makedirs(args.work, exist_ok=True)
    source, ck = load_vae(args.init)
    config = dict(ck["config"])
    if config.get("arch") != "causal":
        raise SystemExit(f"{args.init} is not a causal VAE")
    if args.lookahead:
        config["lookahead"] = 1
    vae = vae_from_config(config)
    missing = vae.load_state_dict(source.state_dict(), strict=False).missing_keys
    if any(not k.startswith("decoder.la.") for k in missing):
        raise SystemExit(f"{args.init} lacks {missing}")
    dev = torch.device(args.device)
    vae.to(dev)
    for p in vae.encoder.parameters():
        p.requires_grad_(False)
    params = list(vae.decoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    print(f"decoder params {n_params(vae.decoder):,} (lookahead {bool(args.lookahead)})", flush=True)

    rng = np.random.default_rng(999)
    clips = []
    while len(clips) < 24:
        spec = data.sample_spec(rng, heldout=True, n_objects=1)
        clips.append(data.render(spec, ASPECTS[len(clips) % 3], rng)[0])
    history = [{"step": 0, "border_ratio": None, "psnr": None}]
    history[0]["border_ratio"], history[0]["psnr"] = border_ratio(vae, clips, args.primed)
    print("step 0", history[0], flush=True)
    t0 = time.time()
    schedule = args.schedule_steps or args.steps
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / schedule)))
        for g in opt.param_groups:
            g["lr"] = float(lr)
        rng = np.random.default_rng(args.seed * 1_000_003 + step)
        x, fg, shapes = (t.to(dev) for t in batch(rng, ASPECTS[step % 3], args.batch,
                                                   pattern_share=args.pattern_share, kinds=True))
        outline = args.outline * edge_band(fg) * shapes if args.outline > 0 else None
        loss = loss_fn(vae, x, fg, args.tdiff, args.border, args.primed, args.first_border, outline)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 25 == 0:
            print(f"step {step + 1} loss {loss.item():.4f} s/step {(time.time() - t0) / (step + 1):.2f}", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            r, p = border_ratio(vae, clips, args.primed)
            history.append({"step": step + 1, "border_ratio": r, "psnr": p})
            print("eval", history[-1], flush=True)
            torch.save({"model": {k: v.cpu() for k, v in vae.state_dict().items()}, "opt": None, "step": ck.get("step", 0), "elapsed": 0.0,
                        "config": config, "from": os.path.abspath(args.init), "decoder_steps": step + 1},
                       os.path.join(args.work, "vae.pt"))
    with open(os.path.join(args.work, "decoder_stats.json"), "w") as f:
        json.dump({"args": vars(args), "seconds": time.time() - t0, "history": history}, f, indent=1)


if __name__ == "__main__":
    main()
