// The hub's preview policy on fake sockets: newest preview wins inside the rate window, slow clients get none.

import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { decodePreviewFrame, PREVIEW_JPEG_STRIP } from '../../protocol/index.js';
import { Hub } from '../../server/hub.js';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: Array<string | Uint8Array> = [];
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
}

const preview = (step: number) => ({
  promptId: 'p',
  nodeId: 'sampler',
  step,
  total: 10,
  preview: { format: 'rgb24' as const, width: 2, height: 2, frameCount: 2, fps: 4, data: new Uint8Array(2 * 2 * 3 * 2).fill(step * 20) },
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('Hub previews', () => {
  it('sends only the newest of the previews offered meanwhile, at most one per window, and drops the rest', async () => {
    const hub = new Hub({ previewIntervalMs: 100 });
    const ws = new FakeSocket();
    hub.add(ws as unknown as WebSocket, 'c', 'jpeg');
    // Offered in one go (as a sampler would between two turns of the event loop): only the last is encoded.
    for (let step = 1; step <= 3; step++) hub.preview('c', preview(step));
    await until(() => ws.sent.length >= 1);
    for (let step = 4; step <= 6; step++) hub.preview('c', preview(step));
    await until(() => ws.sent.length >= 2);
    await new Promise((r) => setTimeout(r, 250));
    const frames = ws.sent.map((d) => decodePreviewFrame(d as Uint8Array));
    expect(frames.map((f) => f.metadata.step)).toEqual([3, 6]);
    expect(frames[0].type).toBe(PREVIEW_JPEG_STRIP);
    expect(frames[0].metadata).toMatchObject({ frameCount: 2, width: 2, height: 2, fps: 4, mime: 'image/jpeg' });
    expect([...frames[0].image.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect(hub.stats()).toMatchObject({ clients: 1, previewsSent: 2, previewsDropped: 4, previewErrors: 0 });
  });

  it('sends nothing to a client that is behind, and nothing to one that asked for none', async () => {
    const hub = new Hub({ previewIntervalMs: 0 });
    const slow = new FakeSocket();
    slow.bufferedAmount = 2 * 1024 * 1024;
    const none = new FakeSocket();
    hub.add(slow as unknown as WebSocket, 'slow', 'webp');
    hub.add(none as unknown as WebSocket, 'none', 'none');
    hub.preview('slow', preview(1));
    hub.preview('none', preview(1));
    hub.preview('absent', preview(1));
    await until(() => hub.stats().previewsDropped >= 1);
    expect(slow.sent).toEqual([]);
    expect(none.sent).toEqual([]);
    expect(hub.stats().previewsDropped).toBe(1);
  });

  it('routes JSON to one client id (all its sockets) and status to everyone', () => {
    const hub = new Hub();
    const a1 = new FakeSocket();
    const a2 = new FakeSocket();
    const b = new FakeSocket();
    hub.add(a1 as unknown as WebSocket, 'a', 'none');
    hub.add(a2 as unknown as WebSocket, 'a', 'none');
    hub.add(b as unknown as WebSocket, 'b', 'none');
    hub.send('a', { type: 'executing', data: { promptId: 'p', nodeId: 'n', nodeType: 't' } });
    hub.broadcast({ type: 'status', data: { queueRemaining: 0, running: null } });
    expect(a1.sent.map((m) => JSON.parse(m as string).type)).toEqual(['executing', 'status']);
    expect(a2.sent.map((m) => JSON.parse(m as string).type)).toEqual(['executing', 'status']);
    expect(b.sent.map((m) => JSON.parse(m as string).type)).toEqual(['status']);
    a1.close();
    expect(hub.connected('a')).toBe(true);
    a2.close();
    expect(hub.connected('a')).toBe(false);
  });
});
