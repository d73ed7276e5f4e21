// `skyloom generate --model` with a streaming-VAE (2.0 layout) package: the tiny exported fixture
// goes through the default workflow (vae-decode in chunks, the decoder's caches carried) to an mp4.

import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeVideo, probe } from '../../media/ffmpeg.js';
import { VideoModel } from '../../models/video-model.js';

const root = resolve(import.meta.dirname, '../..');
const FIXTURE = join(root, 'tests/fixtures/skyloom-stream/package');

describe('skyloom generate with a streaming-VAE package', () => {
  it('writes a browser-playable mp4 whose frames are the streaming decode of the sampled latents', async () => {
    const out = mkdtempSync(join(tmpdir(), 'skyloom-generate-stream-'));
    const prompt = 'a red circle moving left on a black background';
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin/skyloom.ts'), 'generate', '--model', FIXTURE, prompt, '--steps', '2', '--seed', '7', '--out', out], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    const path = r.stdout.trim();
    expect(await probe(path)).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: 64, height: 64, frameCount: 16, fps: 8 });

    // The same latents decoded whole, in this process, give the frames the file holds (up to H.264).
    const model = await VideoModel.load(FIXTURE, { device: 'cpu' });
    const [cond, uncond] = [await model.encodeText([prompt]), await model.encodeText([''])];
    const decoded = async (seed: number): Promise<Uint8Array> => {
      const latents = await model.denoise({ shape: model.latentShape(64, 64, 16), cond, uncond, steps: 2, seed });
      const whole: Uint8Array[] = [];
      for await (const c of model.decode(latents, { chunkFrames: 4 })) whole.push(c.data);
      return Buffer.concat(whole);
    };
    const video = await decodeVideo(path);
    const got = await video.read(0, video.frameCount);
    const meanDiff = (a: Uint8Array, b: Uint8Array) => {
      let sum = 0;
      for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
      return sum / a.length;
    };
    const own = meanDiff(got, await decoded(7));
    console.log(`mean |mp4 − whole-clip decode| ${own.toFixed(2)} per byte`);
    expect(own).toBeLessThan(6);
    // Not a flat picture (which a decoder ignoring its input could match as closely).
    expect(got.reduce((a, b) => Math.max(a, b), 0) - got.reduce((a, b) => Math.min(a, b), 255)).toBeGreaterThan(40);
  }, 180_000);
});
