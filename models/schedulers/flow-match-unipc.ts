// Flow-matching UniPC (Wan2.1's sampler): its σ schedule and the multistep predictor–corrector step, with bh2 and x0 prediction.
import { ModelInputError } from '../errors.js';
import { applyDenoise, checkIndex, timeShift } from './flow-match-euler.js';
import type { FlowMatchConfig, FlowRunState, FlowSampler, FlowSchedule, FlowStepResult, FlowTimestepOptions, VelocityFn } from './flow-match-euler.js';

/** Configuration of {@link FlowMatchUniPCScheduler}; Wan2.1 uses the defaults with shift 5 (t2v) or 3 (i2v). */
export interface FlowUniPCConfig extends FlowMatchConfig {
  /** Order of the predictor, 1–3; the corrector adds one. Default 2. */
  solverOrder?: number;
}

/** The memory of one UniPC run: the last x0 predictions and the sample before the predictor. */
export interface FlowUniPCState extends FlowRunState {
  readonly sampler: 'unipc';
  /** The schedule the run follows, fixed by its first step. */
  schedule?: FlowSchedule;
  /** The index the next step must have. */
  nextIndex: number;
  /** x0 predictions of the latest steps, oldest first, at most `solverOrder` of them. */
  outputs: Float64Array[];
  /** The sample the last predictor started from (after its correction). */
  lastSample?: Float64Array;
  /** The order the last predictor used; the corrector of the next step uses it too. */
  lastOrder: number;
}

/** log(α/σ) of flow matching, where α = 1 − σ: the half log-SNR that UniPC steps in. */
function lambda(sigma: number): number {
  return Math.log(1 - sigma) - Math.log(sigma);
}

// Solve a small dense system by Gaussian elimination with partial pivoting (orders ≤ 3 give ≤ 3×3).
function solve(matrix: number[][], rhs: number[]): number[] {
  const n = rhs.length;
  const a = matrix.map((row, i) => [...row.slice(0, n), rhs[i] ?? 0]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let r = col + 1; r < n; r++) {
      const f = a[r][col] / a[col][col];
      for (let c = col; c <= n; c++) a[r][c] -= f * a[col][c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let c = r + 1; c < n; c++) s -= a[r][c] * x[c];
    x[r] = s / a[r][r];
  }
  return x;
}

/**
 * The bh2 coefficients for a step of log-SNR length h with relative positions `rks` (last = 1):
 * R (rows rks^0 … rks^(order−1)), b, φ1(−h) = expm1(−h) and B(h) = expm1(−h).
 */
function bh2(order: number, h: number, rks: number[]): { R: number[][]; b: number[]; hPhi1: number; Bh: number } {
  const hh = -h;
  const hPhi1 = Math.expm1(hh);
  const Bh = Math.expm1(hh);
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  const R: number[][] = [];
  const b: number[] = [];
  for (let i = 1; i <= order; i++) {
    R.push(rks.map((rk) => rk ** (i - 1)));
    b.push((hPhiK * factorial) / Bh);
    factorial *= i + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { R, b, hPhi1, Bh };
}

/**
 * UniPC for flow matching as Wan2.1 samples with it (FlowUniPCMultistepScheduler at solver order 2,
 * bh2, x0 prediction, flow prediction, lower order on the final steps, final σ = 0, no dynamic
 * shifting). One model call per step: the call at step i both finishes step i − 1 (the corrector,
 * UniC) and starts step i (the predictor, UniP), so the state must travel from step to step.
 */
export class FlowMatchUniPCScheduler implements FlowSampler {
  readonly numTrainTimesteps: number;
  readonly shift: number;
  readonly solverOrder: number;

  /** @throws ModelInputError when solverOrder is not 1, 2 or 3. */
  constructor(config: FlowUniPCConfig = {}) {
    this.numTrainTimesteps = config.numTrainTimesteps ?? 1000;
    this.shift = config.shift ?? 1;
    this.solverOrder = config.solverOrder ?? 2;
    if (![1, 2, 3].includes(this.solverOrder)) throw new ModelInputError(`UniPC solverOrder must be 1, 2 or 3 but is ${this.solverOrder}`);
  }

  /**
   * Wan's schedule: σ linear from the training range's ends (σmax = 1 − 1/N, σmin = 0) over
   * steps + 1 points without the last, shifted, then 0 appended. Timesteps are trunc(σ·N), as the
   * reference casts them to int64 before the DiT sees them.
   * @throws ModelInputError for steps < 1, shift ≤ 0 or a bad denoise.
   */
  setTimesteps(steps: number, options: FlowTimestepOptions = {}): FlowSchedule {
    const shift = options.shift ?? this.shift;
    if (!Number.isInteger(steps) || steps < 1) throw new ModelInputError(`steps must be a positive integer but is ${steps}`);
    if (!(shift > 0)) throw new ModelInputError(`shift must be positive but is ${shift}`);
    const n = this.numTrainTimesteps;
    const sigmaMax = 1 - 1 / n;
    const sigmaMin = 0;
    // numpy.linspace's arithmetic (start + i·(delta/div)), so σ matches the reference bit for bit.
    const delta = (sigmaMin - sigmaMax) / steps;
    const sigmas = new Float64Array(steps + 1);
    const timesteps = new Float64Array(steps);
    for (let i = 0; i < steps; i++) {
      const sigma = timeShift(i * delta + sigmaMax, shift);
      sigmas[i] = sigma;
      timesteps[i] = Math.trunc(sigma * n);
    }
    const schedule = { sigmas, timesteps };
    return options.denoise === undefined ? schedule : applyDenoise(schedule, options.denoise);
  }

  createState(): FlowUniPCState {
    return { sampler: 'unipc', nextIndex: 0, outputs: [], lastOrder: 1 };
  }

  /**
   * Step `index` of the run that `state` belongs to: x0 = x − σ·v from one model call, the
   * corrector on the previous step, then the predictor to σ_{index+1}.
   * @throws ModelInputError when the state is missing, belongs to another sampler or schedule, or
   *   `index` is not the run's next step.
   */
  async step(velocityAt: VelocityFn, sample: Float32Array, schedule: FlowSchedule, index: number, state?: FlowRunState): Promise<FlowStepResult> {
    checkIndex(schedule, index);
    const run = this.checkState(state, schedule, index);
    const sigmas = schedule.sigmas;
    const sigma = sigmas[index];
    const v = await velocityAt(sample, sigma, schedule.timesteps[index]);
    if (v.length !== sample.length) throw new ModelInputError(`the model returned ${v.length} values for a sample of ${sample.length}`);
    const x0 = new Float64Array(sample.length);
    for (let i = 0; i < x0.length; i++) x0[i] = sample[i] - sigma * v[i];

    let x: Float64Array = Float64Array.from(sample);
    if (index > 0 && run.lastSample !== undefined) x = this.correct(x0, run, sigmas, index);
    run.outputs.push(x0);
    if (run.outputs.length > this.solverOrder) run.outputs.shift();
    // Lower order at the end (lower_order_final) and while history is short (warm-up).
    const order = Math.min(this.solverOrder, schedule.timesteps.length - index, run.outputs.length);
    run.lastOrder = order;
    run.lastSample = x;
    run.nextIndex = index + 1;
    const prevSample = this.predict(x, run.outputs, sigmas, index, order);
    return { prevSample, denoised: Float32Array.from(x0) };
  }

  private checkState(state: FlowRunState | undefined, schedule: FlowSchedule, index: number): FlowUniPCState {
    if (state === undefined) {
      throw new ModelInputError('UniPC is a multistep sampler: pass the state from createState() to every step of a run');
    }
    if (state.sampler !== 'unipc') throw new ModelInputError(`UniPC got a state made by the ${state.sampler} sampler`);
    const run = state as FlowUniPCState;
    if (run.schedule !== undefined && run.schedule !== schedule) {
      throw new ModelInputError('UniPC got a state from a run on another schedule; create one state per run');
    }
    if (index !== run.nextIndex) {
      throw new ModelInputError(`UniPC steps run in order: this run's next step is ${run.nextIndex} but step ${index} was asked for`);
    }
    run.schedule = schedule;
    return run;
  }

  // UniP-bh2: from x at σ_index with x0 history `outputs` (newest last) to σ_{index+1}.
  private predict(x: Float64Array, outputs: Float64Array[], sigmas: Float64Array, index: number, order: number): Float32Array {
    const sigmaT = sigmas[index + 1];
    const sigmaS0 = sigmas[index];
    const alphaT = 1 - sigmaT;
    const lambdaS0 = lambda(sigmaS0);
    // σ_t = 0 gives h = ∞; expm1(−∞) = −1 and σ_t/σ_s0 = 0, so the step lands on x0 as the reference does.
    const h = lambda(sigmaT) - lambdaS0;
    const m0 = outputs[outputs.length - 1];
    const rks: number[] = [];
    const history: Float64Array[] = [];
    for (let i = 1; i < order; i++) {
      rks.push((lambda(sigmas[index - i]) - lambdaS0) / h);
      history.push(outputs[outputs.length - 1 - i]);
    }
    rks.push(1);
    const { R, b, hPhi1, Bh } = bh2(order, h, rks);
    let rhos: number[] = [];
    if (history.length > 0) {
      rhos =
        order === 2
          ? [0.5]
          : solve(
              R.slice(0, -1).map((row) => row.slice(0, -1)),
              b.slice(0, -1),
            );
    }
    const out = new Float32Array(x.length);
    const ratio = sigmaT / sigmaS0;
    for (let e = 0; e < out.length; e++) {
      let value = ratio * x[e] - alphaT * hPhi1 * m0[e];
      if (history.length > 0) {
        let res = 0;
        for (let k = 0; k < history.length; k++) res += (rhos[k] * (history[k][e] - m0[e])) / rks[k];
        value -= alphaT * Bh * res;
      }
      out[e] = value;
    }
    return out;
  }

  // UniC-bh2: redo the last step from its start with this step's x0 (`modelT`) as one more point.
  private correct(modelT: Float64Array, run: FlowUniPCState, sigmas: Float64Array, index: number): Float64Array {
    const order = run.lastOrder;
    const outputs = run.outputs;
    const x = run.lastSample!;
    const sigmaT = sigmas[index];
    const sigmaS0 = sigmas[index - 1];
    const alphaT = 1 - sigmaT;
    const lambdaS0 = lambda(sigmaS0);
    const h = lambda(sigmaT) - lambdaS0;
    const m0 = outputs[outputs.length - 1];
    const rks: number[] = [];
    const history: Float64Array[] = [];
    for (let i = 1; i < order; i++) {
      rks.push((lambda(sigmas[index - (i + 1)]) - lambdaS0) / h);
      history.push(outputs[outputs.length - 1 - i]);
    }
    rks.push(1);
    const { R, b, hPhi1, Bh } = bh2(order, h, rks);
    const rhos = order === 1 ? [0.5] : solve(R, b);
    const last = rhos[rhos.length - 1];
    const out = new Float64Array(x.length);
    const ratio = sigmaT / sigmaS0;
    for (let e = 0; e < out.length; e++) {
      let res = 0;
      for (let k = 0; k < history.length; k++) res += (rhos[k] * (history[k][e] - m0[e])) / rks[k];
      res += last * (modelT[e] - m0[e]);
      out[e] = ratio * x[e] - alphaT * hPhi1 * m0[e] - alphaT * Bh * res;
    }
    return out;
  }
}
