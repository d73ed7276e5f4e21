// AudioTrack: cut, joined and padded by sample ranges over PCM files, and carried by VIDEO handles.

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIO_FRAME_BYTES, AudioTrack, samplesAt } from '../../media/audio.js';
import { videoFromChunks, VideoHandle } from '../../media/frames.js';

const dir = mkdtempSync(join(tmpdir(), 'skyloom-audio-unit-'));

/** A PCM file whose sample n holds n mod 2^15 in both channels (so every cut is checkable). */
function ramp(name: string, samples: number): AudioTrack {
  const buf = Buffer.alloc(samples * AUDIO_FRAME_BYTES);
  for (let n = 0; n < samples; n++) {
    buf.writeInt16LE(n % 32768, n * 4);
    buf.writeInt16LE(n % 32768, n * 4 + 2);
  }
  const file = join(dir, name);
  writeFileSync(file, buf);
  return AudioTrack.fromPcmFile(file, buf.byteLength);
}

async function values(track: AudioTrack): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of track.chunks()) for (let i = 0; i < chunk.byteLength; i += 4) out.push(chunk.readInt16LE(i));
  return out;
}

describe('AudioTrack', () => {
  it('slices, pads past the end with silence, and joins', async () => {
    const t = ramp('a.pcm', 10);
    expect(await values(t.slice(3, 4))).toEqual([3, 4, 5, 6]);
    expect(await values(t.slice(8, 4))).toEqual([8, 9, 0, 0]);
    expect(await values(AudioTrack.concat([t.slice(0, 2), AudioTrack.silence(3), t.slice(5, 2)]))).toEqual([0, 1, 0, 0, 0, 5, 6]);
    expect(t.fit(12).sampleCount).toBe(12);
    expect(AudioTrack.silence(5).hasSound).toBe(false);
  });

  it('removes its file once every track cut from it is disposed', async () => {
    const t = ramp('b.pcm', 10);
    const cut = t.slice(2, 3);
    await t.dispose();
    expect(existsSync(join(dir, 'b.pcm'))).toBe(true);
    expect(await values(cut)).toEqual([2, 3, 4]);
    await cut.dispose();
    expect(existsSync(join(dir, 'b.pcm'))).toBe(false);
  });

  it('a VIDEO handle cuts its sound with its frames and its hash covers the sound', async () => {
    const frames = await videoFromChunks([new Uint8Array(4 * 3 * 8)], { width: 2, height: 2, fps: 8 });
    const sound = ramp('c.pcm', samplesAt(8, 8));
    const video = frames.withAudio(sound);
    expect(video.audio!.sampleCount).toBe(48_000);
    const part = video.slice(2, 4);
    expect(part.audio!.sampleCount).toBe(samplesAt(4, 8));
    expect((await values(part.audio!)).slice(0, 2)).toEqual([samplesAt(2, 8), samplesAt(2, 8) + 1].map((n) => n % 32768));
    const joined = VideoHandle.concat([frames, video]);
    expect(joined.audio!.sampleCount).toBe(2 * 48_000);
    expect((await values(joined.audio!)).slice(0, 48_000).every((v) => v === 0)).toBe(true);
    expect(await frames.hash()).not.toBe(await video.hash());
  });
});
