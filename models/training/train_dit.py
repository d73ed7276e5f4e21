"""Stage 3: train the text encoder and the DiT jointly by rectified flow on the encoded latents.

  x_t = (1 - t) x0 + t * noise,  target v = noise - x0
  t ~ --t-dist: "logit-normal" (sigmoid(randn): most steps at mid noise, where detail is learned)
        or "high-mix" (half uniform on [0,1], half logit-normal shifted by 3 as in SD3,
        t' = 3t / (1 + 2t)): about 12% of steps above t = 0.9, where the sampler's first steps
        decide layout and motion, against 1.4% under plain logit-normal.
  --motion-loss λ adds λ·|Δ_t err|² (the error's difference between neighbouring generated latent
        frames) to the loss: the same minimiser, with the temporal part of the error weighed more.

Known-frame conditioning is trained with random masks over latent frames: none, head (1-3 frames),
tail (1-2), head+tail (1 each); known frames carry the clean latents in cond_latents, and the loss
covers only the unknown frames (the sampler copies the known ones back at the end). 10% of
captions are dropped (text mask all zeros) so classifier-free guidance works. EMA weights of both
networks are what export.py ships. Batches rotate over the aspect ratios.

    python3 train_dit.py --t-dist high-mix --motion-loss 2 --steps 9000 --max-minutes 170
    python3 train_dit.py --steps 4000 --max-minutes 42
    python3 train_dit.py --init .work/dit.pt --latents .work/latents.npz --work .work/ft \
        --t-dist high-mix --motion-loss 2 --lr 3e-4 --warmup 100 --max-minutes 45

run_all.sh runs the first form in .work/dit-phase1, then warm-restarts from it (the third form
with --seed 4 --lr 2.5e-4 --steps 5000, in .work); the 2.0 weights came from that. 2.1's come from
a third phase from 2.0's EMA weights (--init-ema --seed 5 --lr 1.5e-4 --steps 4000 --max-minutes 50,
in .work/dit-phase3). 2.2's come from those carried over to patch 1 (--patch 1, repatch below) and
trained 2,098 more steps (--init-ema --seed 6 --lr 3e-4, in .work/dit-p1); 2.3's from a warm
restart of that (--init-ema --patch 1 --seed 7 --lr 1.5e-4 --warmup 50 --steps 2300, in
.work/dit-p1-restart). The 1.2 weights came from the first form alone. The second made
model 1.0, which learned colours but no motion (EVAL.md, "Continuation experiments"). The third
fine-tunes: --init starts from another run's weights (text encoder, DiT and their EMA) with a
fresh optimiser and schedule; fine-tunes of 1.0 did not bring motion. --latents reads the latents
from elsewhere (default: <work>/latents.npz); --work keeps a run in its own folder.

As in train_vae.py, the run ends at --steps or --max-minutes of training time, whichever comes
first, and the learning-rate schedule follows that progress fraction.
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch

import data
from nets import WIDTH, n_params, networks_from_config, setup_torch

MASK_KINDS = ["none", "head", "tail", "head+tail"]
MASK_PROBS = [0.4, 0.25, 0.15, 0.2]


def random_cond_mask(rng, B, T):
    """[B,1,T,1,1] float mask of known latent frames."""
    m = np.zeros((B, 1, T, 1, 1), np.float32)
    kinds = rng.choice(len(MASK_KINDS), B, p=MASK_PROBS)
    for i, k in enumerate(kinds):
        if MASK_KINDS[k] == "head":
            m[i, :, :rng.integers(1, min(3, T - 1) + 1)] = 1
        elif MASK_KINDS[k] == "tail":
            m[i, :, T - rng.integers(1, min(2, T - 1) + 1):] = 1
        elif MASK_KINDS[k] == "head+tail":
            m[i, :, 0] = 1
            m[i, :, T - 1] = 1
    return torch.from_numpy(m)


def repatch(sd, was, now):
    """A DiT state dict for another patch size (2 -> 1): the blocks are the same; a patch-1 token's
    embedding is the patch-2 kernel summed (its answer to a uniform 2x2 patch), and each cell's
    output is the mean of the patch-2 outputs over the 2x2 cells. Positions already count
    patch-2 cells (nets.DiT.pos_embed), so they mean what they meant."""
    if (was, now) != (2, 1):
        raise SystemExit(f"--init has patch {was}; only 2 -> 1 is carried over, not {was} -> {now}")
    sd = dict(sd)
    sd["patch.weight"] = sd["patch.weight"].sum((3, 4), keepdim=True)
    C = sd["out.weight"].shape[0] // 4
    sd["out.weight"] = sd["out.weight"].reshape(C, 4, -1).mean(1)
    sd["out.bias"] = sd["out.bias"].reshape(C, 4).mean(1)
    return sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--max-minutes", type=float, default=42.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--t-dist", choices=["logit-normal", "high-mix"], default="logit-normal")
    ap.add_argument("--init", help="start from this checkpoint's weights (fresh optimiser)")
    ap.add_argument("--init-ema", action="store_true",
                    help="with --init: start the weights from its EMA weights too (what ships; what a "
                         "checkpoint restored by dit_from_package.py holds in both)")
    ap.add_argument("--motion-loss", type=float, default=0.0,
                    help="weight of the frame-difference term (see the module docstring)")
    ap.add_argument("--seam-weight", type=float, default=0.0,
                    help="extra weight of the loss on generated latent frames next to known ones")
    ap.add_argument("--two-object-share", type=float,
                    help="draw this share of each batch from two-object clips (default: uniform, "
                         "about 0.4 as rendered)")
    ap.add_argument("--patch", type=int, default=2,
                    help="DiT patch size over latent cells (2.2: 1, one token per cell; 2 before)")
    ap.add_argument("--width", type=int, default=WIDTH, help="text encoder and DiT width")
    ap.add_argument("--depth", type=int, default=6, help="DiT blocks")
    ap.add_argument("--device", default="cpu",
                    help="torch device to train on (cuda where there is a GPU; the recipe is the "
                         "same, the batches and their random draws too)")
    ap.add_argument("--latents", help="latents.npz (default: <work>/latents.npz)")
    ap.add_argument("--work", default=os.path.join(os.path.dirname(__file__), ".work"))
    args = ap.parse_args()
    setup_torch(args.seed)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "dit.pt")

    lat = np.load(args.latents or os.path.join(args.work, "latents.npz"))
    aspects = list(data.SIZES)
    dev = torch.device(args.device)
    Z = {a: torch.from_numpy(lat[f"z_{a}"]).to(dev) for a in aspects}
    IDS = {a: torch.from_numpy(lat[f"ids_{a}"]).to(dev) for a in aspects}
    AND = data.WORD_ID["and"]  # two-object captions join their objects with "and"
    two = {a: (IDS[a] == AND).any(1) for a in aspects}
    TWO = {a: torch.nonzero(two[a]).flatten() for a in aspects}
    ONE = {a: torch.nonzero(~two[a]).flatten() for a in aspects}

    # As many latent channels as the VAE made (2.0: 8); export.py reads them, the width, depth
    # and patch size from the checkpoint's config.
    config = {"channels": int(Z[aspects[0]].shape[1]), "width": args.width, "depth": args.depth,
              "te_layers": 2, "patch": args.patch}
    te, dit = (m.to(dev) for m in networks_from_config(config, len(data.VOCAB)))
    params = list(te.parameters()) + list(dit.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema_te, ema_dit = copy.deepcopy(te), copy.deepcopy(dit)
    step, elapsed = 0, 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=dev)
        te.load_state_dict(ck["te"])
        dit.load_state_dict(ck["dit"])
        ema_te.load_state_dict(ck["ema_te"])
        ema_dit.load_state_dict(ck["ema_dit"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"resumed at step {step}", flush=True)
    elif args.init:
        ck = torch.load(args.init, map_location=dev)
        own = "ema_" if args.init_ema else ""
        was = ck.get("config", {}).get("patch", 2)
        def fit(sd):
            return repatch(sd, was, args.patch) if was != args.patch else sd
        te.load_state_dict(ck[own + "te"])
        dit.load_state_dict(fit(ck[own + "dit"]))
        ema_te.load_state_dict(ck["ema_te"])
        ema_dit.load_state_dict(fit(ck["ema_dit"]))
        if was != args.patch:
            print(f"patch {was} -> {args.patch}: patch embedding and output layer carried over", flush=True)
        print(f"initialised from {args.init} (step {ck['step']}){' EMA weights' if own else ''}", flush=True)
    print(f"params: text encoder {n_params(te):,} DiT {n_params(dit):,}", flush=True)

    def progress():
        return min(1.0, max(step / args.steps, (elapsed + time.time() - t0) / (60 * args.max_minutes)))

    t0, window = time.time(), []
    while progress() < 1.0:
        # Warm-up over --warmup steps, then cosine decay to 10% of the peak rate.
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress())))
        for g in opt.param_groups:
            g["lr"] = float(lr)  # a numpy scalar would tie the checkpoint to one numpy major version
        rng = np.random.default_rng(args.seed * 1_000_003 + step)
        torch.manual_seed(args.seed * 1_000_003 + step)
        aspect = aspects[step % 3]
        if args.two_object_share is None:
            idx = torch.from_numpy(rng.integers(0, len(Z[aspect]), args.batch)).to(dev)
        else:
            n_two = int(round(args.two_object_share * args.batch))
            idx = torch.cat([TWO[aspect][torch.from_numpy(rng.integers(0, len(TWO[aspect]), n_two)).to(dev)],
                             ONE[aspect][torch.from_numpy(rng.integers(0, len(ONE[aspect]), args.batch - n_two)).to(dev)]])
        x0, ids = Z[aspect][idx], IDS[aspect][idx]
        text_mask = (ids > 0).long()
        drop = torch.from_numpy(rng.random(args.batch) < 0.1).to(dev)
        text_mask[drop] = 0

        B, C, T = x0.shape[:3]
        # Drawn on the CPU whatever the device, so a GPU run sees the CPU recipe's draws.
        t = torch.sigmoid(torch.randn(B))
        if args.t_dist == "high-mix":
            shifted = 3 * t / (1 + 2 * t)
            t = torch.where(torch.rand(B) < 0.5, torch.rand(B), shifted)
        t = t.to(dev)
        noise = torch.randn(x0.shape).to(dev)
        tb = t[:, None, None, None, None]
        xt = (1 - tb) * x0 + tb * noise
        cmask = random_cond_mask(rng, B, T).to(dev).expand(B, 1, T, *x0.shape[3:]).contiguous()

        text = te(ids, text_mask)
        v = dit(xt, t * 1000, text, text_mask, x0 * cmask, cmask)
        w = 1 - cmask
        err = v - (noise - x0)
        loss = (w * err ** 2).sum() / (w.sum() * C)
        if args.seam_weight > 0:
            # Seam term: the error of each generated latent frame next to a known one, weighed
            # again. The sampler puts the known frames back exactly, so the step from a known
            # frame into the first generated one is that frame's own error; the frame-difference
            # term below only sees pairs of generated frames (EVAL.md, "Known-frame seams").
            known = cmask[:, :, :, :1, :1]
            beside = torch.zeros_like(known)
            beside[:, :, 1:] += known[:, :, :-1]
            beside[:, :, :-1] += known[:, :, 1:]
            seam = ((1 - known) * (beside > 0).float()).expand_as(cmask)
            loss = loss + args.seam_weight * (seam * err ** 2).sum() / (seam.sum() * C).clamp(min=1)
        if args.motion_loss > 0:
            # Frame-difference term: the error's change from one latent frame to the next, where
            # both are generated. Same minimiser as the plain loss; it only weighs the temporal
            # part of the error more, which the plain loss barely sees (a moving object shifts
            # less than a third of its size per latent frame).
            wd = w[:, :, 1:] * w[:, :, :-1]
            derr = err[:, :, 1:] - err[:, :, :-1]
            loss = loss + args.motion_loss * (wd * derr ** 2).sum() / (wd.sum() * C).clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        # EMA warm-up only for a fresh run: a fine-tune starts from trained EMA weights.
        decay = args.ema if args.init else min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, m in ((ema_te, te), (ema_dit, dit)):
                ep, mp = list(e.parameters()), list(m.parameters())
                torch._foreach_mul_(ep, decay)
                torch._foreach_add_(ep, mp, alpha=1 - decay)
        window.append(loss.detach())
        done = progress() >= 1.0
        if step % 50 == 0 or done:
            now = time.time()
            elapsed += now - t0
            t0 = now
            print(f"dit step {step}/{args.steps} loss {torch.stack(window).mean().item():.4f} "
                  f"lr {lr:.2e} s/step {elapsed / step:.2f} "
                  f"elapsed {elapsed / 60:.1f} min", flush=True)
            window = []
            if step % 250 == 0 or done:
                torch.save({"te": te.state_dict(), "dit": dit.state_dict(),
                            "ema_te": ema_te.state_dict(), "ema_dit": ema_dit.state_dict(),
                            "opt": opt.state_dict(),
                            "step": step, "elapsed": elapsed,
                            "config": config}, ckpt_path + ".tmp")
                os.replace(ckpt_path + ".tmp", ckpt_path)
                t0 = time.time()
    with open(os.path.join(args.work, "dit_stats.json"), "w") as f:
        json.dump({"steps": step, "seconds": elapsed, "s_per_step": elapsed / step,
                   "batch": args.batch, "device": args.device, "config": config,
                   "params_text_encoder": n_params(te),
                   "params_dit": n_params(dit)}, f, indent=1)


if __name__ == "__main__":
    main()
