"""int8 weights for the DiT: onnxruntime's dynamic quantization (weights int8 per channel, activations
quantized at run time), as an export option (export.py --int8) or on an exported package.

Needs pip's onnxruntime (Debian has no python3-onnxruntime): run it with the venv of README.md
("Faster training"), e.g. /tmp/tiny2-venv/bin/python.

    python quantize_dit.py --onnx transformer/model.onnx --out transformer/model.onnx
    python quantize_dit.py --package ../packages/skyloom-tiny --out /tmp/skyloom-tiny-int8
        (copies the package, quantizes its transformer, renames it <name>-int8 and rewrites the
        hashes in skyloom.json; bench/dit-int8.ts then compares the two, evaluate.py --package judges it)
"""
import argparse
import hashlib
import json
import os
import shutil
import tempfile

from onnxruntime.quantization import QuantType, quantize_dynamic


def quantize(src, dst):
    """Dynamic int8 quantization of the MatMul/Gemm weights (per channel, signed)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "model.onnx")
        quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        shutil.copyfile(out, dst)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def quantize_package(src, dst):
    if os.path.abspath(src) == os.path.abspath(dst):
        raise SystemExit("--out must be another folder than --package")
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    manifest_path = os.path.join(dst, "skyloom.json")
    m = json.load(open(manifest_path))
    rel = m["components"]["transformer"]["file"]
    before = os.path.getsize(os.path.join(src, rel))
    quantize(os.path.join(src, rel), os.path.join(dst, rel))
    m["name"] = f"{m['name']}-int8"
    m["description"] = m.get("description", "") + " DiT weights in int8 (quantize_dit.py)."
    m["files"][rel] = sha256(os.path.join(dst, rel))
    with open(manifest_path, "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    print(f"{rel}: {before / 1e6:.2f} MB -> {os.path.getsize(os.path.join(dst, rel)) / 1e6:.2f} MB ({dst})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", help="one graph to quantize (into --out)")
    ap.add_argument("--package", help="a package folder to copy with its DiT quantized (into --out)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if (args.onnx is None) == (args.package is None):
        raise SystemExit("give exactly one of --onnx and --package")
    if args.onnx:
        before = os.path.getsize(args.onnx)
        quantize(args.onnx, args.out)
        print(f"{args.onnx}: {before / 1e6:.2f} MB -> {os.path.getsize(args.out) / 1e6:.2f} MB")
    else:
        quantize_package(args.package, args.out)


if __name__ == "__main__":
    main()
