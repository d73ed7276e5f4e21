"""Stage 4: export the trained networks to the skyloom-tiny package (docs/model-package.md).

Writes the whole package into a temporary folder, checks every graph with onnx.checker, and only
then swaps it into models/packages/skyloom-tiny, so the shipped folder is always complete.
Also saves parity cases (fixed inputs + PyTorch outputs at two sizes and two clip lengths) to
.work/parity/ for parity.mjs, which runs them through onnxruntime-node.

A causal (2.0) VAE ships its decoder as the streaming pair of export_vae_stream.py: vae_decoder_init
(the first chunk, zero caches) and vae_decoder (each later chunk with the caches of the call before),
their caches declared in the manifest (components.vae_decoder.caches); a legacy (1.x) VAE ships one
whole-clip decoder with its temporal context (latent.decoderContext). Both declare the encoder's
temporal context (latent.encoderContext), measured here on the trained weights, so chunked encode
equals whole-clip encode. --int8 quantizes the DiT's weights to int8 (quantize_dit.py, with
onnxruntime's quantize_dynamic; that needs pip's onnxruntime, so it runs under --quant-python).

    python3 export.py [--guidance 4.0] [--steps 20] [--name skyloom-tiny] [--int8 --quant-python PY]
"""
import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import torch

import data
from export_vae_stream import cache_specs, export_pair
from nets import DECODER_PRIME, CausalVAE, networks_from_config, next_frames, setup_torch
from train_vae import load_vae

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


class WholeDecoder(torch.nn.Module):
    """The whole-clip decode of either VAE architecture as one graph (latent_sample -> sample)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z):
        return self.vae.decode(z)


class StepIO(torch.nn.Module):
    """The step graph's computation, for the parity case (latents + caches -> video + caches)."""

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, z, caches):
        return self.decoder(z, caches)


@torch.no_grad()
def temporal_context(module, in_unit, units=40, hw=(16, 16), channels=3):
    """[before, after]: input units (groups of `in_unit` frames) each output unit reads, found by
    perturbing one input unit of a random clip and seeing which output units change (exactly: any
    change counts). Output units are the outputs' own frame groups (one latent frame for an
    encoder). The probe runs on a copy with random weights: trained weights (or zero-initialised
    layers) can hide a path, the architecture's reach is what chunking must respect."""
    g = torch.Generator().manual_seed(7)
    fn = copy.deepcopy(module)
    for p in fn.parameters():
        p.normal_(0, 0.3, generator=g)
    x = torch.randn(1, channels, units * in_unit, *hw, generator=g)
    j = units // 2
    y0 = fn(x)
    x[:, :, j * in_unit:(j + 1) * in_unit] += 1.0
    y1 = fn(x)
    out_unit = y0.shape[2] // units
    changed = [t for t in range(units)
               if not torch.equal(y0[:, :, t * out_unit:(t + 1) * out_unit], y1[:, :, t * out_unit:(t + 1) * out_unit])]
    return [max(0, max(changed) - j), max(0, j - min(changed))]


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
    ap.add_argument("--name", default="skyloom-tiny", help="the package's name in skyloom.json")
    ap.add_argument("--version", help="default: 2.3.0 for a causal VAE, 1.2.0 for the legacy one")
    ap.add_argument("--description", help="default: the skyloom-tiny description")
    ap.add_argument("--int8", action="store_true", help="int8 weights for the DiT (quantize_dit.py)")
    ap.add_argument("--quant-python", default=sys.executable,
                    help="interpreter with pip's onnxruntime for --int8 (e.g. /tmp/tiny2-venv/bin/python)")
    args = ap.parse_args()
    setup_torch(0)
    stats = json.load(open(os.path.join(args.work, "latent_stats.json")))
    vae = load_vae(os.path.join(args.work, "vae.pt"))[0]
    ck = torch.load(os.path.join(args.work, "dit.pt"))
    # A checkpoint may carry its widths (the test fixture's tiny DiT); train_dit.py's are the defaults.
    cfg = ck.get("config", {})
    te, dit = networks_from_config(cfg, len(data.VOCAB))
    streaming = isinstance(vae, CausalVAE)
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
        if streaming:
            n_caches = export_pair(vae.decoder, os.path.join(tmp, "vae_decoder_init/model.onnx"),
                                   os.path.join(tmp, "vae_decoder/model.onnx"), lat[:1])
            caches = cache_specs(vae.decoder)
            assert len(caches) == n_caches
        else:
            export(WholeDecoder(vae), (lat,), os.path.join(tmp, "vae_decoder/model.onnx"),
                   ["latent_sample"], ["sample"], {"latent_sample": lat5, "sample": vid5})
        encoder_context = temporal_context(vae.encoder, 4)
        print(f"encoder temporal context (latent frames before, after): {encoder_context}")

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
            if streaming:
                # init decodes the whole clip (zero caches); step continues from its first half.
                half = T // 2
                # A lookahead decoder takes each part's next latent frames beside it.
                la = vae.decoder.lookahead
                nxt = (lambda s, e: {"next_latent_frame": next_frames(z[:1], s, e)}) if la else (lambda s, e: {})
                _, head_caches = vae.decoder(z[:1, :, :half], None, *nxt(0, half).values())
                whole = vae.decode(z[:1])
                cases.append(save_case(proot, f"{name}_dec_init", "vae_decoder_init",
                                       {"latent_frame": z[:1], **nxt(0, T)}, {"video_frames": whole}))
                cases.append(save_case(proot, f"{name}_dec_step", "vae_decoder",
                                       {"latent_frame": z[:1, :, half:], **nxt(half, T),
                                        **{f"c{k}": c for k, c in enumerate(head_caches)}},
                                       {"video_frames": whole[:, :, 4 * half:]}))
            else:
                cases.append(save_case(proot, f"{name}_dec", "vae_decoder", {"latent_sample": z[:1]},
                                       {"sample": vae.decode(z[:1])}))
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

    if args.int8:
        dit_path = os.path.join(tmp, "transformer/model.onnx")
        subprocess.run([args.quant_python, os.path.join(HERE, "quantize_dit.py"), "--onnx", dit_path,
                        "--out", dit_path], check=True)
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
        **({"vae_decoder_init": ["skyloom", "SkyloomVAEDecoderInit"]} if streaming else {}),
        "vae_encoder": ["skyloom", "SkyloomVAEEncoder"]})
    files = {}
    for dp, _, fns in os.walk(tmp):
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            files[os.path.relpath(p, tmp)] = sha256(p)
    # A lookahead decoder (train_decoder.py --lookahead) also takes the latent frames after its own.
    decoder_inputs = {"latents": "latent_frame",
                      **({"next_latents": "next_latent_frame"} if streaming and vae.decoder.lookahead else {})}
    manifest = {
        "format": "skyloom-model", "formatVersion": 1, "name": args.name,
        "version": args.version or ("2.3.0" if streaming else "1.2.0"),
        "description": args.description or (
            "Tiny text-to-video model trained on procedural videos of coloured shapes "
            "(circle, square, triangle, star) moving over plain or sunset backgrounds. "
            "Trained on CPU by models/training/." + (" DiT weights in int8." if args.int8 else "")),
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
            "vae_decoder": ({"file": "vae_decoder/model.onnx", "inputs": decoder_inputs,
                             "outputs": {"video": "video_frames"}, "caches": caches} if streaming else
                            {"file": "vae_decoder/model.onnx", "inputs": {"latents": "latent_sample"},
                             "outputs": {"video": "sample"}}),
            **({"vae_decoder_init": {"file": "vae_decoder_init/model.onnx",
                                     "inputs": decoder_inputs,
                                     "outputs": {"video": "video_frames"}}} if streaming else {}),
        },
        "latent": {"channels": C, "spatialCompression": 8, "temporalCompression": 4,
                   "frameRule": "multiple", "patchSize": [1, dit.patch_size, dit.patch_size],
                   "scalingFactor": stats["scalingFactor"], "shiftFactor": stats["shiftFactor"],
                   "previewFactors": stats["previewFactors"], "previewBias": stats["previewBias"],
                   "encoderContext": encoder_context,
                   # nets.Decoder's temporal receptive field: 4 3x3x3 convs at (96 ch) and 2 at
                   # (48 ch) on the latent time axis, 1 frame each way apiece; chunked decode needs
                   # it. The streaming decoder needs none: its caches carry the past.
                   **({} if streaming else {"decoderContext": [6, 6]}),
                   # The causal decoder draws a clip's first latent frame as a still (no history);
                   # decoding it after a virtual frame moved back along the clip's motion makes it
                   # move (nets.priming_frame; EVAL.md, "The first latent frame").
                   **({"decoderPrime": DECODER_PRIME} if streaming else {})},
        "scheduler": {"type": "flow-match-euler", "shift": SHIFT, "numTrainTimesteps": 1000},
        "conditioning": {"scheme": "latent-mask-concat",
                         "masks": ["none", "head", "tail", "head+tail"]},
        "defaults": {"width": 64, "height": 64, "frames": data.FRAMES, "fps": data.FPS,
                     "steps": args.steps, "guidance": args.guidance},
        "sizes": {k: list(v) for k, v in data.SIZES.items()},
        # The backgrounds it was trained on: the runtime warns about a prompt asking for another.
        "prompt": {"backgrounds": list(data.BACKGROUNDS)},
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
