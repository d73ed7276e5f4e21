// Reference sampler over the EXPORTED package (onnxruntime-node, CPU): tokenize -> text-encode ->
// rectified-flow Euler sampling with classifier-free guidance -> VAE decode. The evaluation runs
// through this file so that it measures what ships, not the PyTorch model.
//
//   node models/training/sample_onnx.mjs jobs.json
//
// jobs.json: { "package": dir (default models/packages/skyloom-tiny), "outDir": dir,
//              "steps": 20, "guidance": 4, "shift": from the manifest,
//              "jobs": [{ "id", "prompt", "width", "height", "frames", "seed",
//                         "guidance"?, "known"?: { "file", "start"?, "frames", "position": "head"|"tail" } }] }
// Each job writes outDir/<id>.rgb: uint8 frames [F, H, W, 3]. "known" names a raw uint8 file of
// frames of the same size; `frames` of them (a multiple of 4) from frame `start` (default 0) are
// encoded and become the known latent frames at the head or tail of the new clip; a job
// may name a file an earlier job wrote (that is how the extension test chains clips).
// A job { "id", "reconstruct": file, "width", "height", "frames" } instead round-trips a raw clip
// through the VAE encoder and decoder (for the reconstruction PSNR).
//
// Noise: mulberry32(seed) uniform numbers, Box-Muller pairs -> N(0, 1), filled in [C, T, h, w]
// order. Sigmas: s_i = 1 - i / steps (i = 0..steps), shifted s' = shift*s / (1 + (shift-1)*s).
// Known latent frames are set to (1 - s) * z + s * noise before every step, as in training.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(n, seed) {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(rand(), 1e-12);
    const u2 = rand();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

export function sigmas(steps, shift) {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const s = 1 - i / steps;
    return (shift * s) / (1 + (shift - 1) * s);
  });
}

/** Latent frame [C, h, w] moved by (dy, dx) cells, bilinear, edges repeated (skyloom.ts translateLatent). */
function translateLatent(z, C, h, w, dy, dx) {
  const out = new Float32Array(z.length);
  for (let i = 0; i < h; i++) {
    const y = Math.min(h - 1, Math.max(0, i - dy)), y0 = Math.floor(y), y1 = Math.min(h - 1, y0 + 1), fy = y - y0;
    for (let j = 0; j < w; j++) {
      const x = Math.min(w - 1, Math.max(0, j - dx)), x0 = Math.floor(x), x1 = Math.min(w - 1, x0 + 1), fx = x - x0;
      for (let c = 0; c < C; c++) {
        const p = c * h * w;
        const top = z[p + y0 * w + x0] * (1 - fx) + z[p + y0 * w + x1] * fx;
        const bottom = z[p + y1 * w + x0] * (1 - fx) + z[p + y1 * w + x1] * fx;
        out[p + i * w + j] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/** Shifts searched on each axis: ±1.5 latent cells in quarter cells (skyloom.ts PRIME_SHIFTS). */
const PRIME_SHIFTS = Array.from({ length: 13 }, (_, i) => -1.5 + 0.25 * i);

/** z0 moved back by the shift that best maps it onto z1 (skyloom.ts primingFrame). */
function primingFrame(z0, z1, C, h, w) {
  let best = Infinity, shift = [0, 0];
  for (const dy of PRIME_SHIFTS)
    for (const dx of PRIME_SHIFTS) {
      const m = translateLatent(z0, C, h, w, dy, dx);
      let e = 0;
      for (let i = 0; i < m.length; i++) e += (m[i] - z1[i]) ** 2;
      if (e < best) { best = e; shift = [dy, dx]; }
    }
  return translateLatent(z0, C, h, w, -shift[0], -shift[1]);
}

export class Pipeline {
  static async load(dir) {
    const p = new Pipeline();
    p.dir = dir;
    p.m = JSON.parse(fs.readFileSync(path.join(dir, 'skyloom.json'), 'utf8'));
    const tj = JSON.parse(fs.readFileSync(path.join(dir, p.m.tokenizer.file), 'utf8'));
    p.tok = new Tokenizer(tj, {});
    p.s = {};
    for (const [k, c] of Object.entries(p.m.components)) {
      p.s[k] = await ort.InferenceSession.create(path.join(dir, c.file), { intraOpNumThreads: 2 });
    }
    return p;
  }

  async run(component, feeds) {
    const c = this.m.components[component];
    const named = Object.fromEntries(Object.entries(feeds).map(([role, t]) => [c.inputs[role], t]));
    const out = await this.s[component].run(named);
    return Object.fromEntries(Object.entries(c.outputs).map(([role, name]) => [role, out[name]]));
  }

  /** [cond, uncond] text states and masks as one batch of 2. */
  async encodeText(prompt) {
    const L = this.m.tokenizer.maxLength;
    const ids = new BigInt64Array(2 * L).fill(BigInt(this.m.tokenizer.padId));
    const mask = new BigInt64Array(2 * L);
    this.tok.encode(prompt).ids.slice(0, L).forEach((id, i) => { ids[i] = BigInt(id); mask[i] = 1n; });
    const idsT = new ort.Tensor('int64', ids, [2, L]);
    const maskT = new ort.Tensor('int64', mask, [2, L]);
    const { hidden_states } = await this.run('text_encoder', { input_ids: idsT, attention_mask: maskT });
    return { text: hidden_states, mask: maskT };
  }

  /** uint8 [F, H, W, 3] -> normalised latents Float32Array [C, T, h, w]. */
  async encodeFrames(rgb, F, H, W) {
    const x = new Float32Array(3 * F * H * W);
    for (let f = 0; f < F; f++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++)
          for (let c = 0; c < 3; c++)
            x[((c * F + f) * H + y) * W + xx] = rgb[((f * H + y) * W + xx) * 3 + c] / 127.5 - 1;
    const { latents } = await this.run('vae_encoder', { video: new ort.Tensor('float32', x, [1, 3, F, H, W]) });
    const { scalingFactor, shiftFactor } = this.m.latent;
    return Float32Array.from(latents.data, (v) => (v - shiftFactor) * scalingFactor);
  }

  /** normalised latents [C, T, h, w] -> uint8 [F, H, W, 3]. */
  async decode(z, T, h, w) {
    const { channels: C, scalingFactor, shiftFactor, spatialCompression: sc, temporalCompression: tc } = this.m.latent;
    // A streaming (2.0) package's first-chunk graph decodes a whole clip in one call (zero caches).
    const decoder = this.m.components.vae_decoder_init ? 'vae_decoder_init' : 'vae_decoder';
    // latent.decoderPrime "translate": a virtual latent frame (primingFrame) goes first and its
    // frames are dropped, as the runtime's decode does (models/families/skyloom.ts).
    const prime = decoder === 'vae_decoder_init' && T > 1 && this.m.latent.decoderPrime === 'translate';
    const Tin = prime ? T + 1 : T, plane = h * w, off = Tin - T;
    const raw = new Float32Array(C * Tin * plane);
    for (let c = 0; c < C; c++)
      for (let j = 0; j < T * plane; j++) raw[(c * Tin + off) * plane + j] = z[c * T * plane + j] / scalingFactor + shiftFactor;
    if (prime) {
      const frame = (t) => Float32Array.from({ length: C * plane }, (_, i) => raw[(Math.floor(i / plane) * Tin + t) * plane + (i % plane)]);
      const virtual = primingFrame(frame(1), frame(2), C, h, w);
      for (let c = 0; c < C; c++) raw.set(virtual.subarray(c * plane, (c + 1) * plane), c * Tin * plane);
    }
    const feeds = { latents: new ort.Tensor('float32', raw, [1, C, Tin, h, w]) };
    if (this.m.components[decoder].inputs.next_latents) {
      // A lookahead decoder takes the latent frames after each one, the last looking ahead to itself.
      const next = new Float32Array(raw.length);
      for (let c = 0; c < C; c++)
        for (let t = 0; t < Tin; t++) next.set(raw.subarray((c * Tin + Math.min(t + 1, Tin - 1)) * plane, (c * Tin + Math.min(t + 1, Tin - 1) + 1) * plane), (c * Tin + t) * plane);
      feeds.next_latents = new ort.Tensor('float32', next, [1, C, Tin, h, w]);
    }
    const { video } = await this.run(decoder, feeds);
    const F = T * tc, H = h * sc, W = w * sc;
    const out = new Uint8Array(F * H * W * 3);
    const v = video.data;
    const Fin = Tin * tc, skip = off * tc; // the virtual frame's frames are skipped
    for (let c = 0; c < 3; c++)
      for (let f = 0; f < F; f++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const val = Math.round((v[((c * Fin + skip + f) * H + y) * W + x] + 1) * 127.5);
            out[((f * H + y) * W + x) * 3 + c] = Math.min(255, Math.max(0, val));
          }
    return out;
  }

  async reconstruct({ reconstruct, width, height, frames }) {
    const { spatialCompression: sc, temporalCompression: tc } = this.m.latent;
    const z = await this.encodeFrames(fs.readFileSync(reconstruct), frames, height, width);
    return this.decode(z, frames / tc, height / sc, width / sc);
  }

  async generate({ prompt, width, height, frames, seed, steps, guidance, shift, known }) {
    const { channels: C, spatialCompression: sc, temporalCompression: tc } = this.m.latent;
    const T = frames / tc, h = height / sc, w = width / sc, n = C * T * h * w, plane = h * w;
    const { text, mask } = await this.encodeText(prompt);
    const x = gaussian(n, seed);
    const cond = new Float32Array(n);
    const cmask = new Float32Array(T * plane);
    if (known) {
      const kF = known.frames, kT = kF / tc;
      const bytes = kF * height * width * 3;
      const off = (known.start ?? 0) * height * width * 3;
      const rgb = fs.readFileSync(known.file).subarray(off, off + bytes);
      const zk = await this.encodeFrames(rgb, kF, height, width);
      const t0 = known.position === 'tail' ? T - kT : 0;
      for (let c = 0; c < C; c++)
        for (let t = 0; t < kT; t++)
          cond.set(zk.subarray((c * kT + t) * plane, (c * kT + t + 1) * plane), (c * T + t0 + t) * plane);
      cmask.fill(1, t0 * plane, (t0 + kT) * plane);
    }
    // Batch of two (cond, uncond) sharing x, cond latents and mask.
    const dup = (a) => { const d = new Float32Array(2 * a.length); d.set(a); d.set(a, a.length); return d; };
    const condT = new ort.Tensor('float32', dup(cond), [2, C, T, h, w]);
    const maskT = new ort.Tensor('float32', dup(cmask), [2, 1, T, h, w]);
    const sig = sigmas(steps, shift);
    // Known frames enter x noised to the step's sigma, as in training: (1 - s) * z_known + s * noise.
    const noise = Float32Array.from(x);
    const putKnown = (s) => {
      for (let c = 0; c < C; c++)
        for (let j = 0; j < T * plane; j++)
          if (cmask[j]) x[c * T * plane + j] = (1 - s) * cond[c * T * plane + j] + s * noise[c * T * plane + j];
    };
    for (let i = 0; i < steps; i++) {
      putKnown(sig[i]);
      const { velocity } = await this.run('transformer', {
        latents: new ort.Tensor('float32', dup(x), [2, C, T, h, w]),
        timestep: new ort.Tensor('float32', Float32Array.of(sig[i] * 1000, sig[i] * 1000), [2]),
        text, text_mask: mask, cond_latents: condT, cond_mask: maskT,
      });
      const v = velocity.data, dt = sig[i + 1] - sig[i];
      for (let j = 0; j < n; j++) x[j] += dt * (v[n + j] + guidance * (v[j] - v[n + j]));
    }
    putKnown(0);
    return this.decode(x, T, h, w);
  }
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const pipe = await Pipeline.load(spec.package ?? path.join(here, '..', 'packages', 'skyloom-tiny'));
  fs.mkdirSync(spec.outDir, { recursive: true });
  const d = pipe.m.defaults;
  const t0 = Date.now();
  for (const [k, job] of spec.jobs.entries()) {
    const frames = job.reconstruct ? await pipe.reconstruct(job) : await pipe.generate({
      width: d.width, height: d.height, frames: d.frames, ...job,
      steps: job.steps ?? spec.steps ?? d.steps,
      guidance: job.guidance ?? spec.guidance ?? d.guidance,
      shift: job.shift ?? spec.shift ?? pipe.m.scheduler.shift,
    });
    fs.writeFileSync(path.join(spec.outDir, `${job.id}.rgb`), frames);
    if ((k + 1) % 20 === 0 || k + 1 === spec.jobs.length)
      console.log(`sampled ${k + 1}/${spec.jobs.length} (${((Date.now() - t0) / 1000 / (k + 1)).toFixed(2)} s/clip)`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
