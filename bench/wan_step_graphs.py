"""Random-weight Wan-shaped graphs for bench/wan-step.ts, and the Python onnxruntime side of its timing.

  build <dir> [blocks]   write <dir>/wan-dit.onnx and <dir>/wan-vae-step.onnx (onnx.helper + numpy,
                         seeded); skipped when both exist with the same settings (<dir>/graphs.json)
  serve <dir> <threads>  load both with onnxruntime and answer stdin lines "dit" / "vae" with one
                         JSON line {"ms", "checksum"} per run, until "quit"

Shapes (Wan2.1-T2V-1.3B widths; layers cut to fit a 2-core CPU, tokens not):
  DiT: latent_input [1,16,4,30,52], timestep [1], text_embeddings [1,512,4096] -> noise_prediction;
       patch 1x2x2 (1,560 tokens), dim 1536, 12 heads, FFN 8960, `blocks` blocks (Wan: 30) with
       modulated LayerNorm, self-attention with RMS-normed q/k and rotary embedding, cross-attention
       to the projected text, tanh-GELU FFN; sinusoidal timestep MLP; unpatchify. Attention is
       com.microsoft MultiHeadAttention in fp32 (wannx's export runs it in an fp16 island).
  VAE step: latent_frame [1,16,1,30,52] + caches c0..c5 -> video_frames [1,3,4,240,416] + nc0..nc5;
       causal 3x3x3 convolutions over [2 cached frames, new frames] at 1x (384 ch), 2x (192 ch) and
       8x (32 ch), two causal time-upsampling convs (1 -> 2 -> 4 frames) and three nearest x2 spatial
       upsamplings each followed by a 1x3x3 conv. The real step graph has 33 caches and about seven
       times the convolution work.
Inputs are a fixed formula (see inputs()) that bench/wan-step.ts reproduces, so both sides run the
same numbers and their outputs can be compared. Benchmark only; needs pip onnx, onnxruntime, numpy.
"""
import json
import math
import os
import sys
import time

import numpy as np

DIM, HEADS, FFN, TEXT_DIM, TEXT_LEN, CH = 1536, 12, 8960, 4096, 512, 16
F, H, W = 4, 30, 52
VERSION = 1


def fill(shape, k):
    # value i of a flat input: sin(0.37·i + k) · 0.5, the formula bench/wan-step.ts uses too
    n = int(np.prod(shape))
    return (np.sin(0.37 * np.arange(n, dtype=np.float64) + k) * 0.5).astype(np.float32).reshape(shape)


def dit_inputs():
    return {
        "latent_input": fill([1, CH, F, H, W], 1.0),
        "timestep": np.array([937.0], dtype=np.float32),
        "text_embeddings": fill([1, TEXT_LEN, TEXT_DIM], 2.0),
    }


VAE_CACHES = [(16, 1), (384, 1), (384, 1), (192, 2), (192, 2), (32, 8)]  # (channels, spatial multiple)


def vae_inputs():
    feeds = {"latent_frame": fill([1, CH, 1, H, W], 3.0)}
    for k, (c, m) in enumerate(VAE_CACHES):
        feeds[f"c{k}"] = fill([1, c, 2, m * H, m * W], 4.0 + k)
    return feeds


class Graph:
    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.n = [], [], np.random.default_rng(seed), 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, array, base="c"):
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, shape, fan_in, base="w"):
        return self.const((self.rng.standard_normal(shape, dtype=np.float32) / math.sqrt(fan_in)).astype(np.float32), base)

    def op(self, op_type, inputs, outputs=1, domain="", **attrs):
        from onnx import helper
        outs = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, domain=domain, **attrs))
        return outs[0] if outputs == 1 else outs

    def shape(self, dims):
        return self.const(np.array(dims, dtype=np.int64), "shape")

    def linear(self, x, n_in, n_out):
        return self.op("Add", [self.op("MatMul", [x, self.weight([n_in, n_out], n_in)]), self.const(np.zeros(n_out, np.float32), "b")])

    def silu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def layer_norm(self, x, affine=False):
        scale = self.const(np.ones(DIM, np.float32), "ln_scale")
        bias = self.const(np.zeros(DIM, np.float32), "ln_bias")
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-6)

    def rms_norm(self, x, axis, width):
        ms = self.op("ReduceMean", [self.op("Mul", [x, x]), self.const(np.array([axis], np.int64))], keepdims=1)
        inv = self.op("Reciprocal", [self.op("Sqrt", [self.op("Add", [ms, self.const(np.float32(1e-6))])])])
        gamma_shape = [width] if axis == -1 else [width, 1, 1, 1]
        return self.op("Mul", [self.op("Mul", [x, inv]), self.const(np.ones(gamma_shape, np.float32), "gamma")])

    def model(self, inputs, outputs, opsets):
        from onnx import TensorProto, helper
        graph = helper.make_graph(
            self.nodes, "wan_bench",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
        model.ir_version = 9
        return model


def rope_tables(tokens):
    # Wan splits the 128 head dims over frame, height and width positions; the cost, not the exact split, matters here.
    f, h, w = np.meshgrid(np.arange(F), np.arange(H // 2), np.arange(W // 2), indexing="ij")
    pos = np.stack([f.ravel(), h.ravel(), w.ravel()], 1).astype(np.float64)  # [L, 3]
    half = DIM // HEADS // 2
    freqs = 1.0 / (10000 ** (np.arange(half) / half))
    axis = np.arange(half) % 3
    angles = pos[:, axis] * freqs  # [L, 64]
    angles = np.concatenate([angles, angles], 1)
    return np.cos(angles).astype(np.float32).reshape(1, tokens, 1, -1), np.sin(angles).astype(np.float32).reshape(1, tokens, 1, -1)


def build_dit(blocks):
    g = Graph(0)
    tokens = F * (H // 2) * (W // 2)
    head_dim = DIM // HEADS
    # patch embedding 1x2x2 -> [1, L, dim]
    x = g.op("Conv", ["latent_input", g.weight([DIM, CH, 1, 2, 2], CH * 4), g.const(np.zeros(DIM, np.float32))], kernel_shape=[1, 2, 2], strides=[1, 2, 2])
    x = g.op("Transpose", [g.op("Reshape", [x, g.shape([1, DIM, tokens])])], perm=[0, 2, 1])
    # timestep: sinusoid (256) -> MLP -> e; e -> 6 modulation vectors
    freqs = np.exp(-math.log(10000) * np.arange(128) / 128).astype(np.float32).reshape(1, 128)
    targ = g.op("Mul", [g.op("Unsqueeze", ["timestep", g.const(np.array([1], np.int64))]), g.const(freqs)])
    sinus = g.op("Concat", [g.op("Cos", [targ]), g.op("Sin", [targ])], axis=1)
    e = g.linear(g.silu(g.linear(sinus, 256, DIM)), DIM, DIM)
    e0 = g.op("Reshape", [g.linear(g.silu(e), DIM, 6 * DIM), g.shape([1, 6, DIM])])
    # text: 4096 -> dim, tanh-GELU, dim -> dim
    ctx = g.linear(g.op("Gelu", [g.linear("text_embeddings", TEXT_DIM, DIM)], approximate="tanh"), DIM, DIM)
    cos, sin = (g.const(t, "rope") for t in rope_tables(tokens))
    heads_shape, flat_shape = g.shape([1, tokens, HEADS, head_dim]), g.shape([1, tokens, DIM])
    split_half = g.const(np.array([head_dim // 2, head_dim // 2], np.int64))

    def rope(t):
        t4 = g.op("Reshape", [t, heads_shape])
        a, b = g.op("Split", [t4, split_half], outputs=2, axis=-1)
        rotated = g.op("Concat", [g.op("Neg", [b]), a], axis=-1)
        return g.op("Reshape", [g.op("Add", [g.op("Mul", [t4, cos]), g.op("Mul", [rotated, sin])]), flat_shape])

    def attention(q, k, v):
        return g.op("MultiHeadAttention", [q, k, v], domain="com.microsoft", num_heads=HEADS)

    for _ in range(blocks):
        mod = g.op("Add", [e0, g.weight([1, 6, DIM], DIM, "modulation")])
        shift1, scale1, gate1, shift2, scale2, gate2 = g.op("Split", [mod], outputs=6, axis=1, num_outputs=6)
        one = g.const(np.float32(1.0))
        h = g.op("Add", [g.op("Mul", [g.layer_norm(x), g.op("Add", [scale1, one])]), shift1])
        q = rope(g.rms_norm(g.linear(h, DIM, DIM), -1, DIM))
        k = rope(g.rms_norm(g.linear(h, DIM, DIM), -1, DIM))
        v = g.linear(h, DIM, DIM)
        x = g.op("Add", [x, g.op("Mul", [g.linear(attention(q, k, v), DIM, DIM), gate1])])
        h = g.layer_norm(x)
        q = g.rms_norm(g.linear(h, DIM, DIM), -1, DIM)
        k = g.rms_norm(g.linear(ctx, DIM, DIM), -1, DIM)
        v = g.linear(ctx, DIM, DIM)
        x = g.op("Add", [x, g.linear(attention(q, k, v), DIM, DIM)])
        h = g.op("Add", [g.op("Mul", [g.layer_norm(x), g.op("Add", [scale2, one])]), shift2])
        ffn = g.linear(g.op("Gelu", [g.linear(h, DIM, FFN)], approximate="tanh"), FFN, DIM)
        x = g.op("Add", [x, g.op("Mul", [ffn, gate2])])
    head_mod = g.op("Add", [g.op("Unsqueeze", [e, g.const(np.array([1], np.int64))]), g.weight([1, 2, DIM], DIM, "head_modulation")])
    shift, scale = g.op("Split", [head_mod], outputs=2, axis=1, num_outputs=2)
    h = g.op("Add", [g.op("Mul", [g.layer_norm(x), g.op("Add", [scale, g.const(np.float32(1.0))])]), shift])
    out = g.linear(h, DIM, CH * 4)  # [1, L, 1·2·2·16]
    out = g.op("Reshape", [out, g.shape([1, F, H // 2, W // 2, 1, 2, 2, CH])])
    out = g.op("Transpose", [out], perm=[0, 7, 1, 4, 2, 5, 3, 6])
    g.op("Reshape", [out, g.shape([1, CH, F, H, W])])
    g.nodes[-1].output[0] = "noise_prediction"
    return g.model(
        [("latent_input", [1, CH, F, H, W]), ("timestep", [1]), ("text_embeddings", [1, TEXT_LEN, TEXT_DIM])],
        [("noise_prediction", [1, CH, F, H, W])],
        [("", 20), ("com.microsoft", 1)],
    )


def build_vae():
    from onnx import helper
    g = Graph(1)
    new_caches = []

    def causal(x, k, c_in, c_out, kernel=(3, 3, 3)):
        # [2 cached frames, new frames] -> conv without time padding; the last 2 input frames become the new cache
        both = g.op("Concat", [f"c{k}", x], axis=2)
        new_caches.append(g.op("Slice", [both, g.const(np.array([-2], np.int64)), g.const(np.array([2 ** 31 - 1], np.int64)), g.const(np.array([2], np.int64))]))
        pad = kernel[1] // 2
        fan = c_in * int(np.prod(kernel))
        return g.op("Conv", [both, g.weight([c_out, c_in, *kernel], fan), g.const(np.zeros(c_out, np.float32))],
                    kernel_shape=list(kernel), pads=[0, pad, pad, 0, pad, pad])

    def act(x, c):
        return g.silu(g.rms_norm(x, 1, c))

    def time_up(x, k, c, frames, h, w):
        y = causal(x, k, c, 2 * c, (3, 1, 1))  # [1, 2c, T, h, w]
        y = g.op("Reshape", [y, g.shape([1, 2, c, frames, h, w])])
        y = g.op("Transpose", [y], perm=[0, 2, 3, 1, 4, 5])
        return g.op("Reshape", [y, g.shape([1, c, 2 * frames, h, w])])

    def space_up(x, c_in, c_out):
        y = g.op("Resize", [x, "", g.const(np.array([1, 1, 1, 2, 2], np.float32))], mode="nearest")
        return g.op("Conv", [y, g.weight([c_out, c_in, 1, 3, 3], c_in * 9), g.const(np.zeros(c_out, np.float32))], kernel_shape=[1, 3, 3], pads=[0, 1, 1, 0, 1, 1])

    x = causal("latent_frame", 0, CH, 384)
    x = g.op("Add", [x, causal(act(x, 384), 1, 384, 384)])
    x = space_up(time_up(x, 2, 384, 1, H, W), 384, 192)  # 2 frames, 2x
    x = g.op("Add", [x, causal(act(x, 192), 3, 192, 192)])
    x = space_up(time_up(x, 4, 192, 2, 2 * H, 2 * W), 192, 96)  # 4 frames, 4x
    x = space_up(x, 96, 32)  # 8x
    x = causal(act(x, 32), 5, 32, 3)
    g.nodes[-1].output[0] = "video_frames"
    for k, name in enumerate(new_caches):
        g.nodes.append(helper.make_node("Identity", [name], [f"nc{k}"]))
    inputs = [("latent_frame", [1, CH, 1, H, W])] + [(f"c{k}", [1, c, 2, m * H, m * W]) for k, (c, m) in enumerate(VAE_CACHES)]
    outputs = [("video_frames", [1, 3, 4, 8 * H, 8 * W])] + [(f"nc{k}", [1, c, 2, m * H, m * W]) for k, (c, m) in enumerate(VAE_CACHES)]
    return g.model(inputs, outputs, [("", 20)])


def build(directory, blocks):
    import onnx
    settings = {"version": VERSION, "blocks": blocks}
    meta = os.path.join(directory, "graphs.json")
    paths = [os.path.join(directory, "wan-dit.onnx"), os.path.join(directory, "wan-vae-step.onnx")]
    if all(os.path.exists(p) for p in paths + [meta]) and json.load(open(meta)) == settings:
        return
    os.makedirs(directory, exist_ok=True)
    onnx.save(build_dit(blocks), paths[0])
    onnx.save(build_vae(), paths[1])
    with open(meta, "w") as f:
        json.dump(settings, f)


def serve(directory, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    sessions = {
        "dit": (ort.InferenceSession(os.path.join(directory, "wan-dit.onnx"), options, providers=["CPUExecutionProvider"]), dit_inputs(), "noise_prediction"),
        "vae": (ort.InferenceSession(os.path.join(directory, "wan-vae-step.onnx"), options, providers=["CPUExecutionProvider"]), vae_inputs(), "video_frames"),
    }
    print(json.dumps({"ready": True, "onnxruntime": ort.__version__}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        session, feeds, out = sessions[cmd]
        start = time.perf_counter()
        result = session.run(None, feeds)
        ms = (time.perf_counter() - start) * 1000
        first = result[[o.name for o in session.get_outputs()].index(out)]
        print(json.dumps({"ms": ms, "checksum": float(np.abs(first.astype(np.float64)).sum())}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    elif sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}: use build or serve")
