// Euler sampling of epsilon-prediction diffusion models (Stable Diffusion), diffusers EulerDiscreteScheduler maths.
import { ModelInputError } from '../errors.js';
import { applyDenoise } from './flow-match-euler.js';

/** How inference timesteps are picked from the training range (diffusers `timestep_spacing`). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/** Scheduler configuration; the defaults are Stable Diffusion 1.x's. */
export interface EulerDiscreteConfig {
  numTrainTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
  timestepSpacing?: TimestepSpacing;
  stepsOffset?: number;
}

/** A schedule in k-diffusion σ: `sigmas` ends with 0; `timesteps` are what the UNet is fed. */
export interface EulerDiscreteSchedule {
  readonly sigmas: Float64Array;
  readonly timesteps: Float64Array;
  /** Scale of the initial noise: √(σ_max² + 1) for leading spacing, σ_max otherwise (as diffusers). */
  readonly initNoiseSigma: number;
}

/** One step's result. */
export interface EulerDiscreteStepResult {
  prevSample: Float32Array;
  /** x0 = x − σ·ε. */
  denoised: Float32Array;
}

/** Euler (k-diffusion style, no churn) for models that predict the noise ε. */
export class EulerDiscreteScheduler {
  readonly config: Required<EulerDiscreteConfig>;
  /** σ of each training timestep: √((1 − ᾱ_t) / ᾱ_t). */
  readonly trainSigmas: Float64Array;

  constructor(config: EulerDiscreteConfig = {}) {
    this.config = {
      numTrainTimesteps: config.numTrainTimesteps ?? 1000,
      betaStart: config.betaStart ?? 0.00085,
      betaEnd: config.betaEnd ?? 0.012,
      timestepSpacing: config.timestepSpacing ?? 'leading',
      stepsOffset: config.stepsOffset ?? 1,
    };
    const { numTrainTimesteps: n, betaStart, betaEnd } = this.config;
    this.trainSigmas = new Float64Array(n);
    // "scaled_linear": betas linear in √β, which is what Stable Diffusion was trained with.
    const a = Math.sqrt(betaStart);
    const b = Math.sqrt(betaEnd);
    let alphaBar = 1;
    for (let t = 0; t < n; t++) {
      const root = n === 1 ? a : a + ((b - a) * t) / (n - 1);
      alphaBar *= 1 - root * root;
      this.trainSigmas[t] = Math.sqrt((1 - alphaBar) / alphaBar);
    }
  }

  /**
   * The schedule for `steps` steps (denoise < 1 keeps the last steps, as img2img `strength`).
   * @throws ModelInputError for steps outside [1, numTrainTimesteps] or a bad denoise.
   */
  setTimesteps(steps: number, options: { denoise?: number } = {}): EulerDiscreteSchedule {
    const n = this.config.numTrainTimesteps;
    if (!Number.isInteger(steps) || steps < 1 || steps > n) {
      throw new ModelInputError(`steps must be an integer from 1 to ${n} but is ${steps}`);
    }
    const timesteps = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const k = steps - 1 - i; // descending
      switch (this.config.timestepSpacing) {
        case 'linspace':
          timesteps[i] = steps === 1 ? 0 : ((n - 1) * k) / (steps - 1);
          break;
        case 'leading':
          timesteps[i] = k * Math.floor(n / steps) + this.config.stepsOffset;
          break;
        case 'trailing':
          // diffusers: round(arange(n, 0, -n/steps)) - 1.
          timesteps[i] = roundHalfEven(n - i * (n / steps)) - 1;
          break;
      }
    }
    const sigmas = new Float64Array(steps + 1);
    for (let i = 0; i < steps; i++) sigmas[i] = this.sigmaAt(timesteps[i]);
    const sigmaMax = sigmas[0];
    const initNoiseSigma = this.config.timestepSpacing === 'leading' ? Math.sqrt(sigmaMax * sigmaMax + 1) : sigmaMax;
    const schedule = { sigmas, timesteps, initNoiseSigma };
    if (options.denoise === undefined) return schedule;
    const cut = applyDenoise(schedule, options.denoise);
    return { ...cut, initNoiseSigma: cut.sigmas[0] };
  }

  /** What the UNet sees at σ: x / √(σ² + 1). */
  scaleModelInput(sample: Float32Array, sigma: number): Float32Array {
    const scale = 1 / Math.sqrt(sigma * sigma + 1);
    return sample.map((x) => x * scale);
  }

  /** x_{i+1} = x_i + (σ_{i+1} − σ_i)·ε. @throws ModelInputError for an index outside the schedule. */
  step(noisePred: Float32Array, sample: Float32Array, schedule: EulerDiscreteSchedule, index: number): EulerDiscreteStepResult {
    if (!Number.isInteger(index) || index < 0 || index >= schedule.timesteps.length) {
      throw new ModelInputError(`step index ${index} is outside the schedule of ${schedule.timesteps.length} steps`);
    }
    const sigma = schedule.sigmas[index];
    const dt = schedule.sigmas[index + 1] - sigma;
    const prevSample = new Float32Array(sample.length);
    const denoised = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const eps = noisePred[i];
      prevSample[i] = sample[i] + dt * eps;
      denoised[i] = sample[i] - sigma * eps;
    }
    return { prevSample, denoised };
  }

  // np.interp over the integer training timesteps.
  private sigmaAt(t: number): number {
    const lo = Math.max(0, Math.min(this.trainSigmas.length - 1, Math.floor(t)));
    const hi = Math.min(this.trainSigmas.length - 1, lo + 1);
    const f = t - lo;
    return this.trainSigmas[lo] * (1 - f) + this.trainSigmas[hi] * f;
  }
}

// numpy's round() rounds halves to even.
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
