import { describe, it, expect } from 'vitest';
import { FlowMatchEulerScheduler, timeShift } from '../../models/schedulers/flow-match-euler.js';
import { FlowMatchHeunScheduler } from '../../models/schedulers/flow-match-heun.js';
import { EulerDiscreteScheduler } from '../../models/schedulers/euler-discrete.js';

// Reference numbers: diffusers' formulas (FlowMatchEulerDiscreteScheduler, EulerDiscreteScheduler,
// torch float32 alphas_cumprod) evaluated in Python with numpy/torch and pinned here.
function expectClose(actual: ArrayLike<number>, expected: number[], digits = 5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
}

describe('flow-match euler', () => {
  it('matches diffusers sigmas and timesteps without shift', () => {
    const s = new FlowMatchEulerScheduler().setTimesteps(4);
    expectClose(s.sigmas, [1.0, 0.667, 0.334, 0.001, 0]);
    expectClose(s.timesteps, [1000, 667, 334, 1], 3);
  });

  it('matches diffusers with shift 3 (including its doubly shifted last sigma)', () => {
    const s = new FlowMatchEulerScheduler({ shift: 3 }).setTimesteps(5);
    expectClose(s.sigmas, [1.0, 0.9003590664406573, 0.7511210762748848, 0.5029850747377365, 0.00892857175920678, 0]);
    expectClose(s.timesteps, [1000, 900.3590664406573, 751.1210762748848, 502.98507473773645, 8.92857175920678], 3);
    expect(timeShift(0.5, 3)).toBeCloseTo(0.75, 10);
  });

  it('a shift passed to setTimesteps overrides the configured one', () => {
    const a = new FlowMatchEulerScheduler({ shift: 1 }).setTimesteps(5, { shift: 3 });
    expect(a.sigmas[1]).toBeCloseTo(0.9003590664406573, 6);
  });

  it('denoise < 1 keeps the last steps as diffusers strength does', () => {
    const full = new FlowMatchEulerScheduler().setTimesteps(10);
    const part = new FlowMatchEulerScheduler().setTimesteps(10, { denoise: 0.55 });
    // t_start = trunc(10 - 5.5) = 4 → 6 steps
    expect(part.timesteps.length).toBe(6);
    expect(Array.from(part.sigmas)).toEqual(Array.from(full.sigmas.slice(4)));
    expect(() => new FlowMatchEulerScheduler().setTimesteps(10, { denoise: 0 })).toThrow('denoise must be in (0, 1] but is 0');
    expect(() => new FlowMatchEulerScheduler().setTimesteps(0)).toThrow('steps must be a positive integer but is 0');
  });

  it('steps x + (sigma_next - sigma) v and estimates x0 = x - sigma v', async () => {
    const sch = new FlowMatchEulerScheduler();
    const schedule = sch.setTimesteps(4);
    const seen: number[] = [];
    const r = await sch.step(
      async (_x, sigma, t) => {
        seen.push(sigma, t);
        return Float32Array.of(2, -1);
      },
      Float32Array.of(1, 1),
      schedule,
      1,
    );
    expect(seen).toEqual([schedule.sigmas[1], schedule.timesteps[1]]);
    const dt = schedule.sigmas[2] - schedule.sigmas[1];
    expectClose(r.prevSample, [1 + 2 * dt, 1 - dt]);
    expectClose(r.denoised, [1 - 2 * 0.667, 1 + 0.667]);
    await expect(sch.step(async (x) => x, Float32Array.of(0), schedule, 4)).rejects.toThrow('step index 4 is outside the schedule of 4 steps');
  });

  it('leaves no state between runs: one schedule used twice gives the same result', async () => {
    const sch = new FlowMatchEulerScheduler({ shift: 2 });
    const run = async () => {
      const schedule = sch.setTimesteps(3);
      let x: Float32Array = Float32Array.of(1);
      for (let i = 0; i < 3; i++) x = (await sch.step(async (s) => s.map((v) => v * 0.5), x, schedule, i)).prevSample;
      return x[0];
    };
    expect(await run()).toBe(await run());
  });
});

describe('flow-match heun', () => {
  // dx/dσ = x·σ + 1 from x = 1 over the shift-3, 4-step schedule, in float64 Python.
  const toy = async (x: Float32Array, sigma: number) => x.map((v) => v * sigma + 1);
  async function integrate(sch: FlowMatchEulerScheduler | FlowMatchHeunScheduler): Promise<{ x: number; calls: number }> {
    const schedule = sch.setTimesteps(4, { shift: 3 });
    let calls = 0;
    let x: Float32Array = Float32Array.of(1);
    for (let i = 0; i < 4; i++) {
      x = (
        await sch.step(
          async (s, sigma) => {
            calls++;
            return toy(s, sigma);
          },
          x,
          schedule,
          i,
        )
      ).prevSample;
    }
    return { x: x[0] ?? NaN, calls };
  }

  it('matches the reference Heun integration and uses 2 calls per step except the last', async () => {
    const heun = await integrate(new FlowMatchHeunScheduler());
    expect(heun.x).toBeCloseTo(-0.28828698278486903, 5);
    expect(heun.calls).toBe(7);
    const euler = await integrate(new FlowMatchEulerScheduler());
    expect(euler.x).toBeCloseTo(-0.4073225111289374, 5);
    expect(euler.calls).toBe(4);
  });
});

describe('euler-discrete (Stable Diffusion)', () => {
  it('leading spacing with steps_offset 1 matches diffusers', () => {
    const s = new EulerDiscreteScheduler().setTimesteps(5);
    expect(Array.from(s.timesteps)).toEqual([801, 601, 401, 201, 1]);
    expectClose(s.sigmas, [5.134433269500732, 2.2928547859191895, 1.1682164669036865, 0.5740507245063782, 0.04131447896361351, 0], 4);
    expect(s.initNoiseSigma).toBeCloseTo(5.2309086207805215, 4);
  });

  it('trailing and linspace spacing match diffusers', () => {
    const t = new EulerDiscreteScheduler({ timestepSpacing: 'trailing' }).setTimesteps(5);
    expect(Array.from(t.timesteps)).toEqual([999, 799, 599, 399, 199]);
    expectClose(t.sigmas, [14.614645004272461, 5.087765216827393, 2.276463747024536, 1.1605788469314575, 0.5692853927612305, 0], 3);
    expect(t.initNoiseSigma).toBeCloseTo(14.614645004272461, 3);
    const l = new EulerDiscreteScheduler({ timestepSpacing: 'linspace' }).setTimesteps(5);
    expectClose(l.timesteps, [999, 749.25, 499.5, 249.75, 0], 6);
    expectClose(l.sigmas, [14.614645004272461, 4.086089491844177, 1.6155833005905151, 0.6951509565114975, 0.029167532920837402, 0], 3);
  });

  it('scales the model input by 1/sqrt(sigma^2+1) and steps with epsilon', () => {
    const sch = new EulerDiscreteScheduler();
    const schedule = sch.setTimesteps(5);
    expectClose(sch.scaleModelInput(Float32Array.of(2), 1), [2 / Math.SQRT2]);
    const r = sch.step(Float32Array.of(0.5), Float32Array.of(3), schedule, 0);
    expectClose(r.prevSample, [3 + (2.2928547859191895 - 5.134433269500732) * 0.5], 4);
    expectClose(r.denoised, [3 - 5.134433269500732 * 0.5], 4);
    // t_start = trunc(5 − 5·0.4) = 3
    const part = sch.setTimesteps(5, { denoise: 0.4 });
    expect(Array.from(part.timesteps)).toEqual([201, 1]);
    expect(part.initNoiseSigma).toBeCloseTo(0.5740507245063782, 4);
  });
});
