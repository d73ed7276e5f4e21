// The binary preview frame: one codec for the server's WebSocket, the Redis transport and the editor.

import { Type, type Static } from '@sinclair/typebox';

// ---- WebSocket: binary preview frames ----
//
// Layout (all integers big-endian):
//   bytes 0..3   uint32  frame type (PREVIEW_WEBP, PREVIEW_JPEG_STRIP or PREVIEW_RGB24)
//   bytes 4..7   uint32  N, length of the metadata in bytes
//   bytes 8..8+N         metadata: UTF-8 JSON matching PreviewMetadataSchema (RawPreviewMetadataSchema for RGB24)
//   the rest             the image: an animated WebP, a JPEG strip of the frames side by side, or
//                        raw RGB24 frames one after another (worker → server over Redis; never sent to browsers)

export const PREVIEW_HEADER_BYTES = 8;
/** An animated WebP of every preview frame. */
export const PREVIEW_WEBP = 1;
/** One JPEG holding every frame side by side, left to right. */
export const PREVIEW_JPEG_STRIP = 2;
/** Raw RGB24 frames, as a node reported them: how a worker hands a preview to the server, which encodes it per client. */
export const PREVIEW_RGB24 = 3;

/** Whose preview a frame is, which step, and the frames' geometry (the size of one frame). */
const previewFields = {
  promptId: Type.String(),
  nodeId: Type.String(),
  step: Type.Integer(),
  total: Type.Integer(),
  frameCount: Type.Integer(),
  width: Type.Integer(),
  height: Type.Integer(),
};

export const PreviewMetadataSchema = Type.Object({
  ...previewFields,
  fps: Type.Number(),
  mime: Type.Union([Type.Literal('image/webp'), Type.Literal('image/jpeg')]),
});
export type PreviewMetadata = Static<typeof PreviewMetadataSchema>;

/** The metadata of a raw RGB24 frame: whose preview it is, and the frames' geometry. */
export const RawPreviewMetadataSchema = Type.Object({
  clientId: Type.Union([Type.String(), Type.Null()]),
  ...previewFields,
  fps: Type.Optional(Type.Number()),
});
export type RawPreviewMetadata = Static<typeof RawPreviewMetadataSchema>;

/** The preview formats a client may ask for with `/ws?preview=`; `none` turns previews off. */
export const PREVIEW_FORMATS = ['webp', 'jpeg', 'none'] as const;
export type PreviewFormat = (typeof PREVIEW_FORMATS)[number];

/** Builds one binary preview frame (metadata: PreviewMetadata for WebP and JPEG, RawPreviewMetadata for RGB24). */
export function encodePreviewFrame(type: number, metadata: PreviewMetadata | RawPreviewMetadata, image: Uint8Array): Uint8Array {
  const meta = new TextEncoder().encode(JSON.stringify(metadata));
  const out = new Uint8Array(PREVIEW_HEADER_BYTES + meta.byteLength + image.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, type);
  view.setUint32(4, meta.byteLength);
  out.set(meta, PREVIEW_HEADER_BYTES);
  out.set(image, PREVIEW_HEADER_BYTES + meta.byteLength);
  return out;
}

/**
 * Splits one binary preview frame into its parts; `M` is the metadata type of the frame types the caller accepts.
 * @throws RangeError when the frame is shorter than its header says, or an RGB24 image is not width × height × 3 × frameCount bytes
 */
export function decodePreviewFrame<M extends PreviewMetadata | RawPreviewMetadata = PreviewMetadata>(frame: Uint8Array): { type: number; metadata: M; image: Uint8Array } {
  if (frame.byteLength < PREVIEW_HEADER_BYTES) throw new RangeError(`A preview frame has at least ${PREVIEW_HEADER_BYTES} bytes, got ${frame.byteLength}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = view.getUint32(0);
  const length = view.getUint32(4);
  if (PREVIEW_HEADER_BYTES + length > frame.byteLength) {
    throw new RangeError(`Preview metadata of ${length} bytes does not fit in a frame of ${frame.byteLength} bytes`);
  }
  const meta = frame.subarray(PREVIEW_HEADER_BYTES, PREVIEW_HEADER_BYTES + length);
  const metadata = JSON.parse(new TextDecoder().decode(meta)) as M;
  const image = frame.subarray(PREVIEW_HEADER_BYTES + length);
  if (type === PREVIEW_RGB24) {
    const expected = metadata.width * metadata.height * 3 * metadata.frameCount;
    if (image.byteLength !== expected)
      throw new RangeError(`An RGB24 preview of ${metadata.frameCount} × ${metadata.width}×${metadata.height} has ${expected} bytes, got ${image.byteLength}`);
  }
  return { type, metadata, image };
}
