// The wire protocol: binary preview frames round-trip, and the schemas accept real messages and refuse wrong ones.

import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  decodePreviewFrame,
  encodePreviewFrame,
  HistoryEntrySchema,
  PREVIEW_HEADER_BYTES,
  PREVIEW_WEBP,
  PromptRequestSchema,
  ServerMessageSchema,
  type PreviewMetadata,
} from '../../protocol/index.js';

const ajv = new Ajv({ allErrors: true, strict: false });

describe('preview frames', () => {
  it('lay out type, metadata length, metadata and image, big-endian', () => {
    const meta: PreviewMetadata = { promptId: 'p', nodeId: 'n', step: 3, total: 9, frameCount: 2, width: 4, height: 2, fps: 8, mime: 'image/webp' };
    const image = new Uint8Array([1, 2, 3, 250]);
    const frame = encodePreviewFrame(PREVIEW_WEBP, meta, image);
    const json = Buffer.from(JSON.stringify(meta));
    expect([...frame.subarray(0, PREVIEW_HEADER_BYTES)]).toEqual([0, 0, 0, 1, 0, 0, (json.length >> 8) & 255, json.length & 255]);
    expect(Buffer.from(frame.subarray(8, 8 + json.length)).equals(json)).toBe(true);
    expect([...frame.subarray(8 + json.length)]).toEqual([1, 2, 3, 250]);
    const back = decodePreviewFrame(frame);
    expect(back.type).toBe(PREVIEW_WEBP);
    expect(back.metadata).toEqual(meta);
    expect([...back.image]).toEqual([1, 2, 3, 250]);
  });

  it('refuse a frame shorter than its header says', () => {
    const frame = encodePreviewFrame(
      PREVIEW_WEBP,
      { promptId: 'p', nodeId: 'n', step: 1, total: 1, frameCount: 1, width: 1, height: 1, fps: 1, mime: 'image/webp' },
      new Uint8Array(),
    );
    expect(() => decodePreviewFrame(frame.subarray(0, 12))).toThrow(RangeError);
    expect(() => decodePreviewFrame(new Uint8Array(3))).toThrow(/at least 8 bytes/);
  });
});

describe('schemas', () => {
  const message = ajv.compile(ServerMessageSchema);
  it('accept the messages the server sends and refuse malformed ones', () => {
    expect(message({ type: 'status', data: { queueRemaining: 2, running: null, sid: 'c' } })).toBe(true);
    expect(message({ type: 'progress', data: { promptId: 'p', nodeId: 'n', step: 1, total: 4 } })).toBe(true);
    expect(message({ type: 'progress', data: { promptId: 'p', nodeId: 'n', step: '1', total: 4 } })).toBe(false);
    expect(message({ type: 'preview', data: {} })).toBe(false);
    expect(message({ type: 'executed', data: { promptId: 'p', nodeId: 'n', nodeType: 't', ms: 1, ui: { files: [{ filename: 'a', kind: 'bogus' }] } } })).toBe(false);
  });

  it('describe request bodies', () => {
    const prompt = ajv.compile(PromptRequestSchema);
    expect(prompt({ workflow: { nodes: [] }, clientId: 'x' })).toBe(true);
    expect(prompt({ workflow: [] })).toBe(false);
    expect(prompt({ workflow: {}, extra: 1 })).toBe(false);
    const entry = ajv.compile(HistoryEntrySchema);
    expect(entry({ promptId: 'p' })).toBe(false);
  });
});
