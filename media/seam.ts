// Seam matching for generated windows with known frames.
//
// A window's known frames go through the VAE (encode, then decode with the new frames), so the
// decoded window is continuous with the *decoded* known frames, not with the originals the video
// keeps: the difference is the VAE's reconstruction error, and without correction it shows as a
// jump where the original frames meet the generated ones. Each anchor (the known frame next to
// the generated ones) gives a residual, original − decoded; the residuals are carried into the
// generated frames with weights that fall linearly to zero at the far end of the window (or at
// the next anchor, whose residual takes over), so the join is exactly the decoded frame step and
// the correction fades out over the window instead of happening in one frame.

/** A frame of the window (by index) whose original pixels the output must show. */
export interface SeamAnchor {
  index: number;
  /** The original frame, packed RGB24, the size of one window frame. */
  original: Uint8Array;
}

/**
 * The weight of each anchor's residual at frame `j` of an `n`-frame window: linear between
 * neighbouring anchors, and falling to zero at the window's first/last frame outside them.
 * @returns one weight per anchor, in the order given (anchors sorted by index)
 */
export function seamWeights(j: number, n: number, anchors: readonly number[]): number[] {
  const w = anchors.map(() => 0);
  const at = anchors.indexOf(j);
  if (at >= 0) {
    w[at] = 1;
    return w;
  }
  const next = anchors.findIndex((a) => a > j);
  const prev = next === -1 ? anchors.length - 1 : next - 1;
  if (prev >= 0 && next >= 0) {
    const [a, b] = [anchors[prev], anchors[next]];
    w[prev] = (b - j) / (b - a);
    w[next] = (j - a) / (b - a);
  } else if (prev >= 0) {
    const a = anchors[prev];
    w[prev] = 1 - (j - a) / (n - 1 - a);
  } else {
    const b = anchors[next];
    w[next] = 1 - (b - j) / b;
  }
  return w;
}

/**
 * Rewrites `frames` (an `n`-frame window, packed RGB24) in place: every anchor frame becomes its
 * original, and every other frame gets the anchors' residuals by {@link seamWeights}.
 */
export function matchSeams(frames: Uint8Array, frameBytes: number, anchors: readonly SeamAnchor[]): void {
  if (anchors.length === 0) return;
  const n = frames.length / frameBytes;
  if (!Number.isInteger(n)) throw new Error(`window of ${frames.length} bytes is not whole frames of ${frameBytes} bytes`);
  const sorted = [...anchors].sort((x, y) => x.index - y.index);
  const residuals = sorted.map(({ index, original }) => {
    if (index < 0 || index >= n) throw new Error(`seam anchor ${index} is outside the ${n}-frame window`);
    if (original.length !== frameBytes) throw new Error(`seam anchor ${index} has ${original.length} bytes, not one frame of ${frameBytes}`);
    const decoded = frames.subarray(index * frameBytes, (index + 1) * frameBytes);
    const r = new Int16Array(frameBytes);
    for (let i = 0; i < frameBytes; i++) r[i] = original[i] - decoded[i];
    return r;
  });
  const indices = sorted.map((a) => a.index);
  for (let j = 0; j < n; j++) {
    const weights = seamWeights(j, n, indices);
    const active = weights.flatMap((w, k) => (w === 0 ? [] : [{ w, r: residuals[k] }]));
    if (active.length === 0) continue;
    const frame = frames.subarray(j * frameBytes, (j + 1) * frameBytes);
    for (let i = 0; i < frameBytes; i++) {
      let v = frame[i];
      for (const { w, r } of active) v += w * r[i];
      // Uint8Array assignment wraps out-of-range values; clamp and round here instead.
      frame[i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
}
