"""Export the causal VAE's decoder as the streaming pair of DESIGN.md ("Streaming VAE contract")
and save a parity case for parity_stream.mjs.

  decoder_init.onnx  latent_frame [B,8,1,h,w] -> video_frames [B,3,4,8h,8w], nc0..nc{N-1}
  decoder_step.onnx  latent_frame, c0..c{N-1} -> video_frames, nc0..nc{N-1}

Cache k is the last two time steps entering the k-th causal conv (numbered in the decoder's
order); output nc<k> of one call is input c<k> of the next. init is the first latent frame with
zero caches, so running init then step over a clip's latent frames equals the whole-clip decode.
The parity case is one clip (112x64, 4 latent frames) decoded whole by PyTorch.

    python3 export_vae_stream.py [--work .work] [--out .work/vae_stream]
"""
import argparse
import json
import os

import onnx
import torch

from nets import setup_torch
from train_vae import load_vae

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


class Init(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent_frame):
        y, caches = self.decoder(latent_frame)
        return (y, *caches)


class Step(torch.nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, latent_frame, *caches):
        y, new = self.decoder(latent_frame, list(caches))
        return (y, *new)


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
    n = dec.n_caches()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 8, 4, 8, 14, generator=g)  # 112x64, 16 frames
    with torch.no_grad():
        whole = vae.decode(z)
        y0, caches = dec(z[:, :, :1])
        cnames = [f"c{i}" for i in range(n)]
        ncnames = [f"nc{i}" for i in range(n)]
        dyn_lat = {0: "batch", 3: "h", 4: "w"}
        dyn_vid = {0: "batch", 3: "height", 4: "width"}
        dyn_cache = {0: "batch", 3: "ch", 4: "cw"}
        init_path, step_path = os.path.join(out, "decoder_init.onnx"), os.path.join(out, "decoder_step.onnx")
        torch.onnx.export(Init(dec), (z[:, :, :1],), init_path, opset_version=OPSET,
                          input_names=["latent_frame"], output_names=["video_frames", *ncnames],
                          dynamic_axes={"latent_frame": dyn_lat, "video_frames": dyn_vid,
                                        **{k: dyn_cache for k in ncnames}})
        torch.onnx.export(Step(dec), (z[:, :, 1:2], *caches), step_path, opset_version=OPSET,
                          input_names=["latent_frame", *cnames],
                          output_names=["video_frames", *ncnames],
                          dynamic_axes={"latent_frame": dyn_lat, "video_frames": dyn_vid,
                                        **{k: dyn_cache for k in cnames + ncnames}})
        stream = vae.decode_streaming(z)
    for p in (init_path, step_path):
        onnx.checker.check_model(onnx.load(p))
    z.numpy().tofile(os.path.join(out, "parity.latent.bin"))
    whole.numpy().tofile(os.path.join(out, "parity.whole.bin"))
    case = {"latent": {"file": "parity.latent.bin", "dims": list(z.shape)},
            "whole": {"file": "parity.whole.bin", "dims": list(whole.shape)},
            "caches": n, "torch_stream_vs_whole_max_abs_diff": float((stream - whole).abs().max())}
    with open(os.path.join(out, "parity.json"), "w") as f:
        json.dump(case, f, indent=1)
    print(f"exported {init_path} and {step_path} ({n} caches); PyTorch streaming vs whole: "
          f"max|diff| {case['torch_stream_vs_whole_max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
