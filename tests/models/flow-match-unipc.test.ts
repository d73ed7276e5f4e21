import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { FlowMatchUniPCScheduler } from '../../models/schedulers/flow-match-unipc.js';
import { FlowMatchEulerScheduler } from '../../models/schedulers/flow-match-euler.js';
import type { FlowSchedule, FlowStepResult, VelocityFn } from '../../models/schedulers/flow-match-euler.js';

// Numbers from running wannx's numpy UniPC and Wan2.1's torch FlowUniPCMultistepScheduler
// (tests/fixtures/wan/unipc_reference.py says how; the JSON's `source` names the commit).
interface StepRef {
  denoised: number[];
  prevSample: number[];
}
interface Reference {
  schedules: { steps: number; shift: number; sigmas: number[]; timesteps: number[]; torchSigmas: number[]; torchTimesteps: number[] }[];
  runs: { steps: number; shift: number; solverOrder: number; sample: number[]; numpy: StepRef[]; stepIndices: number[]; torchPrevSample?: number[][] }[];
}
const reference = JSON.parse(readFileSync(new URL('../fixtures/wan/unipc-reference.json', import.meta.url), 'utf8')) as Reference;

function expectNear(actual: ArrayLike<number>, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

// The fake model of the reference script: v_j = float32(0.8·x_j − cos(x_j + 2σ) + 0.1·j·σ).
const fakeModel: VelocityFn = async (x, sigma) => x.map((value, j) => 0.8 * value - Math.cos(value + 2 * sigma) + 0.1 * j * sigma);

async function trajectory(steps: number, shift: number, solverOrder: number, sample: number[]) {
  const sch = new FlowMatchUniPCScheduler({ shift, solverOrder });
  const schedule = sch.setTimesteps(steps);
  const state = sch.createState();
  let x: Float32Array = Float32Array.from(sample);
  const out: { prevSample: Float32Array; denoised: Float32Array }[] = [];
  for (let i = 0; i < steps; i++) {
    const r = await sch.step(fakeModel, x, schedule, i, state);
    out.push(r);
    x = r.prevSample;
  }
  return out;
}

describe('flow-match UniPC schedule', () => {
  for (const ref of reference.schedules) {
    it(`matches Wan's sigmas and truncated timesteps for ${ref.steps} steps, shift ${ref.shift}`, () => {
      const s = new FlowMatchUniPCScheduler().setTimesteps(ref.steps, { shift: ref.shift });
      expectNear(s.sigmas, ref.sigmas, 1e-12);
      expect(Array.from(s.timesteps)).toEqual(ref.timesteps);
      // Wan's torch scheduler keeps σ in float32: same timesteps, σ within float32 rounding.
      expect(Array.from(s.timesteps)).toEqual(ref.torchTimesteps);
      expectNear(s.sigmas, ref.torchSigmas, 1e-7);
    });
  }

  it('starts at the shifted σmax = 0.999, ends at 0, and differs from the Euler schedule', () => {
    const s = new FlowMatchUniPCScheduler({ shift: 5 }).setTimesteps(4);
    expect(s.sigmas[0]).toBeCloseTo((5 * 0.999) / (1 + 4 * 0.999), 12);
    expect(s.sigmas[4]).toBe(0);
    expect(s.timesteps[0]).toBe(999);
    const euler = new FlowMatchEulerScheduler({ shift: 5 }).setTimesteps(4);
    expect(euler.sigmas[0]).toBe(1);
  });

  it('cuts to the last steps for denoise and rejects bad settings', () => {
    const sch = new FlowMatchUniPCScheduler();
    const full = sch.setTimesteps(10, { shift: 3 });
    const part = sch.setTimesteps(10, { shift: 3, denoise: 0.55 });
    expect(Array.from(part.sigmas)).toEqual(Array.from(full.sigmas.slice(4)));
    expect(() => sch.setTimesteps(0)).toThrow('steps must be a positive integer but is 0');
    expect(() => sch.setTimesteps(5, { shift: 0 })).toThrow('shift must be positive but is 0');
    expect(() => new FlowMatchUniPCScheduler({ solverOrder: 4 })).toThrow('UniPC solverOrder must be 1, 2 or 3 but is 4');
  });
});

describe('flow-match UniPC steps', () => {
  for (const ref of reference.runs) {
    it(`order ${ref.solverOrder}, ${ref.steps} steps, shift ${ref.shift}: step outputs match the numpy reference`, async () => {
      const out = await trajectory(ref.steps, ref.shift, ref.solverOrder, ref.sample);
      ref.stepIndices.forEach((index, k) => {
        expectNear(out[index].denoised, ref.numpy[k].denoised, 2e-6);
        expectNear(out[index].prevSample, ref.numpy[k].prevSample, 2e-6);
        // Wan's own torch scheduler, in float32, agrees within the same bound.
        if (ref.torchPrevSample) expectNear(out[index].prevSample, ref.torchPrevSample[k], 2e-6);
      });
    });
  }

  it('the last step lands on the x0 prediction (final σ = 0, first order)', async () => {
    const sch = new FlowMatchUniPCScheduler({ shift: 3 });
    const schedule = sch.setTimesteps(5);
    const state = sch.createState();
    let x: Float32Array = Float32Array.of(0.5, -1, 2);
    let last: FlowStepResult = { prevSample: x, denoised: x };
    for (let i = 0; i < 5; i++) {
      last = await sch.step(fakeModel, x, schedule, i, state);
      x = last.prevSample;
    }
    expectNear(last.prevSample, Array.from(last.denoised), 1e-7);
  });

  it('calls the model once per step with σ_i and the truncated timestep', async () => {
    const sch = new FlowMatchUniPCScheduler({ shift: 5 });
    const schedule = sch.setTimesteps(3);
    const state = sch.createState();
    const seen: number[][] = [];
    let x: Float32Array = Float32Array.of(1, 2);
    for (let i = 0; i < 3; i++) {
      x = (
        await sch.step(
          async (s, sigma, t) => {
            seen.push([sigma, t]);
            return fakeModel(s, sigma, t);
          },
          x,
          schedule,
          i,
          state,
        )
      ).prevSample;
    }
    expect(seen).toEqual([0, 1, 2].map((i) => [schedule.sigmas[i], schedule.timesteps[i]]));
    expect(seen.map(([, t]) => t)).toEqual([999, 908, 713]);
  });

  it('keeps its history in the run state: two runs on one scheduler give identical results', async () => {
    const a = await trajectory(10, 3, 2, reference.runs[0].sample);
    const b = await trajectory(10, 3, 2, reference.runs[0].sample);
    expect(Array.from(b[9].prevSample)).toEqual(Array.from(a[9].prevSample));
  });

  it('refuses a missing or foreign state, steps out of order and a state reused on another schedule', async () => {
    const sch = new FlowMatchUniPCScheduler();
    const schedule: FlowSchedule = sch.setTimesteps(4);
    const x = Float32Array.of(1);
    await expect(sch.step(fakeModel, x, schedule, 0)).rejects.toThrow('UniPC is a multistep sampler: pass the state from createState() to every step of a run');
    await expect(sch.step(fakeModel, x, schedule, 0, new FlowMatchEulerScheduler().createState())).rejects.toThrow('UniPC got a state made by the euler sampler');
    const state = sch.createState();
    await expect(sch.step(fakeModel, x, schedule, 1, state)).rejects.toThrow("UniPC steps run in order: this run's next step is 0 but step 1 was asked for");
    await sch.step(fakeModel, x, schedule, 0, state);
    await expect(sch.step(fakeModel, x, sch.setTimesteps(4), 1, state)).rejects.toThrow('UniPC got a state from a run on another schedule; create one state per run');
    await expect(sch.step(fakeModel, x, schedule, 4, state)).rejects.toThrow('step index 4 is outside the schedule of 4 steps');
  });
});
