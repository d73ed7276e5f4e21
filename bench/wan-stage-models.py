"""Builds Wan-shaped graphs with ~200 MB of weights per stage (text encoder, DiT) for bench/wan-stages.ts.

The graphs are tests/fixtures/wan/make_fixtures.py's, each with a 4096×12 000 ballast matrix that a
MatMul reads whole on every call (a table lookup would leave most of its mmap-ed pages untouched),
so each stage's weights are resident while it runs and the peak shows whether the stages overlap. Writes to the folder given (default /tmp/skyloom-wan-stages).

    python3 bench/wan-stage-models.py [out]   # needs onnx, numpy
"""
import os
import shutil
import sys

import numpy as np
from onnx import helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'fixtures', 'wan'))
import make_fixtures as fx  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else '/tmp/skyloom-wan-stages'
ROWS = 12000


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, '..', 'tests', 'fixtures', 'wan', 'bundle'), OUT)
    t5 = fx.t5()
    g = t5.graph
    g.initializer.append(fx.init('ballast', (np.random.default_rng(2).standard_normal((fx.TEXT_DIM, ROWS)) * 1e-4).astype(np.float32)))
    last = g.node.pop()  # Cast(out32) → text_embeddings
    g.node.extend([
        helper.make_node('MatMul', ['out32', 'ballast'], ['bal']),
        helper.make_node('ReduceMean', ['bal'], ['balm'], keepdims=0),
        helper.make_node('Add', ['out32', 'balm'], ['out_b']),
        helper.make_node('Cast', ['out_b'], list(last.output), to=1),
    ])
    fx.save(t5, os.path.join(OUT, 't5_encoder_fp16.onnx'), external='t5_encoder_fp16.onnx.data')
    model = fx.dit()
    g = model.graph
    g.initializer.append(fx.init('ballast', (np.random.default_rng(1).standard_normal((fx.TEXT_DIM, ROWS)) * 1e-4).astype(np.float32)))
    last = g.node.pop()  # Identity(out32) → noise_prediction
    g.node.extend([
        helper.make_node('MatMul', ['text_embeddings', 'ballast'], ['bal']),
        helper.make_node('ReduceMean', ['bal'], ['balm'], keepdims=0),
        helper.make_node('Add', ['out32', 'balm'], ['out_b']),
        helper.make_node('Identity', ['out_b'], list(last.output)),
    ])
    fx.save(model, os.path.join(OUT, 'dit.onnx'), external='dit.onnx.data')


if __name__ == '__main__':
    main()
