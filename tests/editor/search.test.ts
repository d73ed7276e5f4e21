// Node search over the real catalog: words out of order, aliases artists know from ComfyUI, small typos, and no false hits.

import { describe, expect, it } from 'vitest';
import { createRegistry } from '../../nodes/index.js';
import { matchScore, searchCatalog } from '../../editor/src/lib/search';

const catalog = createRegistry().catalog();
const top = (q: string) => searchCatalog(catalog, q)[0]?.type;

describe('node search', () => {
  it('shows the catalog display names', () => {
    const name = (t: string) => catalog.find((e) => e.type === t)!.displayName;
    expect([name('dit-sampler'), name('vae-decode'), name('vae-encode'), name('fps')]).toEqual(['DiT Sampler', 'VAE Decode', 'VAE Encode', 'FPS']);
  });

  it('matches words in any order and by prefix', () => {
    expect(top('decode vae')).toBe('vae-decode');
    expect(top('sampler dit')).toBe('dit-sampler');
    expect(top('load mod')).toBe('load-model');
    expect(top('image load')).toBe('load-image');
  });

  it('finds nodes by the names artists know from ComfyUI', () => {
    expect(top('ksampler')).toBe('dit-sampler');
    expect(top('KSampler')).toBe('dit-sampler');
    expect(top('checkpoint')).toBe('load-model');
    expect(top('load checkpoint')).toBe('load-model');
    expect(
      searchCatalog(catalog, 'preview')
        .map((e) => e.type)
        .slice(0, 2)
        .sort(),
    ).toEqual(['save-image', 'save-video']);
    expect(top('clip text encode')).toBe('text-encode');
  });

  it('forgives a small typo', () => {
    expect(top('smapler')).toBe('dit-sampler');
    expect(top('upscal')).toBe('upscale');
    expect(top('chekpoint')).toBe('load-model');
    expect(top('vae decdoe')).toBe('vae-decode');
  });

  it('finds nothing for words nothing has, and does not match short words loosely', () => {
    expect(searchCatalog(catalog, 'quantum teleport')).toEqual([]);
    expect(
      matchScore(
        catalog.find((e) => e.type === 'fps')!,
        'vae',
      ),
    ).toBeUndefined();
    expect(searchCatalog(catalog, '').length).toBe(catalog.length);
  });
});
