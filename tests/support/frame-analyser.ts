// A small frame analyser for tests: the colour and motion of the foreground object, from frames alone.

/** The object colours of the default model's training data (models/training/data.py). */
export const PALETTE: Record<string, [number, number, number]> = {
  red: [230, 40, 40],
  green: [40, 200, 60],
  blue: [50, 90, 255],
  yellow: [250, 220, 40],
  white: [245, 245, 245],
  purple: [160, 60, 220],
  orange: [255, 140, 20],
  cyan: [40, 220, 230],
};

export interface FrameStats {
  /** Foreground pixels as a share of the frame. */
  area: number;
  /** Centroid of the foreground, as a share of width and height (0..1). */
  cx: number;
  cy: number;
}

export interface Analysis {
  frames: FrameStats[];
  /** Mean foreground colour over all frames. */
  meanColour: [number, number, number];
  /**
   * The palette colour most of the clearly-foreground pixels (far from the background, so not the
   * edges that blend into it) are nearest to: the vote the training evaluation uses (analyse.py).
   */
  colour: string;
  motion: 'moving left' | 'moving right' | 'moving up' | 'moving down' | 'growing' | 'shrinking' | 'standing still';
}

// Distances from the background (RGB, Euclidean): foreground, and foreground clear of blended edges.
const FOREGROUND = 60;
const CLEAR_FOREGROUND = 120;

/** Euclidean RGB distance. */
function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/**
 * Analyses packed RGB24 frames. The background of each row is read from its two outermost pixels
 * at each end (this handles flat and vertical-gradient backgrounds, and objects as wide as most of
 * the row); where the two ends disagree, an object covers one of them (`frameBackground`). Pixels
 * far from it are foreground.
 */
export function analyseFrames(rgb: Uint8Array, width: number, height: number, frameCount: number): Analysis {
  const frames: FrameStats[] = [];
  const sum = [0, 0, 0];
  const votes = new Map<string, number>();
  let fgTotal = 0;
  for (let f = 0; f < frameCount; f++) {
    const base = f * width * height * 3;
    let n = 0;
    let sx = 0;
    let sy = 0;
    const backgrounds = frameBackground(rgb, base, width, height);
    for (let y = 0; y < height; y++) {
      const row = base + y * width * 3;
      const bg = backgrounds[y];
      for (let x = 0; x < width; x++) {
        const p = row + x * 3;
        const d = Math.hypot(rgb[p] - bg[0], rgb[p + 1] - bg[1], rgb[p + 2] - bg[2]);
        if (d > FOREGROUND) {
          if (d > CLEAR_FOREGROUND) {
            const name = nearestColour([rgb[p], rgb[p + 1], rgb[p + 2]]);
            votes.set(name, (votes.get(name) ?? 0) + 1);
          }
          n += 1;
          sx += x;
          sy += y;
          sum[0] += rgb[p];
          sum[1] += rgb[p + 1];
          sum[2] += rgb[p + 2];
        }
      }
    }
    fgTotal += n;
    frames.push({ area: n / (width * height), cx: n ? sx / n / width : 0.5, cy: n ? sy / n / height : 0.5 });
  }
  const meanColour = sum.map((s) => (fgTotal ? s / fgTotal : 0)) as [number, number, number];
  const voted = [...votes].sort((a, b) => b[1] - a[1])[0]?.[0];
  return { frames, meanColour, colour: voted ?? nearestColour(meanColour), motion: classifyMotion(frames) };
}

/**
 * The background of each row of the frame at byte `base`: the mean of the row's two ends (two
 * pixels each) where they agree. An object that reaches one end of a row (leaving or entering the
 * frame, or grown to fill it) makes them disagree; then the end nearer the background of the
 * closest row whose ends agree is taken (backgrounds are flat or vertical gradients, so that row's
 * is close), or, where no row's ends agree, the end nearer the row's per-channel median.
 */
function frameBackground(rgb: Uint8Array, base: number, width: number, height: number): number[][] {
  const ends = Array.from({ length: height }, (_, y) => {
    const row = base + y * width * 3;
    const left = [0, 1, 2].map((c) => (rgb[row + c] + rgb[row + 3 + c]) / 2);
    const right = [0, 1, 2].map((c) => (rgb[row + (width - 1) * 3 + c] + rgb[row + (width - 2) * 3 + c]) / 2);
    return { left, right, agreed: distance(left, right) <= FOREGROUND / 2 ? left.map((v, c) => (v + right[c]) / 2) : undefined };
  });
  const values = new Uint8Array(width);
  return ends.map(({ left, right, agreed }, y) => {
    if (agreed) return agreed;
    let reference: number[] | undefined;
    for (let d = 1; d < height && !reference; d++) reference = ends[y - d]?.agreed ?? ends[y + d]?.agreed;
    if (!reference) {
      const row = base + y * width * 3;
      reference = [0, 1, 2].map((c) => {
        for (let x = 0; x < width; x++) values[x] = rgb[row + x * 3 + c];
        values.sort();
        return values[width >> 1];
      });
    }
    return distance(left, reference) <= distance(right, reference) ? left : right;
  });
}

export function nearestColour(rgb: readonly number[]): string {
  let best = '';
  let bestD = Infinity;
  for (const [name, c] of Object.entries(PALETTE)) {
    const d = distance(rgb, c);
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best;
}

function classifyMotion(frames: FrameStats[]): Analysis['motion'] {
  // Average the first and last quarter of the clip, so one noisy frame does not decide.
  const q = Math.max(1, Math.floor(frames.length / 4));
  const mean = (fs: FrameStats[], k: keyof FrameStats) => fs.reduce((s, f) => s + f[k], 0) / fs.length;
  const head = frames.slice(0, q);
  const tail = frames.slice(-q);
  const dx = mean(tail, 'cx') - mean(head, 'cx');
  const dy = mean(tail, 'cy') - mean(head, 'cy');
  const growth = mean(tail, 'area') / Math.max(1e-6, mean(head, 'area'));
  if (Math.max(Math.abs(dx), Math.abs(dy)) > 0.1) {
    if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? 'moving left' : 'moving right';
    return dy < 0 ? 'moving up' : 'moving down';
  }
  if (growth > 1.35) return 'growing';
  if (growth < 0.74) return 'shrinking';
  return 'standing still';
}

/** The backgrounds of the default model's training data (models/training/data.py): [top, bottom] of a vertical gradient. */
export const TRAINING_BACKGROUNDS: Record<string, [[number, number, number], [number, number, number]]> = {
  black: [
    [0, 0, 0],
    [0, 0, 0],
  ],
  gray: [
    [110, 110, 110],
    [110, 110, 110],
  ],
  navy: [
    [15, 25, 90],
    [15, 25, 90],
  ],
  'dark green': [
    [15, 70, 30],
    [15, 70, 30],
  ],
  sunset: [
    [40, 20, 80],
    [150, 60, 50],
  ],
};

/** One window's verdict: the analyser's colour, and how far its background is from the expected one. */
export interface WindowAdherence {
  colour: string;
  /**
   * The larger of the distances (RGB, Euclidean) of the top half's and of the bottom half's median
   * colour over the window from the expected background there (a vertical gradient's colour at a
   * quarter and three quarters of the height). The median ignores an object smaller than half of
   * the half-frame, also one stuck at an edge; an edge-pixel reading would miss a wash of colour
   * across the middle of the sky.
   */
  background: number;
  /**
   * The larger of the two halves' shares of pixels (over the window) that are more than 60 from
   * the expected background there: from 0.5 on, the median above reads the object, not the
   * background (a growing object that has come to fill the frame).
   */
  covered: number;
}

/**
 * Packed RGB24 frames judged window by window (`window` frames each; a shorter rest is left out)
 * against an expected background given as the [top, bottom] of a vertical gradient.
 */
export function windowAdherence(rgb: Uint8Array, width: number, height: number, window: number, expected: readonly [readonly number[], readonly number[]]): WindowAdherence[] {
  const frameBytes = width * height * 3;
  const count = Math.floor(rgb.length / frameBytes / window);
  const half = Math.floor(height / 2);
  const band = (first: number, y0: number) =>
    [0, 1, 2].map((c) => {
      const values: number[] = [];
      for (let f = first; f < first + window; f++) for (let y = y0; y < y0 + half; y++) for (let x = 0; x < width; x++) values.push(rgb[f * frameBytes + (y * width + x) * 3 + c]);
      return values.sort((a, b) => a - b)[values.length >> 1];
    });
  const at = (t: number) => [0, 1, 2].map((c) => expected[0][c] + (expected[1][c] - expected[0][c]) * t);
  const cover = (first: number, y0: number, bg: number[]) => {
    let far = 0;
    for (let f = first; f < first + window; f++) {
      for (let y = y0; y < y0 + half; y++) {
        for (let x = 0; x < width; x++) {
          const i = f * frameBytes + (y * width + x) * 3;
          if (Math.hypot(rgb[i] - bg[0], rgb[i + 1] - bg[1], rgb[i + 2] - bg[2]) > FOREGROUND) far++;
        }
      }
    }
    return far / (window * half * width);
  };
  const out: WindowAdherence[] = [];
  for (let n = 0; n < count; n++) {
    const first = n * window;
    out.push({
      colour: analyseFrames(rgb.subarray(first * frameBytes, (first + window) * frameBytes), width, height, window).colour,
      background: Math.max(distance(band(first, 0), at(0.25)), distance(band(first, height - half), at(0.75))),
      covered: Math.max(cover(first, 0, at(0.25)), cover(first, height - half, at(0.75))),
    });
  }
  return out;
}

/** The shapes of the default model's training data (models/training/data.py SHAPES). */
export type Shape = 'circle' | 'square' | 'triangle' | 'star';

// Per-shape means of the features below over ground-truth renders of every aspect ratio, and the
// features' spread used to scale them: models/training/analyse.py `Analyser().calibrate()` (24
// renders per shape, seed 777), printed with
// `python3 -c "import analyse; a = analyse.Analyser().calibrate(); print(a.centroids * a.scale, a.scale)"`.
const SHAPE_CENTROIDS: Record<Shape, readonly number[]> = {
  circle: [0.78633, 0.94842, 0.0016045, 0.99926],
  square: [0.99906, 0.99953, -0.00017068, 1.00521],
  triangle: [0.53964, 0.90189, 0.15487, 1.14547],
  star: [0.43723, 0.60514, 0.047027, 1.04109],
};
const SHAPE_SCALE = [0.21907, 0.15339, 0.063174, 0.062978];

/** The median as numpy takes it (the mean of the middle two of an even count). */
function midValue(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/** Area of the convex hull of the pixel squares given as each row's [first, last] column (monotone chain). */
function hullArea(rows: Array<[number, number, number]>): number {
  const pts: Array<[number, number]> = [];
  for (const [y, l, r] of rows) pts.push([l, y], [l, y + 1], [r + 1, y], [r + 1, y + 1]);
  pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: number[], a: number[], b: number[]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (points: Array<[number, number]>) => {
    const h: Array<[number, number]> = [];
    for (const p of points) {
      while (h.length >= 2 && cross(h[h.length - 2], h[h.length - 1], p) <= 0) h.pop();
      h.push(p);
    }
    return h.slice(0, -1);
  };
  const hull = [...half(pts), ...half([...pts].reverse())];
  let twice = 0;
  for (let i = 0; i < hull.length; i++) {
    const [x0, y0] = hull[i];
    const [x1, y1] = hull[(i + 1) % hull.length];
    twice += x0 * y1 - x1 * y0;
  }
  return Math.abs(twice) / 2;
}

/**
 * The shape of the (single) foreground object, judged as the training evaluation judges it
 * (analyse.py): on every third frame, pixels more than 40 away in some channel from their row's
 * median are foreground; the frame's fill of the bounding box, solidity (area over convex hull
 * area), how bottom-heavy it is and its aspect ratio are taken; the medians over the frames are
 * matched to the nearest calibrated shape. Null when the object is too small to judge.
 */
export function shapeOf(rgb: Uint8Array, width: number, height: number, frameCount: number): Shape | null {
  const features: number[][] = [];
  for (let f = 0; f < frameCount; f += 3) {
    const rows: Array<[number, number, number]> = [];
    let area = 0;
    let sumY = 0;
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let y = 0; y < height; y++) {
      const row = (f * height + y) * width * 3;
      const median = [0, 1, 2].map((c) => midValue(Array.from({ length: width }, (_, x) => rgb[row + x * 3 + c])));
      let first = -1;
      let last = -1;
      for (let x = 0; x < width; x++) {
        const p = row + x * 3;
        if (Math.max(Math.abs(rgb[p] - median[0]), Math.abs(rgb[p + 1] - median[1]), Math.abs(rgb[p + 2] - median[2])) > 40) {
          if (first < 0) first = x;
          last = x;
          area += 1;
          sumY += y + 0.5;
        }
      }
      if (first >= 0) {
        rows.push([y, first, last]);
        [x0, x1, y0, y1] = [Math.min(x0, first), Math.max(x1, last + 1), Math.min(y0, y), y + 1];
      }
    }
    if (area < 12) continue;
    const [w, h] = [x1 - x0, y1 - y0];
    features.push([area / (w * h), area / Math.max(hullArea(rows), 1), (sumY / area - (y0 + y1) / 2) / h, w / h]);
  }
  if (!features.length) return null;
  const med = [0, 1, 2, 3].map((k) => midValue(features.map((x) => x[k])));
  let best: Shape = 'circle';
  let bestD = Infinity;
  for (const [shape, c] of Object.entries(SHAPE_CENTROIDS) as Array<[Shape, readonly number[]]>) {
    const d = c.reduce((s, ck, k) => s + ((ck - med[k]) / SHAPE_SCALE[k]) ** 2, 0);
    if (d < bestD) [best, bestD] = [shape, d];
  }
  return best;
}

/** Mean absolute difference (grey levels per byte) of each frame of packed RGB24 frames from the next. */
export function frameSteps(rgb: Uint8Array, width: number, height: number): number[] {
  const frameBytes = width * height * 3;
  const steps: number[] = [];
  for (let f = 1; f < rgb.length / frameBytes; f++) {
    let s = 0;
    for (let i = 0; i < frameBytes; i++) s += Math.abs(rgb[f * frameBytes + i] - rgb[(f - 1) * frameBytes + i]);
    steps.push(s / frameBytes);
  }
  return steps;
}
