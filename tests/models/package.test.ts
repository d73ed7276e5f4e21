import { describe, it, expect, beforeAll } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { listModels, loadModelPackage, modelSearchPaths, resolveModelDir, sha256File } from '../../models/package.js';
import { validateManifest } from '../../models/manifest.js';
import { SessionCache } from '../../models/session-cache.js';
import { ModelLoadError } from '../../models/errors.js';
import { skyloomTransformer, tinyManifest, writeSdExport, writeSkyloomPackage } from './fixtures/tiny-packages.js';

let root: string;
const sessions = () => new SessionCache({ budgetBytes: 1e9 });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'skyloom-pkg-'));
});

async function freshPackage(name: string, options: Parameters<typeof writeSkyloomPackage>[1] = {}): Promise<string> {
  const dir = join(root, `case-${Math.random().toString(36).slice(2)}`, name);
  await writeSkyloomPackage(dir, { name, ...options });
  return dir;
}

async function loadError(dir: string, verify = true): Promise<ModelLoadError> {
  const error = await loadModelPackage(dir, { device: 'cpu', verify, sessions: sessions() }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ModelLoadError);
  return error as ModelLoadError;
}

describe('search paths and listing', () => {
  it('searches the repo, ~/.skyloom/models, then each $SKYLOOM_MODELS entry', () => {
    const paths = modelSearchPaths({ SKYLOOM_MODELS: '/x/one::/x/two' });
    expect(paths[0]).toMatch(/models[/\\]packages$/);
    expect(paths.slice(1)).toEqual([join(homedir(), '.skyloom', 'models'), '/x/one', '/x/two']);
  });

  it('lists packages; a later path overrides an earlier one by name', async () => {
    const first = join(root, 'first');
    const second = join(root, 'second');
    await writeSkyloomPackage(join(first, 'alpha'), { name: 'alpha' });
    await writeSkyloomPackage(join(first, 'shared'), { name: 'shared' });
    await writeSkyloomPackage(join(second, 'shared'), { name: 'shared' });
    await writeSdExport(join(second, 'sd-tiny'));
    await mkdir(join(second, 'not-a-model'), { recursive: true });
    const models = await listModels({ searchPaths: [first, second, join(root, 'missing')] });
    expect(models.map((m) => [m.name, m.kind, m.dir])).toEqual([
      ['alpha', 'skyloom', join(first, 'alpha')],
      ['sd-tiny', 'stable-diffusion', join(second, 'sd-tiny')],
      ['shared', 'skyloom', join(second, 'shared')],
    ]);
    expect(models[0]?.version).toBe('0.0.1');
    expect(await resolveModelDir('shared', { searchPaths: [first, second] })).toBe(join(second, 'shared'));
    await expect(resolveModelDir('nope', { searchPaths: [first] })).rejects.toThrow(`model "nope" not found in ${first} (available: alpha, shared)`);
  });
});

describe('manifest validation', () => {
  it('accepts the tiny manifest and names file and JSON pointer on errors', () => {
    const good = tinyManifest('x');
    for (const f of ['tokenizer/tokenizer.json', 'text_encoder/model.onnx', 'transformer/model.onnx', 'vae_encoder/model.onnx', 'vae_decoder/model.onnx']) {
      good.files[f] = 'ab'.repeat(32);
    }
    expect(validateManifest(good, 'skyloom.json').name).toBe('x');
    const bad = tinyManifest('x') as unknown as Record<string, Record<string, unknown>>;
    delete bad['latent']!['channels'];
    bad['scheduler']!['type'] = 'ddim';
    expect(() => validateManifest(bad, '/p/skyloom.json')).toThrow(
      '/p/skyloom.json is not a valid skyloom.json:\n  /latent: missing required property "channels"\n  /scheduler/type: must be one of "flow-match-euler", "flow-match-unipc", "euler-discrete"',
    );
    const rows = tinyManifest('x');
    rows.latent.previewFactors.pop();
    expect(() => validateManifest(rows, 'm.json')).toThrow(
      'm.json is not a valid skyloom.json:\n  /latent/previewFactors: has 3 rows but latent.channels is 4\n  /files: has no sha256 for "tokenizer/tokenizer.json"',
    );
  });
});

describe('loadModelPackage (skyloom layout)', () => {
  it('loads, verifies and exposes metadata of a good package', async () => {
    const dir = await freshPackage('good');
    const pkg = await loadModelPackage(dir, { device: 'cpu', sessions: sessions() });
    expect(pkg.kind).toBe('skyloom');
    expect(pkg.manifest.name).toBe('good');
    expect(pkg.inputInfo('transformer', 'latents')).toEqual({
      name: 'hidden_states',
      type: 'float32',
      shape: ['batch', 4, 'frames', 'height', 'width'],
    });
    expect(pkg.tokenizer.encodeOne('red circle').ids).toEqual([5, 7, 0, 0, 0, 0]);
  });

  it('names the missing file and its expected hash', async () => {
    const dir = await freshPackage('missing');
    const manifest = JSON.parse(await readFile(join(dir, 'skyloom.json'), 'utf8')) as { files: Record<string, string> };
    await rm(join(dir, 'vae_decoder/model.onnx'));
    const error = await loadError(dir);
    expect(error.code).toBe('FILE_MISSING');
    expect(error.path).toBe(join(dir, 'vae_decoder/model.onnx'));
    expect(error.message).toBe(`${join(dir, 'vae_decoder/model.onnx')} is missing (expected sha256 ${manifest.files['vae_decoder/model.onnx']})`);
  });

  it('refuses external weights the manifest does not hash', async () => {
    const dir = await freshPackage('external');
    await writeFile(join(dir, 'transformer/model.onnx_data'), Buffer.alloc(16));
    const error = await loadError(dir);
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toBe(`${join(dir, 'skyloom.json')} is not a valid skyloom.json:\n  /files: has no sha256 for "transformer/model.onnx_data"`);
  });

  it('reports a hash mismatch with path, expected and actual hash', async () => {
    const dir = await freshPackage('tampered');
    const file = join(dir, 'text_encoder/model.onnx');
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(file, bytes);
    const error = await loadError(dir);
    expect(error.code).toBe('HASH_MISMATCH');
    expect(error.path).toBe(file);
    expect(error.actual).toBe(await sha256File(file));
    expect(error.expected).not.toBe(error.actual);
    expect(error.message).toBe(`${file} is corrupt: sha256 is ${error.actual} but skyloom.json expects ${error.expected}`);
  });

  it('names the file when the ONNX bytes are corrupt (hash checks off)', async () => {
    const dir = await freshPackage('corrupt');
    const file = join(dir, 'vae_encoder/model.onnx');
    await writeFile(file, Buffer.from('garbage bytes, not a protobuf'));
    const error = await loadError(dir, false);
    expect(error.code).toBe('ONNX_INVALID');
    expect(error.message).toContain(`${file}: not a loadable ONNX model`);
  });

  it('names the component file, the tensor and the real inputs on a wrong tensor name', async () => {
    const dir = await freshPackage('renamed', { transformer: skyloomTransformer({ condMask: 'known_mask' }) });
    const error = await loadError(dir);
    expect(error.code).toBe('SIGNATURE_MISMATCH');
    expect(error.path).toBe(join(dir, 'transformer/model.onnx'));
    expect(error.message).toBe(
      'transformer/model.onnx has no input "cond_mask" (inputs: hidden_states, timestep, encoder_hidden_states, encoder_attention_mask, cond_latents, known_mask)',
    );
  });

  it('rejects a wrong element type or rank', async () => {
    const dir = await freshPackage('typed');
    const manifestPath = join(dir, 'skyloom.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ReturnType<typeof tinyManifest>;
    // Map the float latents role onto the int64 mask tensor.
    manifest.components.transformer.inputs['latents'] = 'encoder_attention_mask';
    manifest.components.transformer.inputs['text_mask'] = 'hidden_states';
    await writeFile(manifestPath, JSON.stringify(manifest));
    const error = await loadError(dir);
    expect(error.message).toBe('transformer/model.onnx input "encoder_attention_mask" is int64 but must be float32');
  });

  it('rejects an invalid skyloom.json naming the file and pointer', async () => {
    const dir = await freshPackage('badjson');
    const manifestPath = join(dir, 'skyloom.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    manifest['formatVersion'] = 2;
    await writeFile(manifestPath, JSON.stringify(manifest));
    const error = await loadError(dir);
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toBe(`${manifestPath} is not a valid skyloom.json:\n  /formatVersion: must be 1`);
  });

  it('refuses backgrounds that are not lower-case names, and an unknown key under prompt, with their pointers', async () => {
    const dir = await freshPackage('badprompt');
    const manifestPath = join(dir, 'skyloom.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    manifest['prompt'] = { backgrounds: ['black', 'Dark Green'], colours: ['red'] };
    await writeFile(manifestPath, JSON.stringify(manifest));
    const error = await loadError(dir);
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toBe(
      `${manifestPath} is not a valid skyloom.json:\n  /prompt: must NOT have additional properties\n  /prompt/backgrounds/1: must match pattern "^[a-z]+( [a-z]+)*$"`,
    );
  });

  it('caches verified hashes per (path, size, mtime)', async () => {
    const dir = await freshPackage('cached');
    const file = join(dir, 'scheduler/scheduler_config.json');
    // A whole-second mtime, so it can be restored exactly after the edit below.
    const when = new Date('2026-01-01T00:00:00Z');
    await utimes(file, when, when);
    await loadModelPackage(dir, { device: 'cpu', sessions: sessions() });
    // Same size and mtime but different bytes: a second load trusts the cached hash ...
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"shift":1', '"shift":2'));
    await utimes(file, when, when);
    expect((await stat(file)).mtimeMs).toBe(when.getTime());
    await expect(loadModelPackage(dir, { device: 'cpu', sessions: sessions() })).resolves.toBeDefined();
    // ... and a new mtime makes it hash again and notice.
    await utimes(file, when, new Date(when.getTime() + 5000));
    const error = await loadError(dir);
    expect(error.code).toBe('HASH_MISMATCH');
    expect(error.path).toBe(file);
  });
});

describe('loadModelPackage (Stable Diffusion export)', () => {
  it('synthesises a one-frame manifest from the Optimum layout', async () => {
    const dir = join(root, 'sd', 'sd-tiny');
    await writeSdExport(dir);
    const pkg = await loadModelPackage(dir, { device: 'cpu', sessions: sessions() });
    expect(pkg.kind).toBe('stable-diffusion');
    const m = pkg.manifest;
    expect(m.latent).toMatchObject({ channels: 4, spatialCompression: 8, temporalCompression: 1, scalingFactor: 0.18215 });
    expect(m.scheduler.type).toBe('euler-discrete');
    expect(m.components.transformer).toEqual({
      file: 'unet/model.onnx',
      inputs: { latents: 'sample', timestep: 'timestep', text: 'encoder_hidden_states' },
      outputs: { noise: 'out_sample' },
    });
    expect(m.components.vae_encoder?.outputs).toEqual({ latents: 'latent_parameters' });
    expect(m.tokenizer.maxLength).toBe(8);
    expect(pkg.inputInfo('transformer', 'timestep')?.type).toBe('int64');
    expect(pkg.eulerDiscrete.timestepSpacing).toBe('leading');
  });

  it('names the unet file when its inputs do not match', async () => {
    const dir = join(root, 'sd-bad', 'sd-bad');
    await writeSdExport(dir);
    await writeFile(join(dir, 'unet/model.onnx'), await readFile(join(dir, 'vae_decoder/model.onnx')));
    const error = await loadError(dir);
    expect(error.code).toBe('SIGNATURE_MISMATCH');
    expect(error.message).toBe('unet/model.onnx has no input "sample" (inputs: latent_sample)');
  });
});
