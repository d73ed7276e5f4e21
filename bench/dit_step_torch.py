"""PyTorch eager reference for bench/text-to-video.ts: the shipped DiT's weights in
models/training/nets.py's DiT, timed at the same shapes. The weights come from the training
checkpoint (models/training/.work/dit.pt, EMA) when it is there; otherwise from the ONNX file's
named initializers (the exporter leaves linear weights unnamed, so those keep their random init:
the timing is the same, the numbers are not).

Usage: /usr/bin/python3 bench/dit_step_torch.py <transformer/model.onnx> '<[1,C,T,h,w]>' <text length>
Prints {"ms": <per step, batch 2>, "source", "loaded": <tensors>, "missing": [...]} as JSON.
Needs Debian's python3-torch and python3-onnx (benchmark only).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models", "training"))

import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from nets import DiT  # noqa: E402


def main():
    path, shape, text_len = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(int(os.environ.get("SKYLOOM_THREADS", "2")))
    dit = DiT().eval()
    state = dit.state_dict()
    checkpoint = os.path.join(os.path.dirname(__file__), "..", "models", "training", ".work", "dit.pt")
    if os.path.exists(checkpoint):
        weights = torch.load(checkpoint)["ema_dit"]
        source = "checkpoint"
    else:
        weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(path).graph.initializer}
        source = "onnx"
    loaded = {k: weights[k] for k in state if k in weights and weights[k].shape == state[k].shape}
    missing = sorted(set(state) - set(loaded))
    dit.load_state_dict(loaded, strict=False)

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
    print(json.dumps({"ms": ms, "source": source, "loaded": len(loaded), "missing": missing}))


if __name__ == "__main__":
    main()
