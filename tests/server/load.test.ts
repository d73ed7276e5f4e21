// Load: 200 trivial prompts queued from 10 concurrent clients all complete, in queue order, none lost, none misrouted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry, HistoryList, PromptResponse } from '../../protocol/index.js';
import { Client, getJson, postJson, startServer, workflow } from './helpers.js';

let server: Awaited<ReturnType<typeof startServer>>;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe('load', () => {
  it('200 prompts from 10 clients', async () => {
    const clients = Array.from({ length: 10 }, (_, i) => new Client(server.base, { clientId: `load-${i}`, preview: 'none' }));
    await Promise.all(clients.map((c) => c.opened));
    const sent = new Map<string, { client: number; value: number; number: number }>();
    await Promise.all(
      clients.map(async (_c, ci) => {
        for (let k = 0; k < 20; k++) {
          const value = ci * 20 + k;
          const wf = workflow({ id: 'n', type: 'test/number', params: { value } }, { id: 'out', type: 'test/collect', inputs: { value: { node: 'n', output: 'value' } } });
          const r = await postJson<PromptResponse>(server.base, '/api/prompt', { workflow: wf, clientId: `load-${ci}` });
          expect(r.status).toBe(200);
          sent.set(r.body.promptId, { client: ci, value, number: r.body.number });
        }
      }),
    );
    expect(sent.size).toBe(200);
    expect(new Set([...sent.values()].map((s) => s.number)).size).toBe(200);

    await Promise.all(clients.map((c, ci) => c.waitFor((g) => g.messages.filter((m) => m.type === 'execution_success').length === 20, `20 successes for client ${ci}`, 120_000)));
    for (const [ci, c] of clients.entries()) {
      const successes = c.got.messages.filter((m) => m.type === 'execution_success');
      const mine = [...sent.entries()].filter(([, s]) => s.client === ci).map(([id]) => id);
      expect(successes.map((m) => m.data.promptId).sort()).toEqual([...mine].sort());
      for (const m of successes) {
        if (m.type !== 'execution_success') continue;
        expect(m.data.outputs.out.values).toEqual({ value: sent.get(m.data.promptId)!.value });
      }
      // A client sees its own prompts finish in the order they were numbered.
      const order = successes.map((m) => sent.get(m.data.promptId)!.number);
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(c.got.messages.filter((m) => m.type === 'execution_error')).toEqual([]);
      c.close();
    }

    const history = await getJson<HistoryList>(server.base, '/api/history?limit=1000');
    expect(history.body.total).toBe(200);
    const byNumber = [...history.body.items].sort((a, b) => a.number - b.number);
    expect(byNumber.every((e: HistoryEntry) => e.status === 'success')).toBe(true);
    // One at a time, in queue order: each starts no earlier than the one before it finished.
    for (let i = 1; i < byNumber.length; i++) {
      expect(byNumber[i].timings.startedAt!).toBeGreaterThanOrEqual(byNumber[i - 1].timings.finishedAt!);
    }
    expect((await getJson<{ running: unknown[]; pending: unknown[] }>(server.base, '/api/queue')).body).toEqual({ running: [], pending: [] });
  });
});
