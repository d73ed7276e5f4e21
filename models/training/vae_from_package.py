"""Rebuild the VAE checkpoint (.work/vae.pt) from the shipped package's ONNX files.

.work/ is git-ignored, so a fresh checkout has no checkpoints. The VAE's ONNX graphs keep every
weight under its PyTorch name (convolutions are not folded or renamed by the export), so the
shipped VAE can be restored exactly and the later stages (latents.py, train_dit.py) rerun on it
without retraining stage 1. The restored encoder and decoder are checked against onnx's own
initializers and written with step = 0 (no optimiser state: it is for encoding, not resuming).
A 1.x package holds the legacy VAE; a 2.0 package (vae_decoder_init beside vae_decoder) the causal
streaming one, at the widths --enc-ch/--dec-ch give (2.0's by default).

    python3 vae_from_package.py [--package ../packages/skyloom-tiny] [--work .work]
"""
import argparse
import json
import os

import onnx
import torch
from onnx import numpy_helper

from train_vae import add_model_args, vae_config, vae_from_config

HERE = os.path.dirname(os.path.abspath(__file__))


def load_part(module, path, prefix=""):
    weights = {i.name[len(prefix):]: torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in onnx.load(path).graph.initializer if i.name.startswith(prefix)}
    state = module.state_dict()
    missing = [k for k in state if k not in weights]
    if missing:
        raise SystemExit(f"{path}: no initializer for {', '.join(missing)}")
    for k, v in state.items():
        if tuple(weights[k].shape) != tuple(v.shape):
            raise SystemExit(f"{path}: {k} has shape {tuple(weights[k].shape)}, "
                             f"the network expects {tuple(v.shape)}")
    module.load_state_dict({k: weights[k] for k in state})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default=os.path.join(HERE, "..", "packages", "skyloom-tiny"))
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    add_model_args(ap)  # widths of a 2.0 package's VAE (its graphs' shapes are checked against them)
    args = ap.parse_args()
    # A 2.0 package streams: its vae_decoder is the step graph of the causal decoder, whose weights
    # sit under "decoder." (the init graph holds the same ones).
    streaming = os.path.isdir(os.path.join(args.package, "vae_decoder_init"))
    if streaming:  # the package's latent channels and lookahead, whatever the options say
        with open(os.path.join(args.package, "skyloom.json")) as f:
            manifest = json.load(f)
        args.latent_ch = manifest["latent"]["channels"]
        args.lookahead = "next_latents" in manifest["components"]["vae_decoder"]["inputs"]
    config = vae_config(args) if streaming else {"arch": "legacy"}
    if streaming and config["arch"] != "causal":
        raise SystemExit(f"{args.package} has a streaming (causal) VAE: --arch legacy does not fit it")
    vae = vae_from_config(config)
    load_part(vae.encoder, os.path.join(args.package, "vae_encoder", "model.onnx"))
    load_part(vae.decoder, os.path.join(args.package, "vae_decoder", "model.onnx"),
              "decoder." if streaming else "")
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "vae.pt")
    torch.save({"model": vae.state_dict(), "config": config, "opt": None, "step": 0, "elapsed": 0.0,
                "from": os.path.relpath(args.package, HERE)}, out)
    print(f"wrote {out} from {args.package}")


if __name__ == "__main__":
    main()
