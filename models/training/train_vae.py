"""Stage 1: train the 3D VAE on freshly rendered training clips (held-out triples never appear).

Loss: foreground-weighted MSE + L1 (foreground pixels count 10x: with plain MSE the background
dominates and shapes blur to blobs) plus a tiny latent L2 that keeps the latent scale bounded.
The 2.0 recipe (the defaults) adds an edge term (L1 between the spatial gradients of output and
input, same weights: corners and straight edges are what tell a square from a blob) and a
frame-difference term (L1 between their temporal differences: steps between frames, at latent
boundaries too, must match the input's), trains the causal streaming VAE (nets.CausalVAE) and
draws --pattern-share of its clips from data.render_pattern (gradients, textures, noise, test-chart
and natural-image-like patterns) so footage it never saw survives the round trip.
`--arch legacy --edge-loss 0 --tdiff-loss 0 --pattern-share 0` is the 1.x recipe.
Batches rotate over the three aspect ratios. Each step's data comes from default_rng(seed + step),
so a resumed run sees exactly the batches an uninterrupted one would.

    python3 train_vae.py --steps 6000 --max-minutes 150 [--work .work]

The run ends at --steps or after --max-minutes of training time, whichever comes first, and the
learning-rate schedule follows that same progress fraction: on a busy shared CPU the run still
completes its full warm-up/decay schedule within the time budget (with fewer steps).
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import data
from nets import LATENT_CHANNELS, build_vae, n_params, parse_channels, setup_torch

ASPECTS = list(data.SIZES)


def batch(rng, aspect, n, heldout=False, pattern_share=0.0, kinds=False):
    """n clips [n,3,F,H,W] and their foreground weights [n,1,F,H,W]; with kinds=True also [n,1,1,1,1]
    1/0 for shape/pattern clips (a pattern clip's weight map is its local contrast, not a coverage
    with an outline)."""
    clips, fgs, shapes = [], [], []
    for _ in range(n):
        frames, fg, shape = data.render_mix(rng, aspect, pattern_share, heldout=heldout, kind=True)
        clips.append(data.to_model(frames))
        fgs.append(fg)
        shapes.append(float(shape))
    x, fg = torch.from_numpy(np.stack(clips)), torch.from_numpy(np.stack(fgs))[:, None]
    return (x, fg, torch.tensor(shapes).view(-1, 1, 1, 1, 1)) if kinds else (x, fg)


def psnr(a, b):
    mse = ((a - b) ** 2).mean().item() / 4.0  # [-1,1] range -> [0,1]
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def grad_l1(y, x, w):
    """Weighted L1 between the spatial gradients (x and y) of output and input."""
    gx = ((y[..., 1:] - y[..., :-1]) - (x[..., 1:] - x[..., :-1])).abs()
    gy = ((y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs()
    return (w[..., 1:] * gx).mean() + (w[..., 1:, :] * gy).mean()


def tdiff_l1(y, x):
    """L1 between the frame-to-frame differences of output and input."""
    return ((y[:, :, 1:] - y[:, :, :-1]) - (x[:, :, 1:] - x[:, :, :-1])).abs().mean()


def vae_loss(vae, x, fg, edge=1.0, tdiff=0.5):
    z = vae.encoder(x)
    y = vae.decode(z)
    w = 1.0 + 9.0 * fg
    d = y - x
    loss = (w * d * d).mean() + 0.5 * (w * d.abs()).mean() + 1e-4 * (z * z).mean()
    if edge:
        loss = loss + edge * grad_l1(y, x, w)
    if tdiff:
        loss = loss + tdiff * tdiff_l1(y, x)
    return loss


def add_model_args(ap):
    ap.add_argument("--arch", default="causal", choices=["causal", "legacy"],
                    help="causal: 2.0's streaming VAE; legacy: 1.x's")
    ap.add_argument("--enc-ch", default="32,64,128", help="encoder widths (causal)")
    ap.add_argument("--dec-ch", default="128,64,32,16", help="decoder widths (causal)")
    ap.add_argument("--latent-ch", type=int, default=LATENT_CHANNELS,
                    help="latent channels (causal; the DiT, export and runtime follow the VAE)")
    ap.add_argument("--lookahead", action="store_true",
                    help="the decoder sees the next latent frame too (causal; train_decoder.py)")


def vae_config(args):
    config = {"arch": args.arch, "enc_ch": list(parse_channels(args.enc_ch)),
              "dec_ch": list(parse_channels(args.dec_ch))}
    # Written only when it differs, so 2.0's checkpoints (8 channels, no key) still resume.
    if args.latent_ch != LATENT_CHANNELS:
        config["latent_ch"] = args.latent_ch
    if args.lookahead:
        config["lookahead"] = 1
    return config


def vae_from_config(cfg):
    return build_vae(cfg.get("arch", "legacy"), tuple(cfg.get("enc_ch", (32, 64, 128))),
                     tuple(cfg.get("dec_ch", (128, 64, 32, 16))),
                     cfg.get("latent_ch", LATENT_CHANNELS), bool(cfg.get("lookahead", False)))


def load_vae(path):
    """A trained VAE from a train_vae.py checkpoint (1.x checkpoints carry no config: legacy)."""
    ck = torch.load(path)
    vae = vae_from_config(ck.get("config", {"arch": "legacy"}))
    vae.load_state_dict(ck["model"])
    return vae.eval(), ck


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--max-minutes", type=float, default=150.0)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--edge-loss", type=float, default=1.0, help="weight of the gradient term")
    ap.add_argument("--tdiff-loss", type=float, default=0.5, help="weight of the frame-step term")
    ap.add_argument("--pattern-share", type=float, default=0.4,
                    help="share of clips drawn from data.render_pattern instead of shapes")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (see EVAL.md, Training speed)")
    add_model_args(ap)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(__file__), ".work"))
    args = ap.parse_args()
    setup_torch(args.seed)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "vae.pt")

    config = vae_config(args)
    vae = vae_from_config(config)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        if ck.get("config", {"arch": "legacy"}) != config:
            raise SystemExit(f"{ckpt_path} holds a VAE of another architecture "
                             f"({ck.get('config', {'arch': 'legacy'})}, asked for {config}); "
                             "delete it or pass its --arch/--enc-ch/--dec-ch")
        if ck["opt"] is None:
            raise SystemExit(f"{ckpt_path} was restored from the package by vae_from_package.py and "
                             "cannot be resumed; delete it to train a new VAE")
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"resumed at step {step}", flush=True)
    print(f"VAE params: encoder {n_params(vae.encoder):,} decoder {n_params(vae.decoder):,}",
          flush=True)

    # Fixed held-out batch (one per aspect) for progress reports.
    val_rng = np.random.default_rng(12345)
    val = [batch(val_rng, a, 4, heldout=True)[0] for a in ASPECTS]

    def progress():
        return min(1.0, max(step / args.steps, (elapsed + time.time() - t0) / (60 * args.max_minutes)))

    t0, window = time.time(), []
    while progress() < 1.0:
        # Warm-up over 100 steps, then cosine decay to 5% of the peak rate.
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress())))
        for g in opt.param_groups:
            g["lr"] = float(lr)  # a numpy scalar would tie the checkpoint to one numpy major version
        rng = np.random.default_rng(args.seed * 1_000_003 + step)
        x, fg = batch(rng, ASPECTS[step % 3], args.batch, pattern_share=args.pattern_share)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = vae_loss(vae, x, fg, args.edge_loss, args.tdiff_loss)
        loss = loss.float()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        window.append(loss.item())
        done = progress() >= 1.0
        if step % 25 == 0 or done:
            now = time.time()
            elapsed += now - t0
            t0 = now
            msg = f"vae step {step}/{args.steps} loss {np.mean(window):.4f} lr {lr:.1e} " \
                  f"s/step {elapsed / step:.2f} elapsed {elapsed / 60:.1f} min"
            window = []
            if step % 100 == 0 or done:
                with torch.no_grad():
                    p = [psnr(vae.decode(vae.encoder(v)), v) for v in val]
                msg += " heldout-PSNR " + " ".join(f"{a}:{q:.1f}" for a, q in zip(ASPECTS, p))
                torch.save({"model": vae.state_dict(), "opt": opt.state_dict(),
                            "step": step, "elapsed": elapsed, "config": config},
                           ckpt_path + ".tmp")
                os.replace(ckpt_path + ".tmp", ckpt_path)
                t0 = time.time()  # validation and saving are not training time
            print(msg, flush=True)
    with open(os.path.join(args.work, "vae_stats.json"), "w") as f:
        json.dump({"steps": step, "seconds": elapsed, "s_per_step": elapsed / step,
                   "batch": args.batch, "config": config, "edge_loss": args.edge_loss,
                   "tdiff_loss": args.tdiff_loss, "pattern_share": args.pattern_share,
                   "params_encoder": n_params(vae.encoder),
                   "params_decoder": n_params(vae.decoder)}, f, indent=1)


if __name__ == "__main__":
    main()
