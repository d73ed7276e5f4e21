// The values that flow along MODEL, CONDITIONING, LATENT, VIDEO and IMAGE links, and their socket types.

import { byteSize, type Sized } from '../engine/index.js';
import type { AudioTrack } from '../media/audio.js';
import type { VideoHandle } from '../media/frames.js';
import type { RgbImage } from '../media/image.js';
import type { Tensor } from '../models/tensor.js';
import type { TextConditioning, VideoModel } from '../models/video-model.js';

// What each socket type carries into a node's run(): the engine maps socket types it does not
// own to `unknown` until a layer declares them here.
declare module '../engine/types.js' {
  interface SocketValueTypes {
    MODEL: ModelValue;
    CONDITIONING: ConditioningValue;
    LATENT: LatentValue;
    VIDEO: VideoHandle;
    IMAGE: RgbImage;
  }
}

/** A MODEL value: a loaded model. Its sessions live in the session cache, not in the output cache. */
export class ModelValue implements Sized {
  constructor(
    readonly model: VideoModel,
    readonly name: string,
  ) {}

  [byteSize](): number {
    return 1024;
  }
}

/** A CONDITIONING value: an encoded prompt. */
export interface ConditioningValue extends TextConditioning {
  prompt: string;
}

/** Known latent frames held fixed while sampling (extend, image to video, connect, loop). */
export interface KnownLatents {
  /** Normalised latents [1, C, T, h, w], zero where unknown. */
  latents: Tensor<'float32'>;
  /** [1, 1, T, h, w], 1 where the latent frame is known. */
  mask: Tensor<'float32'>;
}

/** A LATENT value: the shape of a clip and, once sampled or encoded, its normalised latents. */
export interface LatentValue {
  /** [1, C, T, h, w] */
  shape: number[];
  width: number;
  height: number;
  frames: number;
  fps: number;
  /** Normalised latents; absent for an empty latent. */
  samples?: Tensor<'float32'>;
  known?: KnownLatents;
  /** The sound of the encoded video (video to video), put back under the decoded frames. */
  audio?: AudioTrack;
}
