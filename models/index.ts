// The public surface of models/: everything nodes/ and bin/ may import, re-exported from one place.
export * from './errors.js';
export * from './tensor.js';
export * from './runtime/onnx.js';
export * from './session-cache.js';
export * from './random.js';
export * from './tokenizer.js';
export * from './tokenizers/umt5.js';
export * from './tokenizers/clean-text.js';
export * from './schedulers/flow-match-euler.js';
export * from './schedulers/flow-match-heun.js';
export * from './schedulers/flow-match-unipc.js';
export * from './schedulers/euler-discrete.js';
export * from './manifest.js';
export * from './package.js';
export * from './video-model.js';
