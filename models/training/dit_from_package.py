"""Rebuild the DiT checkpoint (.work/dit.pt) from the shipped package's ONNX files, so a DiT
fine-tune or a further phase (train_dit.py --init) can start from the shipped weights on a fresh
checkout (.work/ is git-ignored).

The export folds each linear layer's weight into an anonymous, transposed MatMul constant
("onnx::MatMul_2065"), so the names in the shipped graphs do not say which layer a constant is.
This script exports a copy of the networks with random weights through the same exporter
(export.py's export(), Debian's torch 1.13, as the package was made): the same graph, the same
constant names. Each constant of that copy equals one parameter of the copy (as is or transposed),
which names it, and the shipped graph's constant of that name is the trained parameter. Every
parameter must be found exactly once, and the restored networks, exported again, must give the
shipped graphs' constants bit for bit; otherwise the script stops.

The package holds the EMA weights only (what ships), so the checkpoint has them as both the
weights and their EMA, with step = 0 and no optimiser state: for --init, not for resuming.

    python3 dit_from_package.py [--package ../packages/skyloom-tiny] [--work .work]
"""
import argparse
import json
import os
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

import data
from export import PACKAGE, TextEncoderIO, export
from nets import WIDTH, networks_from_config, setup_torch


def constants(path):
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def export_te(te, path):
    cap = data.tokenize("a red circle moving left on a black background")
    ids = torch.tensor([cap + [0] * (data.MAX_TOKENS - len(cap)), [0] * data.MAX_TOKENS])
    mask = (ids > 0).long()
    with torch.no_grad():
        export(TextEncoderIO(te), (ids, mask), path, ["input_ids", "attention_mask"], ["last_hidden_state"],
               {"input_ids": {0: "batch", 1: "L"}, "attention_mask": {0: "batch", 1: "L"},
                "last_hidden_state": {0: "batch", 1: "L"}})
        return te(ids, mask), mask


def export_dit(dit, text, mask, path):
    """The transformer graph exactly as export.py traces it (same example shapes and axes)."""
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(2, dit.channels, 4, 8, 8, generator=g)
    lat5 = {0: "batch", 2: "T", 3: "h", 4: "w"}
    with torch.no_grad():
        export(dit, (lat, torch.tensor([500.0, 900.0]), text, mask, lat, torch.ones(2, 1, 4, 8, 8)), path,
               ["hidden_states", "timestep", "encoder_hidden_states", "encoder_attention_mask",
                "cond_latents", "cond_mask"], ["sample"],
               {"hidden_states": lat5, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "L"},
                "encoder_attention_mask": {0: "batch", 1: "L"}, "cond_latents": lat5, "cond_mask": lat5,
                "sample": lat5})


def name_constants(module, exported):
    """{constant name: (parameter name, transposed)} for a module exported with random weights."""
    params = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    found = {}
    for cname, c in exported.items():
        for pname, p in params.items():
            if c.shape == p.shape and np.array_equal(c, p):
                found[cname] = (pname, False)
            elif p.ndim == 2 and c.shape == p.T.shape and np.array_equal(c, p.T):
                found[cname] = (pname, True)
    return found


def restore(module, shipped, names, label):
    """Loads the shipped constants into `module` by the names found; every parameter exactly once."""
    state = module.state_dict()
    restored = {}
    for cname, (pname, transposed) in names.items():
        if cname not in shipped:
            raise SystemExit(f"{label}: the shipped graph has no constant {cname} ({pname}); was it made by another exporter?")
        value = shipped[cname].T if transposed else shipped[cname]
        if pname in restored and not np.array_equal(restored[pname], value):
            raise SystemExit(f"{label}: {pname} has two different values in the shipped graph")
        restored[pname] = value
    missing = [k for k in state if k not in restored]
    if missing:
        raise SystemExit(f"{label}: no constant holds {', '.join(missing)}")
    module.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)).to(state[k].dtype) for k, v in restored.items()})


def networks_from_package(package):
    """The package's text encoder and DiT as torch modules holding its weights, their config (patch
    size and latent channels from skyloom.json) and the shipped graphs' constants ({name: array}
    each). Also what bench/dit_step_torch.py times."""
    te_path = os.path.join(package, "text_encoder", "model.onnx")
    dit_path = os.path.join(package, "transformer", "model.onnx")
    shipped_te, shipped_dit = constants(te_path), constants(dit_path)
    with open(os.path.join(package, "skyloom.json")) as f:
        latent = json.load(f)["latent"]
    config = {"width": WIDTH, "depth": 6, "te_layers": 2, "channels": latent["channels"],
              "patch": latent["patchSize"][1]}
    te, dit = networks_from_config(config, len(data.VOCAB))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random weights everywhere (zero-initialised layers would be ambiguous)
        for p in [*te.parameters(), *dit.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as tmp:
        text, mask = export_te(te, os.path.join(tmp, "te.onnx"))
        export_dit(dit, text, mask, os.path.join(tmp, "dit.onnx"))
        te_names = name_constants(te, constants(os.path.join(tmp, "te.onnx")))
        dit_names = name_constants(dit, constants(os.path.join(tmp, "dit.onnx")))
    restore(te, shipped_te, te_names, te_path)
    restore(dit, shipped_dit, dit_names, dit_path)
    return te, dit, config, shipped_te, shipped_dit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default=PACKAGE)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".work"))
    args = ap.parse_args()
    setup_torch(0)
    te, dit, config, shipped_te, shipped_dit = networks_from_package(args.package)
    # The check: the restored networks export to the shipped constants, bit for bit.
    with tempfile.TemporaryDirectory() as tmp:
        text, mask = export_te(te, os.path.join(tmp, "te.onnx"))
        export_dit(dit, text, mask, os.path.join(tmp, "dit.onnx"))
        for path, shipped in ((os.path.join(tmp, "te.onnx"), shipped_te), (os.path.join(tmp, "dit.onnx"), shipped_dit)):
            again = constants(path)
            differ = [k for k in shipped if k not in again or not np.array_equal(again[k], shipped[k])]
            if differ or len(again) != len(shipped):
                raise SystemExit(f"restored weights do not export to the shipped constants: {differ[:5]}")
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "dit.pt")
    torch.save({"te": te.state_dict(), "dit": dit.state_dict(), "ema_te": te.state_dict(), "ema_dit": dit.state_dict(),
                "step": 0, "config": config,
                "from": os.path.relpath(args.package, os.path.dirname(os.path.abspath(__file__)))}, out)
    print(f"wrote {out} from {args.package}: every parameter of the text encoder ({len(te.state_dict())}) "
          f"and the DiT ({len(dit.state_dict())}) restored, re-export equal to the shipped graphs")


if __name__ == "__main__":
    main()
