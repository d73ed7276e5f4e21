// Engine overhead: a 1,000-node chain of trivial nodes, cold and fully cached, and validation of
// a 1,000-node workflow. The reference is the same 1,000 node functions called directly in a loop.
// Run: npx tsx bench/engine-overhead.ts

import { defineNode, Executor, NodeRegistry, validateWorkflow, type NodeDefinition, type Workflow } from '../engine/index.js';

const N = 1000;
const REPEATS = 15;

const inc = defineNode({
  type: 'bench/inc',
  version: 1,
  category: 'bench',
  description: 'x + step',
  inputs: { x: { type: 'FLOAT', optional: true } },
  params: { step: { kind: 'float', default: 1 } },
  outputs: { x: { type: 'FLOAT' } },
  run: ({ x, step }) => ({ x: ((x as number | undefined) ?? 0) + (step as number) }),
});
const sink = defineNode({
  type: 'bench/sink',
  version: 1,
  category: 'bench',
  description: 'output',
  flags: { output: true },
  inputs: { x: { type: 'FLOAT' } },
  run: ({ x }, ctx) => ctx.output({ values: { x } }),
});

function chain(n: number): Workflow {
  const nodes: Workflow['nodes'] = [{ id: 'n0', type: 'bench/inc' }];
  for (let i = 1; i < n - 1; i++) nodes.push({ id: `n${i}`, type: 'bench/inc', params: { step: 1 }, inputs: { x: { node: `n${i - 1}`, output: 'x' } } });
  nodes.push({ id: `n${n - 1}`, type: 'bench/sink', inputs: { x: { node: `n${n - 2}`, output: 'x' } } });
  return { format: 'skyloom-workflow', version: 3, nodes };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn: () => unknown | Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const registry = new NodeRegistry([inc, sink]);
const doc = chain(N);

// Reference: the node functions alone, awaited one by one as the executor does.
const reference: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  reference.push(
    await time(async () => {
      let x = 0;
      for (let i = 0; i < N - 1; i++) x = ((await (inc as NodeDefinition).run({ x, step: 1 }, undefined as never)) as { x: number }).x;
    }),
  );
}

const validation: number[] = [];
for (let r = 0; r < REPEATS; r++) validation.push(await time(() => validateWorkflow(doc, registry)));

const validated = await validateWorkflow(doc, registry);
const cold: number[] = [];
const cached: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  const ex = new Executor(registry);
  cold.push(await time(() => ex.run(validated)));
  const result = await ex.run(validated);
  if (result.executed.length !== 0 || result.outputs[`n${N - 1}`].values?.x !== N - 1) throw new Error('cache did not hold');
  cached.push(await time(() => ex.run(validated)));
}

const ref = median(reference);
const rows = [
  ['reference: 1,000 node functions called directly', ref, 1],
  ['validate a 1,000-node workflow', median(validation), median(validation) / ref],
  ['cold run of a 1,000-node chain (validated)', median(cold), median(cold) / ref],
  ['fully cached re-run of the same chain', median(cached), median(cached) / ref],
] as const;
console.log(`engine overhead, median of ${REPEATS} runs, node ${process.version}`);
for (const [name, ms, ratio] of rows) console.log(`${name.padEnd(52)} ${ms.toFixed(2).padStart(8)} ms  ${ratio.toFixed(1).padStart(7)}× reference`);
console.log(`targets: cold < 50 ms, cached < 5 ms → cold ${median(cold) < 50 ? 'met' : 'MISSED'}, cached ${median(cached) < 5 ? 'met' : 'MISSED'}`);
