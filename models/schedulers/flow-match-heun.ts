// Second-order Heun sampling of a rectified-flow model (Karras et al. 2022, Algorithm 1, on the σ grid).
import { FlowMatchEulerScheduler, checkIndex, eulerUpdate } from './flow-match-euler.js';
import type { FlowMatchConfig, FlowRunState, FlowSampler, FlowSchedule, FlowStepResult, FlowTimestepOptions, VelocityFn } from './flow-match-euler.js';

/**
 * Heun's method: an Euler predictor to σ_{i+1}, then the average of the velocities at both ends.
 * Two model calls per step (one on the last step, which lands on σ = 0 where v is undefined, so it
 * stays Euler). Both calls happen inside one {@link step}, so there is no state kept between steps
 * — unlike diffusers' FlowMatchHeunDiscreteScheduler, which stores the first half on the object.
 */
export class FlowMatchHeunScheduler implements FlowSampler {
  private readonly timesteps: FlowMatchEulerScheduler;

  constructor(config: FlowMatchConfig = {}) {
    this.timesteps = new FlowMatchEulerScheduler(config);
  }

  /** Same schedule as Euler. @throws ModelInputError for bad steps, shift or denoise. */
  setTimesteps(steps: number, options: FlowTimestepOptions = {}): FlowSchedule {
    return this.timesteps.setTimesteps(steps, options);
  }

  /** Heun keeps nothing between steps: the state is only there to meet the contract. */
  createState(): FlowRunState {
    return { sampler: 'heun' };
  }

  async step(velocityAt: VelocityFn, sample: Float32Array, schedule: FlowSchedule, index: number): Promise<FlowStepResult> {
    checkIndex(schedule, index);
    const sigma = schedule.sigmas[index];
    const next = schedule.sigmas[index + 1];
    const n = this.timesteps.numTrainTimesteps;
    const v1 = await velocityAt(sample, sigma, sigma * n);
    const denoised = eulerUpdate(sample, v1, -sigma);
    const predicted = eulerUpdate(sample, v1, next - sigma);
    if (next === 0) return { prevSample: predicted, denoised };
    const v2 = await velocityAt(predicted, next, next * n);
    const mean = new Float32Array(v1.length);
    for (let i = 0; i < mean.length; i++) mean[i] = 0.5 * (v1[i] + v2[i]);
    return { prevSample: eulerUpdate(sample, mean, next - sigma), denoised };
  }
}
