"""PyTorch eager reference for bench/text-to-video.ts: the shipped DiT in models/training/nets.py's
DiT, timed at the same shapes. The network is built for the package (its patch size and latent
channels, from skyloom.json) and holds the package's weights, restored from its ONNX files by
models/training/dit_from_package.py (every parameter, or the script stops). Until 2.3 the DiT was
built with the default patch of 2 and loaded from the training checkpoint: against the patch-1
package that timed a network with a quarter of the tokens.

Usage: /usr/bin/python3 bench/dit_step_torch.py <transformer/model.onnx> '<[1,C,T,h,w]>' <text length>
Prints {"ms": <per step, batch 2>, "patch", "parameters", "blas"} as JSON.
       /usr/bin/python3 bench/dit_step_torch.py --check
Prints {"torch", "onnx", "blas", "realBlas", "problems": [...]} without importing the DiT: whether
this interpreter can give a reference figure that means anything (see check()).
Needs Debian's python3-torch, python3-onnx and a real BLAS (libopenblas0-openmp) (benchmark only).
"""
import json
import os
import sys
import time


def blas_library():
    """The BLAS shared object this process actually mapped (after a matmul has loaded it)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
    return sorted(libs)


def check():
    """torch and onnx importable, and a real BLAS behind torch: with Debian's reference libblas
    (the netlib one the libblas.so.3 alternative points to without libopenblas0-openmp) PyTorch's
    linear layers run ~17x slower and the bench's ratio measures that BLAS, not onnxruntime."""
    problems, out = [], {}
    try:
        import torch
        torch.ones(64, 64) @ torch.ones(64, 64)
        out["torch"] = torch.__version__
        # pip wheels link MKL statically: no BLAS library shows up in the maps, the config says so
        mkl = "BLAS_INFO=mkl" in torch.__config__.show()
    except ImportError:
        problems.append("python3-torch is missing (apt-get install -y python3-torch)")
    try:
        import onnx
        out["onnx"] = onnx.__version__
    except ImportError:
        problems.append("python3-onnx is missing (apt-get install -y python3-onnx): the weights "
                        "are read from the ONNX file")
    libs = blas_library()
    real = [p for p in libs if any(k in p for k in ("openblas", "blis", "mkl"))]
    out["blas"] = libs
    out["realBlas"] = bool(real) or ("torch" in out and mkl)
    if "torch" in out and not out["realBlas"]:
        problems.append(f"PyTorch runs on the reference BLAS ({', '.join(libs) or 'none mapped'}): "
                        "apt-get install -y libopenblas0-openmp")
    out["problems"] = problems
    return out


if len(sys.argv) > 1 and sys.argv[1] == "--check":
    print(json.dumps(check()))
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models", "training"))

import torch  # noqa: E402

from dit_from_package import networks_from_package  # noqa: E402


def main():
    path, shape, text_len = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(os.environ.get("SKYLOOM_THREADS", "2")))
    _, dit, config, _, _ = networks_from_package(os.path.dirname(os.path.dirname(os.path.abspath(path))))
    dit.eval()

    _, c, t, h, w = shape
    b = 2  # guidance runs the prompt and the empty prompt as one batch
    x = torch.randn(b, c, t, h, w)
    args = (x, torch.full((b,), 500.0), torch.randn(b, text_len, 128), torch.ones(b, text_len, dtype=torch.int64),
            torch.zeros_like(x), torch.zeros(b, 1, t, h, w))
    with torch.no_grad():
        for _ in range(3):
            dit(*args)
        n = 20
        start = time.perf_counter()
        for _ in range(n):
            dit(*args)
        ms = (time.perf_counter() - start) / n * 1000
    print(json.dumps({"ms": ms, "patch": config["patch"], "parameters": sum(p.numel() for p in dit.parameters()),
                      "blas": blas_library()}))


if __name__ == "__main__":
    main()
