// Rectified-flow timesteps (diffusers FlowMatchEulerDiscreteScheduler maths) and the first-order Euler step.
import { ModelInputError } from '../errors.js';

/** A sampling schedule: `sigmas` has one more entry than `timesteps` and ends at 0. */
export interface FlowSchedule {
  /** Noise levels σ_0 > … > σ_n = 0. */
  readonly sigmas: Float64Array;
  /** What the model is fed at step i: σ_i · numTrainTimesteps (truncated to an integer by samplers that say so). */
  readonly timesteps: Float64Array;
}

/** Options of {@link FlowMatchEulerScheduler.setTimesteps}. */
export interface FlowTimestepOptions {
  /** Time shift; > 1 spends more steps at high noise (larger images and videos need it). */
  shift?: number;
  /**
   * Strength for video-to-video, in (0, 1]: only the last round(steps · denoise) steps run, so the
   * input is noised to σ_start rather than to pure noise (diffusers img2img `strength`).
   */
  denoise?: number;
}

/** Evaluates the model: the velocity v = noise − x0 at `sample` for σ (and its timestep). */
export type VelocityFn = (sample: Float32Array, sigma: number, timestep: number) => Promise<Float32Array>;

/** One sampler step's result. */
export interface FlowStepResult {
  /** The sample at σ_{i+1}. */
  prevSample: Float32Array;
  /** The clean-sample estimate x0 = x − σ·v from the step's first evaluation (for previews). */
  denoised: Float32Array;
}

/**
 * What a sampler carries from one step to the next within one sampling run (a multistep method's
 * previous model outputs). Made by {@link FlowSampler.createState}, one per run, never shared.
 */
export interface FlowRunState {
  /** The sampler that made it; a state does not move between samplers. */
  readonly sampler: string;
}

/**
 * The contract every flow-matching sampler meets. A schedule is data and any memory between steps
 * lives in a per-run state, so runs share nothing: call `createState()` once per run and pass it to
 * every `step` of that run, in order. One-step samplers keep nothing in it and ignore it.
 */
export interface FlowSampler {
  setTimesteps(steps: number, options?: FlowTimestepOptions): FlowSchedule;
  /** A fresh per-run state for {@link step}. */
  createState(): FlowRunState;
  /**
   * @throws ModelInputError when `index` is outside the schedule, or when a sampler that needs
   *   `state` gets none, another sampler's, or steps out of order.
   */
  step(velocityAt: VelocityFn, sample: Float32Array, schedule: FlowSchedule, index: number, state?: FlowRunState): Promise<FlowStepResult>;
}

/** Scheduler configuration (scheduler_config.json). */
export interface FlowMatchConfig {
  numTrainTimesteps?: number;
  shift?: number;
}

/** SD3's time shift σ' = shift·σ / (1 + (shift − 1)·σ). */
export function timeShift(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/** The steps of an `n`-step schedule that strength `denoise` runs: the last n − trunc(n − n · denoise). */
export function stepsAt(n: number, denoise: number): number {
  return n - Math.trunc(n - Math.min(n * denoise, n));
}

/**
 * Cut a schedule to its last steps for `denoise` < 1, as diffusers' img2img pipelines do with
 * `strength`: t_start = trunc(n − min(n·denoise, n)).
 * @throws ModelInputError when denoise is outside (0, 1] or leaves no step to run.
 */
export function applyDenoise<S extends { sigmas: Float64Array; timesteps: Float64Array }>(schedule: S, denoise: number): S {
  if (!(denoise > 0 && denoise <= 1)) throw new ModelInputError(`denoise must be in (0, 1] but is ${denoise}`);
  const n = schedule.timesteps.length;
  const start = n - stepsAt(n, denoise);
  if (start >= n) throw new ModelInputError(`denoise ${denoise} leaves no step to run out of ${n}`);
  return { ...schedule, sigmas: schedule.sigmas.slice(start), timesteps: schedule.timesteps.slice(start) };
}

/** @throws ModelInputError when `index` is not a step of `schedule`. */
export function checkIndex(schedule: FlowSchedule, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= schedule.timesteps.length) {
    throw new ModelInputError(`step index ${index} is outside the schedule of ${schedule.timesteps.length} steps`);
  }
}

/** x + (σ_next − σ)·v, the Euler step of the flow ODE dx/dσ = v. */
export function eulerUpdate(sample: Float32Array, velocity: Float32Array, dt: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) out[i] = sample[i] + dt * velocity[i];
  return out;
}

/** First-order Euler sampling of a rectified-flow model. */
export class FlowMatchEulerScheduler implements FlowSampler {
  readonly numTrainTimesteps: number;
  readonly shift: number;

  constructor(config: FlowMatchConfig = {}) {
    this.numTrainTimesteps = config.numTrainTimesteps ?? 1000;
    this.shift = config.shift ?? 1;
  }

  /**
   * The schedule for `steps` steps. Like diffusers, timesteps are spaced linearly between the
   * training schedule's ends — σ_max = 1 and σ_min = shift(1/N), itself already shifted — and
   * then shifted, so the last σ before 0 matches diffusers exactly.
   * @throws ModelInputError for steps < 1, shift ≤ 0 or a bad denoise.
   */
  setTimesteps(steps: number, options: FlowTimestepOptions = {}): FlowSchedule {
    const shift = options.shift ?? this.shift;
    if (!Number.isInteger(steps) || steps < 1) throw new ModelInputError(`steps must be a positive integer but is ${steps}`);
    if (!(shift > 0)) throw new ModelInputError(`shift must be positive but is ${shift}`);
    const n = this.numTrainTimesteps;
    const tMax = timeShift(1, shift) * n;
    const tMin = timeShift(1 / n, shift) * n;
    const sigmas = new Float64Array(steps + 1);
    const timesteps = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const t = steps === 1 ? tMax : tMax + ((tMin - tMax) * i) / (steps - 1);
      const sigma = timeShift(t / n, shift);
      sigmas[i] = sigma;
      timesteps[i] = sigma * n;
    }
    const schedule = { sigmas, timesteps };
    return options.denoise === undefined ? schedule : applyDenoise(schedule, options.denoise);
  }

  /** Euler keeps nothing between steps: the state is only there to meet the contract. */
  createState(): FlowRunState {
    return { sampler: 'euler' };
  }

  /** Euler step with a velocity already computed (one model call per step). */
  stepWithVelocity(velocity: Float32Array, sample: Float32Array, schedule: FlowSchedule, index: number): FlowStepResult {
    checkIndex(schedule, index);
    const sigma = schedule.sigmas[index];
    const next = schedule.sigmas[index + 1];
    return { prevSample: eulerUpdate(sample, velocity, next - sigma), denoised: eulerUpdate(sample, velocity, -sigma) };
  }

  async step(velocityAt: VelocityFn, sample: Float32Array, schedule: FlowSchedule, index: number): Promise<FlowStepResult> {
    checkIndex(schedule, index);
    const velocity = await velocityAt(sample, schedule.sigmas[index], schedule.timesteps[index]);
    return this.stepWithVelocity(velocity, sample, schedule, index);
  }
}
