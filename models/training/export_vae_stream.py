"""Export the causal VAE's decoder as the streaming pair of DESIGN.md ("Streaming VAE contract")
and save a parity case for parity_stream.mjs.

  decoder_init.onnx  latent_frame [B,C,T,h,w] -> video_frames [B,3,4T,8h,8w], nc0..nc{N-1}
  decoder_step.onnx  latent_frame, c0..c{N-1} -> video_frames, nc0..nc{N-1}

A lookahead decoder (train_decoder.py --lookahead) takes next_latent_frame [B,C,T,h,w] too, right
after latent_frame in both graphs: the latent frames after latent_frame's, the clip's last one
repeated at its end (nets.next_frames).

Cache k is the last two time steps entering the k-th causal conv (numbered in the decoder's
order); output nc<k> of one call is input c<k> of the next. init is the clip's first chunk with
zero caches, so running init on the first T0 latent frames and step on each later chunk (any
sizes) equals the whole-clip decode; the time axis is dynamic in both graphs. export.py uses
export_pair() and cache_specs() to put the pair into a package. The parity case is one clip
(112x64, 4 latent frames) decoded whole by PyTorch.

    python3 export_vae_stream.py [--work .work] [--out .work/vae_stream]
"""
import argparse
import json
import os

import onnx
import torch

from nets import next_frames, setup_torch
from train_vae import load_vae

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


class Init(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent_frame, *next_frame):
        y, caches = self.decoder(latent_frame, None, *next_frame)
        return (y, *caches)


class Step(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent_frame, *rest):
        next_frame, caches = (rest[:1], rest[1:]) if self.decoder.lookahead else ((), rest)
        y, new = self.decoder(latent_frame, list(caches), *next_frame)
        return (y, *new)


def cache_specs(decoder, h=2, w=2):
    """What the manifest declares of each cache: names, channels, time steps and spatial scale
    (the cache is [B, channels, frames, scale*h, scale*w] for latents [B, C, T, h, w])."""
    with torch.no_grad():
        _, caches = decoder(torch.zeros(1, decoder.latent_ch, 1, h, w))
    return [{"input": f"c{k}", "output": f"nc{k}", "channels": int(c.shape[1]),
             "frames": int(c.shape[2]), "scale": int(c.shape[3]) // h}
            for k, c in enumerate(caches)]


def export_pair(decoder, init_path, step_path, z):
    """Trace the init/step graphs with a dynamic time axis (z: [1, C, >=4, h, w] example latents)."""
    n = decoder.n_caches()
    cnames = [f"c{i}" for i in range(n)]
    ncnames = [f"nc{i}" for i in range(n)]
    dyn_lat = {0: "batch", 2: "T", 3: "h", 4: "w"}
    dyn_vid = {0: "batch", 2: "frames", 3: "height", 4: "width"}
    # Caches of different resolutions get their own axis names: one name would say they are equal.
    dyn_cache = {f"{p}{i}": {0: "batch", 3: f"c{i}_h", 4: f"c{i}_w"} for i in range(n) for p in ("c", "nc")}
    # A lookahead decoder takes the latent frames after its own as "next_latent_frame".
    la = decoder.lookahead
    nxt = (lambda s, e: (next_frames(z, s, e),)) if la else (lambda s, e: ())
    nnames = ["next_latent_frame"] if la else []
    dyn_next = {"next_latent_frame": dyn_lat} if la else {}
    with torch.no_grad():
        _, caches = decoder(z[:, :, :2], None, *nxt(0, 2))
        for p in (init_path, step_path):
            os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        torch.onnx.export(Init(decoder), (z[:, :, :2], *nxt(0, 2)), init_path, opset_version=OPSET,
                          input_names=["latent_frame", *nnames], output_names=["video_frames", *ncnames],
                          dynamic_axes={"latent_frame": dyn_lat, **dyn_next, "video_frames": dyn_vid,
                                        **{k: dyn_cache[k] for k in ncnames}})
        torch.onnx.export(Step(decoder), (z[:, :, 2:4], *nxt(2, 4), *caches), step_path, opset_version=OPSET,
                          input_names=["latent_frame", *nnames, *cnames],
                          output_names=["video_frames", *ncnames],
                          dynamic_axes={"latent_frame": dyn_lat, **dyn_next, "video_frames": dyn_vid,
                                        **{k: dyn_cache[k] for k in cnames + ncnames}})
    for p in (init_path, step_path):
        onnx.checker.check_model(onnx.load(p))
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--out", help="default: <work>/vae_stream")
    args = ap.parse_args()
    out = args.out or os.path.join(args.work, "vae_stream")
    os.makedirs(out, exist_ok=True)
    setup_torch(0)
    vae, ck = load_vae(os.path.join(args.work, "vae.pt"))
    if ck.get("config", {}).get("arch") != "causal":
        raise SystemExit(f"{args.work}/vae.pt is not a causal VAE (train_vae.py --arch causal): "
                         "only the causal decoder streams")
    dec = vae.decoder
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, dec.latent_ch, 4, 8, 14, generator=g)  # 112x64, 16 frames
    init_path, step_path = os.path.join(out, "decoder_init.onnx"), os.path.join(out, "decoder_step.onnx")
    n = export_pair(dec, init_path, step_path, z)
    with torch.no_grad():
        whole = vae.decode(z)
        stream = vae.decode_streaming(z)
    z.numpy().tofile(os.path.join(out, "parity.latent.bin"))  # parity_stream.mjs derives the next frames
    whole.numpy().tofile(os.path.join(out, "parity.whole.bin"))
    case = {"latent": {"file": "parity.latent.bin", "dims": list(z.shape)},
            "whole": {"file": "parity.whole.bin", "dims": list(whole.shape)},
            "caches": n, "lookahead": bool(dec.lookahead),
            "torch_stream_vs_whole_max_abs_diff": float((stream - whole).abs().max())}
    with open(os.path.join(out, "parity.json"), "w") as f:
        json.dump(case, f, indent=1)
    print(f"exported {init_path} and {step_path} ({n} caches); PyTorch streaming vs whole: "
          f"max|diff| {case['torch_stream_vs_whole_max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
