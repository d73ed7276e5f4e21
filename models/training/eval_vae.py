"""VAE-only evaluation (PyTorch, from a train_vae.py checkpoint): what the 2.0 targets ask of it.

  held-out shapes  PSNR of reconstructed held-out single-object clips (all three aspects), and
                   the share of reconstructions whose shape / colour / motion the analyser names;
  lavfi sources    PSNR on ffmpeg's testsrc2, smptebars and mandelbrot at 64x64 (frames 0-15 and
                   16-31 at 8 fps), rendered with the ffmpeg binary of @ffmpeg-installer/ffmpeg:
                   footage the VAE never saw;
  latent seams     per moving clip, the largest step between latent frames (frames 3->4, 7->8,
                   11->12) over the largest step inside them (mean abs difference, 0-255); the
                   target is that no boundary step exceeds the inside ones (ratio <= 1);
  smoothness       per moving clip, the largest frame step over the median step (#19 asks <= 2);
  primed decode    causal VAE only: the above again through the decode the package ships
                   (nets.CausalVAE.decode_primed, latent.decoderPrime);
  streaming        causal VAE only: max abs difference between chunked and whole-clip decode.

    python3 eval_vae.py [--work .work] [--n 48] [--quick]   -> <work>/vae_eval.json
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import torch

import data
from analyse import Analyser, score
from nets import DECODER_PRIME, setup_torch
from train_vae import load_vae

HERE = os.path.dirname(os.path.abspath(__file__))
FFMPEG = os.path.join(HERE, "..", "..", "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
LAVFI = ["testsrc2", "smptebars", "mandelbrot"]
TARGETS = {"heldout_psnr_db": 30.0, "lavfi_psnr_db": 22.0, "shape_on_reconstructions": 0.90}


def lavfi_clip(ffmpeg, source, start, size=(64, 64)):
    """16 frames of a lavfi test source, uint8 [F,H,W,3]."""
    W, H = size
    n = start + data.FRAMES
    raw = subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i",
                          f"{source}=size={W}x{H}:rate={data.FPS}", "-frames:v", str(n),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    v = np.frombuffer(raw, np.uint8)
    if v.size != n * H * W * 3:
        raise SystemExit(f"{ffmpeg}: {source} gave {v.size} bytes, expected {n * H * W * 3}")
    return v.reshape(n, H, W, 3)[start:]


def roundtrip(vae, frames, primed=False):
    """uint8 [F,H,W,3] -> reconstructed uint8 [F,H,W,3]; with primed=True a pair (plain, primed:
    the decode the package ships, nets.CausalVAE.decode_primed) from one encode."""
    x = torch.from_numpy(data.to_model(frames))[None]
    to_rgb = lambda y: np.clip((y[0].numpy().transpose(1, 2, 3, 0) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    with torch.no_grad():
        z = vae.encoder(x)
        plain = to_rgb(vae.decode(z))
        return (plain, to_rgb(vae.decode_primed(z))) if primed else plain


def psnr(a, b):
    mse = np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-9)))


def seam_ratio(frames):
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean((1, 2, 3))  # step i: i -> i+1
    boundary = [i for i in range(len(steps)) if i % 4 == 3]
    inside = [i for i in range(len(steps)) if i % 4 != 3]
    return float(steps[boundary].max() / max(steps[inside].max(), 1e-6))


def largest_over_median(frames):
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean((1, 2, 3))
    return float(steps.max() / max(np.median(steps), 1e-6))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--n", type=int, default=48, help="held-out shape clips")
    ap.add_argument("--ffmpeg", default=FFMPEG)
    ap.add_argument("--quick", action="store_true", help="smoke test: 6 clips, one lavfi window")
    args = ap.parse_args()
    setup_torch(0)
    t0 = time.time()
    vae, ck = load_vae(os.path.join(args.work, "vae.pt"))
    an = Analyser().calibrate()
    n = 6 if args.quick else args.n
    rng = np.random.default_rng(777)
    causal = ck.get("config", {}).get("arch") == "causal"
    rows, gt_rows, psnrs, seams, smooth = [], [], [], [], []
    p_rows, p_psnrs, p_seams, p_smooth = [], [], [], []
    for i in range(n):
        aspect = list(data.SIZES)[i % 3]
        spec = data.sample_spec(rng, heldout=True, n_objects=1)
        v, _ = data.render(spec, aspect, rng)
        r, rp = roundtrip(vae, v, primed=True) if causal else (roundtrip(vae, v), None)
        psnrs.append(psnr(r, v))
        rows.append(score(spec, an.analyse(r)))
        gt_rows.append(score(spec, an.analyse(v)))
        if spec["objects"][0][2] != "standing still":
            seams.append(seam_ratio(r))
            smooth.append(largest_over_median(r))
        if causal:
            p_psnrs.append(psnr(rp, v))
            p_rows.append(score(spec, an.analyse(rp)))
            if spec["objects"][0][2] != "standing still":
                p_seams.append(seam_ratio(rp))
                p_smooth.append(largest_over_median(rp))
    keys = ["shape", "colour", "motion_strict", "motion", "background"]
    lav, p_lav = {}, []
    for s in LAVFI:
        lav[s] = []
        for c in (lavfi_clip(args.ffmpeg, s, st) for st in ((0,) if args.quick else (0, 16))):
            r, rp = roundtrip(vae, c, primed=True) if causal else (roundtrip(vae, c), None)
            lav[s].append(psnr(r, c))
            if causal:
                p_lav.append(psnr(rp, c))
    out = {"checkpoint": {"step": ck.get("step"), "config": ck.get("config", {"arch": "legacy"})},
           "heldout_shapes": {"n": n, "psnr_db_mean": float(np.mean(psnrs)),
                              "psnr_db_min": float(np.min(psnrs)),
                              "analyser_on_reconstructions": {k: float(np.mean([r[k] for r in rows]))
                                                              for k in keys},
                              "analyser_on_ground_truth": {k: float(np.mean([r[k] for r in gt_rows]))
                                                           for k in keys}},
           "lavfi_psnr_db": {s: float(np.mean(p)) for s, p in lav.items()},
           "lavfi_psnr_db_mean": float(np.mean([np.mean(p) for p in lav.values()])),
           "latent_seams": {"n_moving": len(seams), "ratio_median": float(np.median(seams)),
                            "ratio_max": float(np.max(seams)),
                            "share_within_inside": float(np.mean([s <= 1.0 for s in seams])),
                            "largest_over_median_median": float(np.median(smooth)),
                            "share_largest_within_2x_median": float(np.mean([s <= 2.0 for s in smooth]))},
           "targets": TARGETS}
    if causal:
        # What the package's decode gives (latent.decoderPrime): the first latent frame moves.
        out["primed_decode"] = {
            "decoder_prime": DECODER_PRIME, "psnr_db_mean": float(np.mean(p_psnrs)),
            "analyser_on_reconstructions": {k: float(np.mean([r[k] for r in p_rows])) for k in keys},
            "latent_seam_ratio_median": float(np.median(p_seams)),
            "largest_over_median_median": float(np.median(p_smooth)),
            "share_largest_within_2x_median": float(np.mean([s <= 2.0 for s in p_smooth])),
            "lavfi_psnr_db_mean": float(np.mean(p_lav))}
        g = torch.Generator().manual_seed(0)
        z = torch.randn(1, vae.decoder.latent_ch, 4, 8, 14, generator=g)
        with torch.no_grad():
            out["streaming_vs_whole_max_abs_diff"] = float(
                (vae.decode_streaming(z) - vae.decode(z)).abs().max())
    out["seconds"] = time.time() - t0
    path = os.path.join(args.work, "vae_eval.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
