// The contract every model family (one file each in models/families/) meets, and what it is handed at load.
import type { ComponentName, SkyloomManifest } from '../manifest.js';
import type { ModelPackage } from '../package.js';
import type { PackageKind } from '../package/discovery.js';
import type { GraphIo } from '../package/signature.js';
import type { Device } from '../runtime/onnx.js';
import type { SessionCache, SessionKey } from '../session-cache.js';
import type { Tensor } from '../tensor.js';
import type { ChunkOptions, DenoiseOptions, RgbFrames, TextConditioning, VideoChunk } from '../video-model.js';

/** What a family's loader is given: the folder, its manifest, and where sessions come from. */
export interface LoadContext {
  dir: string;
  kind: PackageKind;
  manifest: SkyloomManifest;
  sessions: SessionCache;
  sessionKey: SessionKey;
  device: Device;
}

/** What a package can make: text to video, image to video, extending a video (docs/models.md). */
export type Capability = 't2v' | 'i2v' | 'extend' | 'v2v';

/** The size of one generation, for {@link ModelFamily.estimateCost}. */
export interface CostRequest {
  width: number;
  height: number;
  frames: number;
  steps: number;
  /** Whether guidance is on (a second branch per step). */
  guidance: boolean;
}

/** A family's estimate of a generation's work and memory, for admission control. */
export interface CostEstimate {
  /** Tokens the denoiser attends over per call (latent frames × latent h × w / patch). */
  latentTokens: number;
  /** Denoiser calls: steps × (2 with guidance, as two calls or one batch of 2). */
  denoiserCalls: number;
  /** latentTokens × denoiserCalls: the figure sampling time grows with. */
  tokenSteps: number;
  /** frames × width × height: what decoding and encoding grow with. */
  pixels: number;
  /** Bytes of the biggest single stage's weight files (what must fit in memory at once). */
  peakStageBytes?: number;
}

/**
 * What the size rules and the cost estimate read: a manifest and its folder, so that admission
 * control can ask before any session exists (a loaded {@link ModelPackage} is one).
 */
export type PackageInfo = Pick<ModelPackage, 'manifest' | 'dir'>;

/** Everything that differs between model architectures; the nodes and the engine call only this. */
export interface ModelFamily {
  readonly name: string;
  /** Session settings the family needs (e.g. no memory pattern for the Wan graphs on CUDA). */
  readonly sessionOptions?: { memoryPattern?: boolean };
  /** Check every component of a loaded manifest; returns each one's inputs and outputs. */
  inspect(ctx: LoadContext): Promise<Map<ComponentName, GraphIo>>;
  /** What a package of this family can do, from its manifest alone (listing does not load models). */
  capabilities(manifest: SkyloomManifest): Capability[];
  /** The negative prompt used when guidance is on and none is given. */
  defaultNegativePrompt(pkg: ModelPackage): string;
  /** Video frames made by T latent frames. */
  frameCount(pkg: PackageInfo, latentFrames: number): number;
  /** Latent shape [1, C, T, h, w] for a size. @throws ModelInputError teaching the family's rules. */
  latentShape(pkg: PackageInfo, width: number, height: number, frames: number): number[];
  encodeText(pkg: ModelPackage, prompts: readonly string[], options: { maxLength?: number }): Promise<TextConditioning>;
  /** Sampling after the common checks (shape, guidance needs uncond) of VideoModel.denoise. */
  denoise(pkg: ModelPackage, options: DenoiseOptions, dims: readonly number[], noise: Tensor<'float32'>, guidance: number, useCfg: boolean): Promise<Tensor<'float32'>>;
  decode(pkg: ModelPackage, latents: Tensor<'float32'>, options: ChunkOptions): AsyncGenerator<VideoChunk>;
  encode(pkg: ModelPackage, video: RgbFrames, options: ChunkOptions): Promise<Tensor<'float32'>>;
  /** Words of a prompt the model cannot draw (out of its vocabulary); empty for real tokenizers. */
  unsupportedWords(pkg: ModelPackage, prompt: string): string[];
  /** @throws ModelInputError when the size breaks the family's rules. */
  estimateCost(pkg: PackageInfo, request: CostRequest): CostEstimate;
}
