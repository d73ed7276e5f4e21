import { describe, it, expect } from 'vitest';
import { FAMILIES, familyNamed } from '../../models/families/index.js';
import { listModels } from '../../models/package.js';
import { VideoModel } from '../../models/video-model.js';
import { ModelLoadError } from '../../models/errors.js';

describe('model families', () => {
  it('are registered by name; an unknown name lists the known ones', () => {
    expect([...FAMILIES.keys()]).toEqual(['skyloom', 'stable-diffusion', 'wan']);
    expect(() => familyNamed('ltx', '/m/skyloom.json')).toThrow(
      new ModelLoadError('MANIFEST_INVALID', '/m/skyloom.json', '/m/skyloom.json: unknown model family "ltx". Should be one of: skyloom, stable-diffusion, wan'),
    );
  });

  it('skyloom-tiny runs as the skyloom family: capabilities, words it cannot draw, cost', async () => {
    const m = await VideoModel.load('skyloom-tiny', { device: 'cpu' });
    expect(m.family.name).toBe('skyloom');
    expect(m.capabilities()).toEqual(['t2v', 'i2v', 'extend', 'v2v']);
    expect(m.defaultNegativePrompt).toBe('');
    expect(m.unsupportedWords('a red zebra circle moving left quickly zebra')).toEqual(['zebra', 'quickly']);
    expect(m.unsupportedWords('a red circle moving left')).toEqual([]);
    // 16 frames at 64×64: 4 × 8 × 8 latents, patch 1×1×1 (2.2: one token per latent cell) → 256
    // tokens; 20 steps × 2 branches.
    expect(m.estimateCost({ width: 64, height: 64, frames: 16, steps: 20, guidance: true })).toEqual({
      latentTokens: 256,
      denoiserCalls: 40,
      tokenSteps: 10240,
      pixels: 16 * 64 * 64,
    });
    expect(() => m.estimateCost({ width: 60, height: 64, frames: 16, steps: 20, guidance: false })).toThrow('width and height must be multiples of 8 but are 60 and 64');
  });

  it('listings carry family, capabilities and size', async () => {
    const tiny = (await listModels()).find((m) => m.name === 'skyloom-tiny');
    expect(tiny).toMatchObject({ kind: 'skyloom', family: 'skyloom', capabilities: ['t2v', 'i2v', 'extend', 'v2v'] });
    expect(tiny!.sizeBytes).toBeGreaterThan(1_000_000);
  });
});
