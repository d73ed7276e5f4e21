// Owns the minimap's geometry as plain functions: the world box it shows, the viewport, and the mapping between map pixels and canvas points.

/** A rectangle in canvas (world) coordinates. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The Rete area transform: a canvas point p shows at p * k + (x, y) on the screen. */
export interface ViewTransform {
  x: number;
  y: number;
  k: number;
}

/** The canvas rectangle a view of `width` × `height` screen pixels shows under `t`. */
export function viewportBox(t: ViewTransform, width: number, height: number): Box {
  return { x: -t.x / t.k, y: -t.y / t.k, w: width / t.k, h: height / t.k };
}

/** The smallest box holding every box, grown by `pad` on each side; undefined when there are none. */
export function unionBox(boxes: Iterable<Box>, pad = 0): Box | undefined {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const b of boxes) {
    x0 = Math.min(x0, b.x);
    y0 = Math.min(y0, b.y);
    x1 = Math.max(x1, b.x + b.w);
    y1 = Math.max(y1, b.y + b.h);
  }
  if (x0 === Infinity) return undefined;
  return { x: x0 - pad, y: y0 - pad, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad };
}

/** `box` grown about its centre to the aspect ratio of a `width` × `height` map, so the map scales both axes alike. */
export function fitAspect(box: Box, width: number, height: number): Box {
  const aspect = width / height;
  if (box.w / box.h > aspect) {
    const h = box.w / aspect;
    return { x: box.x, y: box.y - (h - box.h) / 2, w: box.w, h };
  }
  const w = box.h * aspect;
  return { x: box.x - (w - box.w) / 2, y: box.y, w, h: box.h };
}

/** The canvas point under pixel (`px`, `py`) of a `width` × `height` map that shows `world`. */
export function mapToWorld(px: number, py: number, world: Box, width: number, height: number): [number, number] {
  return [world.x + (px / width) * world.w, world.y + (py / height) * world.h];
}

/** The area translation that puts canvas point (`wx`, `wy`) at the middle of a `width` × `height` view at scale `k`. */
export function centerOn(wx: number, wy: number, k: number, width: number, height: number): { x: number; y: number } {
  return { x: width / 2 - wx * k, y: height / 2 - wy * k };
}

/**
 * The transform that shows `content` whole and centred in a `width` × `height` view, scaled by
 * `margin` and clamped to `limits`, without putting any of it under `obstacle` (a screen
 * rectangle such as the minimap) when that can be helped: the whole view is tried first, then the
 * parts of it beside, above and below the obstacle, and the largest scale that stays clear wins. When
 * none stays clear (a clamp at the minimum zoom), the whole-view fit is kept.
 */
export function fitAround(content: Box, width: number, height: number, obstacle: Box | undefined, margin: number, limits: { min: number; max: number }): ViewTransform {
  const fitIn = (area: Box): ViewTransform => {
    const k = Math.min(limits.max, Math.max(limits.min, margin * Math.min(area.w / Math.max(content.w, 1), area.h / Math.max(content.h, 1))));
    return { k, x: area.x + area.w / 2 - (content.x + content.w / 2) * k, y: area.y + area.h / 2 - (content.y + content.h / 2) * k };
  };
  const whole = fitIn({ x: 0, y: 0, w: width, h: height });
  if (!obstacle) return whole;
  const clear = (t: ViewTransform): boolean => {
    const s = { x: content.x * t.k + t.x, y: content.y * t.k + t.y, w: content.w * t.k, h: content.h * t.k };
    return s.x + s.w <= obstacle.x || obstacle.x + obstacle.w <= s.x || s.y + s.h <= obstacle.y || obstacle.y + obstacle.h <= s.y;
  };
  if (clear(whole)) return whole;
  const candidates = [
    { x: obstacle.x + obstacle.w, y: 0, w: width - obstacle.x - obstacle.w, h: height }, // right of it
    { x: 0, y: 0, w: obstacle.x, h: height }, // left of it
    { x: 0, y: 0, w: width, h: obstacle.y }, // above it
    { x: 0, y: obstacle.y + obstacle.h, w: width, h: height - obstacle.y - obstacle.h }, // below it
  ]
    .filter((a) => a.w > 0 && a.h > 0)
    .map(fitIn)
    .filter(clear)
    .sort((a, b) => b.k - a.k);
  return candidates[0] ?? whole;
}
