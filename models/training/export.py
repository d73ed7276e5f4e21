"""Stage 4: export the trained networks to the skyloom-tiny package (docs/model-package.md).

Writes the whole package into a temporary folder, checks every graph with onnx.checker, and only
then swaps it into models/packages/skyloom-tiny, so the shipped folder is always complete.
Also saves parity cases (fixed inputs + PyTorch outputs at two sizes and two clip lengths) to
.work/parity/ for parity.mjs, which runs them through onnxruntime-node.

    python3 export.py [--guidance 4.0] [--steps 20]
"""
import argparse
import hashlib
import json
import os
import shutil

import numpy as np
import onnx
import torch

import data
from nets import DiT, TextEncoder, VAE, setup_torch

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.join(HERE, "..", "packages", "skyloom-tiny")
OPSET = 17
SHIFT = 1.0  # scheduler shift (sigma' = shift*s / (1 + (shift-1)*s)); 1.0 = plain linear sigmas


class TextEncoderIO(torch.nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids, attention_mask):
        return self.te(input_ids, attention_mask)


def tokenizer_json():
    """Hugging Face tokenizers format, WordPiece over whole words (no '##' pieces exist, so any
    word not in the vocabulary maps to [UNK]). No post-processor, no padding: the runtime pads to
    maxLength and builds the attention mask itself."""
    special = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, t in enumerate(data.VOCAB[:2])]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": data.WORD_ID},
    }


def export(module, args, path, in_names, out_names, dyn):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module, args, path, input_names=in_names, output_names=out_names,
                      dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def save_case(root, name, component, inputs, outputs):
    """Raw little-endian tensors + a JSON index that parity.mjs reads."""
    case = {"component": component, "inputs": {}, "outputs": {}}
    for kind, tensors in (("inputs", inputs), ("outputs", outputs)):
        for k, t in tensors.items():
            a = t.detach().numpy()
            fn = f"{name}.{k}.bin"
            a.tofile(os.path.join(root, fn))
            case[kind][k] = {"file": fn, "dtype": str(a.dtype), "dims": list(a.shape)}
    return case


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--out", default=PACKAGE)
    args = ap.parse_args()
    setup_torch(0)
    stats = json.load(open(os.path.join(args.work, "latent_stats.json")))
    vae = VAE()
    vae.load_state_dict(torch.load(os.path.join(args.work, "vae.pt"))["model"])
    ck = torch.load(os.path.join(args.work, "dit.pt"))
    te, dit = TextEncoder(len(data.VOCAB)), DiT()
    te.load_state_dict(ck["ema_te"])  # EMA weights are what ships
    dit.load_state_dict(ck["ema_dit"])
    for m in (vae, te, dit):
        m.eval()

    tmp = os.path.join(args.work, "package.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    C = dit.channels
    g = torch.Generator().manual_seed(0)
    cap = data.tokenize("a red circle moving left on a black background")
    ids = torch.tensor([cap + [0] * (data.MAX_TOKENS - len(cap)), [0] * data.MAX_TOKENS])
    mask = (ids > 0).long()
    lat = torch.randn(2, C, 4, 8, 8, generator=g)
    vid = torch.rand(2, 3, 16, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        export(TextEncoderIO(te), (ids, mask), os.path.join(tmp, "text_encoder/model.onnx"),
               ["input_ids", "attention_mask"], ["last_hidden_state"],
               {"input_ids": {0: "batch", 1: "L"}, "attention_mask": {0: "batch", 1: "L"},
                "last_hidden_state": {0: "batch", 1: "L"}})
        text = te(ids, mask)
        lat5 = {0: "batch", 2: "T", 3: "h", 4: "w"}
        export(dit, (lat, torch.tensor([500.0, 900.0]), text, mask, lat, torch.ones(2, 1, 4, 8, 8)),
               os.path.join(tmp, "transformer/model.onnx"),
               ["hidden_states", "timestep", "encoder_hidden_states", "encoder_attention_mask",
                "cond_latents", "cond_mask"], ["sample"],
               {"hidden_states": lat5, "timestep": {0: "batch"},
                "encoder_hidden_states": {0: "batch", 1: "L"},
                "encoder_attention_mask": {0: "batch", 1: "L"},
                "cond_latents": lat5, "cond_mask": lat5, "sample": lat5})
        vid5 = {0: "batch", 2: "frames", 3: "height", 4: "width"}
        export(vae.encoder, (vid,), os.path.join(tmp, "vae_encoder/model.onnx"),
               ["sample"], ["latent"], {"sample": vid5, "latent": lat5})
        export(vae.decoder, (lat,), os.path.join(tmp, "vae_decoder/model.onnx"),
               ["latent_sample"], ["sample"], {"latent_sample": lat5, "sample": vid5})

        # Parity cases: 64x64 with T=4 and 112x64 with T=8, text of two different lengths.
        proot = os.path.join(args.work, "parity")
        shutil.rmtree(proot, ignore_errors=True)
        os.makedirs(proot)
        cases = []
        for name, (W, H, T, L) in {"sq_T4": (64, 64, 4, 24), "wide_T8": (112, 64, 8, 16)}.items():
            ids_c = ids[:, :L]
            mask_c = mask[:, :L]
            z = torch.randn(2, C, T, H // 8, W // 8, generator=g)
            cm = torch.zeros(2, 1, T, H // 8, W // 8)
            cm[0, :, :2] = 1  # one sample with known head frames, one without
            zc = torch.randn(2, C, T, H // 8, W // 8, generator=g) * cm
            v = torch.rand(1, 3, 4 * T, H, W, generator=g) * 2 - 1
            txt = te(ids_c, mask_c)
            cases.append(save_case(proot, f"{name}_te", "text_encoder",
                                   {"input_ids": ids_c, "attention_mask": mask_c},
                                   {"last_hidden_state": txt}))
            ts = torch.tensor([999.0, 250.0])
            cases.append(save_case(proot, f"{name}_dit", "transformer",
                                   {"hidden_states": z, "timestep": ts,
                                    "encoder_hidden_states": txt, "encoder_attention_mask": mask_c,
                                    "cond_latents": zc, "cond_mask": cm},
                                   {"sample": dit(z, ts, txt, mask_c, zc, cm)}))
            cases.append(save_case(proot, f"{name}_enc", "vae_encoder", {"sample": v},
                                   {"latent": vae.encoder(v)}))
            cases.append(save_case(proot, f"{name}_dec", "vae_decoder", {"latent_sample": z[:1]},
                                   {"sample": vae.decoder(z[:1])}))
        with open(os.path.join(proot, "cases.json"), "w") as f:
            json.dump(cases, f, indent=1)
        # Tokenizer parity: Python ids for captions, an unknown word, punctuation and case.
        texts = ["a yellow star growing and a blue square moving up on a dark green background",
                 "An ORANGE zebra, moving left", "a white square standing still on a gray background",
                 ""]
        with open(os.path.join(proot, "tokenizer.json"), "w") as f:
            json.dump([{"text": t, "ids": data.tokenize(t)} for t in texts], f, indent=1)

    def write_json(rel, obj):
        os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
        with open(os.path.join(tmp, rel), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    write_json("tokenizer/tokenizer.json", tokenizer_json())
    write_json("scheduler/scheduler_config.json", {
        "_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000,
        "shift": SHIFT, "use_dynamic_shifting": False, "base_shift": 0.5, "max_shift": 1.15,
        "invert_sigmas": False})
    write_json("model_index.json", {
        "_class_name": "SkyloomPipeline", "_skyloom_version": "1.0.0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["skyloom", "SkyloomTextEncoder"],
        "tokenizer": ["tokenizers", "Tokenizer"],
        "transformer": ["skyloom", "SkyloomDiT"],
        "vae_decoder": ["skyloom", "SkyloomVAEDecoder"],
        "vae_encoder": ["skyloom", "SkyloomVAEEncoder"]})
    files = {}
    for dp, _, fns in os.walk(tmp):
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            files[os.path.relpath(p, tmp)] = sha256(p)
    manifest = {
        "format": "skyloom-model", "formatVersion": 1, "name": "skyloom-tiny", "version": "1.2.0",
        "description": "Tiny text-to-video model trained on procedural videos of coloured shapes "
                       "(circle, square, triangle, star) moving over plain or sunset backgrounds. "
                       "Trained on CPU by models/training/.",
        "license": "MIT", "task": "text-to-video",
        "tokenizer": {"file": "tokenizer/tokenizer.json", "maxLength": data.MAX_TOKENS, "padId": 0},
        "components": {
            "text_encoder": {"file": "text_encoder/model.onnx",
                             "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask"},
                             "outputs": {"hidden_states": "last_hidden_state"}},
            "transformer": {"file": "transformer/model.onnx",
                            "inputs": {"latents": "hidden_states", "timestep": "timestep",
                                       "text": "encoder_hidden_states",
                                       "text_mask": "encoder_attention_mask",
                                       "cond_latents": "cond_latents", "cond_mask": "cond_mask"},
                            "outputs": {"velocity": "sample"}},
            "vae_encoder": {"file": "vae_encoder/model.onnx", "inputs": {"video": "sample"},
                            "outputs": {"latents": "latent"}},
            "vae_decoder": {"file": "vae_decoder/model.onnx", "inputs": {"latents": "latent_sample"},
                            "outputs": {"video": "sample"}},
        },
        "latent": {"channels": C, "spatialCompression": 8, "temporalCompression": 4,
                   "frameRule": "multiple", "patchSize": [1, 2, 2],
                   "scalingFactor": stats["scalingFactor"], "shiftFactor": stats["shiftFactor"],
                   "previewFactors": stats["previewFactors"], "previewBias": stats["previewBias"],
                   # nets.Decoder's temporal receptive field: 4 3x3x3 convs at (96 ch) and 2 at
                   # (48 ch) on the latent time axis, 1 frame each way apiece; chunked decode needs it.
                   "decoderContext": [6, 6]},
        "scheduler": {"type": "flow-match-euler", "shift": SHIFT, "numTrainTimesteps": 1000},
        "conditioning": {"scheme": "latent-mask-concat",
                         "masks": ["none", "head", "tail", "head+tail"]},
        "defaults": {"width": 64, "height": 64, "frames": data.FRAMES, "fps": data.FPS,
                     "steps": args.steps, "guidance": args.guidance},
        "sizes": {k: list(v) for k, v in data.SIZES.items()},
        "files": files,
    }
    write_json("skyloom.json", manifest)
    total = sum(os.path.getsize(os.path.join(tmp, f)) for f in files)
    print(f"package files ({total / 1e6:.1f} MB):")
    for f in files:
        print(f"  {f} {os.path.getsize(os.path.join(tmp, f)) / 1e6:.2f} MB")

    # Swap into place: the shipped folder is either the old complete package or the new one.
    old = os.path.join(args.work, "package.old")
    shutil.rmtree(old, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if os.path.exists(args.out):
        os.rename(args.out, old)
    os.rename(tmp, args.out)
    shutil.rmtree(old, ignore_errors=True)
    print("exported", os.path.normpath(args.out))


if __name__ == "__main__":
    main()
