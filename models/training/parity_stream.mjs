// Parity of the streaming VAE decoder pair (export_vae_stream.py) under onnxruntime-node: decode
// the saved clip latent frame by latent frame (init, then step with the caches matched by number)
// and compare with PyTorch's whole-clip decode. Exits 1 when max abs diff exceeds 1e-4.
//   node models/training/parity_stream.mjs [streamDir]   (default .work/vae_stream)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2] ?? path.join(here, '.work', 'vae_stream');
const TOL = 1e-4;
const spec = JSON.parse(fs.readFileSync(path.join(dir, 'parity.json'), 'utf8'));

function floats(file) {
  const buf = fs.readFileSync(path.join(dir, file));
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

const z = floats(spec.latent.file);
const whole = floats(spec.whole.file);
const [B, C, T, h, w] = spec.latent.dims;
const init = await ort.InferenceSession.create(path.join(dir, 'decoder_init.onnx'));
const step = await ort.InferenceSession.create(path.join(dir, 'decoder_step.onnx'));

// Latent frame t of a [1,C,T,h,w] tensor as [1,C,1,h,w].
function latentFrame(t) {
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) out.set(z.subarray((c * T + t) * h * w, (c * T + t + 1) * h * w), c * h * w);
  return new ort.Tensor('float32', out, [B, C, 1, h, w]);
}

const [, , F, H, W] = spec.whole.dims;
let max = 0;
let caches = {};
for (let t = 0; t < T; t++) {
  const feeds = { latent_frame: latentFrame(t) };
  // A lookahead decoder also takes the next latent frame (the clip's last looks ahead to itself).
  if (spec.lookahead) feeds.next_latent_frame = latentFrame(Math.min(t + 1, T - 1));
  if (t > 0) for (const [k, v] of Object.entries(caches)) feeds[`c${k.slice(2)}`] = v;
  const out = await (t === 0 ? init : step).run(feeds);
  caches = Object.fromEntries(Object.entries(out).filter(([k]) => k.startsWith('nc')));
  const frames = out.video_frames.data; // [1,3,4,H,W]
  for (let c = 0; c < 3; c++)
    for (let f = 0; f < 4; f++)
      for (let i = 0; i < H * W; i++) {
        const want = whole[(c * F + 4 * t + f) * H * W + i];
        max = Math.max(max, Math.abs(want - frames[(c * 4 + f) * H * W + i]));
      }
}
const ok = Object.keys(caches).length === spec.caches && max <= TOL;
const result = { tolerance: TOL, ok, maxAbsDiff: max, latentFrames: T, caches: spec.caches };
fs.writeFileSync(path.join(dir, 'parity-result.json'), JSON.stringify(result, null, 1));
console.log(`${ok ? 'ok  ' : 'FAIL'} streaming decode (init + ${T - 1} steps, ${spec.caches} caches) vs PyTorch whole decode: max|diff| ${max.toExponential(2)}`);
process.exit(ok ? 0 : 1);
