"""Judge a clip from its frames alone: background, foreground colour(s), shape and motion.

  background  the background model is the per-row median of each frame (objects never cover half
              a row), classified by nearest (top colour, bottom colour) template — this also
              recognises the vertical sunset gradient;
  foreground  pixels that differ from the background model by > 40 (of 255) in some channel;
  colour      majority vote of the nearest palette colour over confidently-foreground pixels
              (difference > 80, which skips anti-aliased edges);
  shape       per-frame features (fill of the bounding box, solidity = area / convex hull area,
              bottom-heaviness, bbox aspect), median over frames, nearest class centroid; the
              centroids and feature scales are calibrated on ground-truth renders (calibrate());
  motion      centroid displacement and area ratio between the first and last three frames
              (the lenient 1.x judge, kept for comparison);
  motion_strict  judged over the whole clip: least-squares slope of the centroid (or of log area)
              over all frames instead of the ends, and smooth: the largest frame-to-frame step of
              that quantity may be at most 2x the median step (four-frame steps for growing /
              shrinking, whose one-frame steps the renders' supersampling quantises; a clip whose motion is one jump at
              a latent-frame boundary fails); "standing still" must not move more than 3% of the
              frame in any one step.

    python3 analyse.py   # reports the analyser's own accuracy on ground-truth renders, sharp and blurred
"""
import numpy as np

import data

PALETTE_NAMES = list(data.COLOURS)
PALETTE = np.array([data.COLOURS[c] for c in PALETTE_NAMES], np.float32)
BG_NAMES = list(data.BACKGROUNDS)
BG_TEMPLATES = np.array([np.concatenate(data.BACKGROUNDS[b]) for b in BG_NAMES], np.float32)


def load_rgb(path, frames, height, width):
    return np.fromfile(path, np.uint8).reshape(frames, height, width, 3)


def background_model(v):
    """[F,H,W,3] -> per-row median background [F,H,1,3] (float)."""
    return np.median(v.astype(np.float32), axis=2, keepdims=True)


def background_class(bg):
    H = bg.shape[1]
    k = max(1, H // 10)
    top = bg[:, :k].reshape(-1, 3).mean(0)
    bottom = bg[:, -k:].reshape(-1, 3).mean(0)
    # Templates hold the gradient end points; the measured rows sit k/2 rows inside them.
    frac = (k / 2) / H
    tpl_top = BG_TEMPLATES[:, :3] * (1 - frac) + BG_TEMPLATES[:, 3:] * frac
    tpl_bot = BG_TEMPLATES[:, 3:] * (1 - frac) + BG_TEMPLATES[:, :3] * frac
    d = np.abs(tpl_top - top).sum(1) + np.abs(tpl_bot - bottom).sum(1)
    return BG_NAMES[int(d.argmin())]


def nearest_palette(pixels):
    d = ((pixels[:, None, :] - PALETTE[None]) ** 2).sum(-1)
    return d.argmin(1)


def convex_hull_area(ys, xs):
    """Area of the convex hull of the given pixels' squares (monotone chain over pixel corners).
    Only each row's outermost pixels can be hull vertices, which keeps the point set small."""
    rows = np.unique(ys)
    left = np.array([xs[ys == r].min() for r in rows])
    right = np.array([xs[ys == r].max() + 1 for r in rows])
    pts = np.unique(np.concatenate([np.stack([left, rows], 1), np.stack([left, rows + 1], 1),
                                    np.stack([right, rows], 1), np.stack([right, rows + 1], 1)]),
                    axis=0)
    if len(pts) < 3:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def turn(o, a, b):  # z of the cross product (a - o) x (b - o)
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(points):
        h = []
        for p in points:
            while len(h) >= 2 and turn(h[-2], h[-1], p) <= 0:
                h.pop()
            h.append(p)
        return h[:-1]

    hull = np.array(half(pts) + half(pts[::-1]), np.float64)
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def shape_features(mask):
    """Per-frame features of a boolean mask, or None if the object is too small to judge."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 12:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    area = float(len(ys))
    fill = area / ((y1 - y0) * (x1 - x0))
    solidity = area / max(convex_hull_area(ys, xs), 1.0)
    bottom = ((ys + 0.5).mean() - (y0 + y1) / 2) / (y1 - y0)  # triangles are bottom-heavy
    aspect = (x1 - x0) / (y1 - y0)
    return np.array([fill, solidity, bottom, aspect])


class Analyser:
    def __init__(self):
        self.centroids = None
        self.scale = None

    def calibrate(self, per_shape=24, seed=777):
        """Shape centroids from ground-truth single-object renders of every aspect ratio."""
        rng = np.random.default_rng(seed)
        feats = {s: [] for s in data.SHAPES}
        for s in data.SHAPES:
            for i in range(per_shape):
                c = PALETTE_NAMES[i % len(PALETTE_NAMES)]
                m = data.MOTIONS[rng.integers(len(data.MOTIONS))]
                spec = {"objects": [(c, s, m)], "background": BG_NAMES[i % len(BG_NAMES)]}
                aspect = list(data.SIZES)[i % 3]
                v, _ = data.render(spec, aspect, rng)
                f = self._shape_vector(self.foreground(v)[0])
                if f is not None:
                    feats[s].append(f)
        allf = np.concatenate([np.array(v) for v in feats.values()])
        self.scale = allf.std(0) + 1e-6
        self.centroids = np.array([np.mean(feats[s], 0) for s in data.SHAPES]) / self.scale
        return self

    @staticmethod
    def foreground(v):
        bg = background_model(v)
        diff = np.abs(v.astype(np.float32) - bg).max(-1)
        return diff > 40, diff > 80, bg

    @staticmethod
    def _shape_vector(fg):
        fs = [shape_features(m) for m in fg[::3]]  # every third frame is plenty, and 3x faster
        fs = [f for f in fs if f is not None]
        return np.median(fs, 0) if fs else None

    def analyse(self, v):
        """v: uint8 [F,H,W,3] -> dict of judgements and raw measurements."""
        F, H, W, _ = v.shape
        fg, strong, bg = self.foreground(v)
        out = {"background": background_class(bg)}
        px = v[strong].astype(np.float32)
        counts = np.bincount(nearest_palette(px), minlength=len(PALETTE)) if len(px) else \
            np.zeros(len(PALETTE), int)
        out["colour"] = PALETTE_NAMES[int(counts.argmax())] if counts.sum() else None
        share = counts / max(1, counts.sum())
        out["colours_present"] = [PALETTE_NAMES[i] for i in np.nonzero(share >= 0.08)[0]]
        f = self._shape_vector(fg)
        out["shape"] = None if f is None else \
            data.SHAPES[int(((self.centroids - f / self.scale) ** 2).sum(1).argmin())]
        area = fg.reshape(F, -1).sum(1).astype(np.float64)
        ys, xs = np.mgrid[0:H, 0:W]
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = (fg * xs).reshape(F, -1).sum(1) / area
            cy = (fg * ys).reshape(F, -1).sum(1) / area
        if (area > 0).sum() < F // 2:
            out["motion"] = None
            return out
        a0, a1 = np.nanmean(area[:3]), np.nanmean(area[-3:])
        dx = (np.nanmean(cx[-3:]) - np.nanmean(cx[:3])) / W
        dy = (np.nanmean(cy[-3:]) - np.nanmean(cy[:3])) / H
        ratio = a1 / max(a0, 1.0)
        out.update(dx=float(dx), dy=float(dy), area_ratio=float(ratio))
        if max(abs(dx), abs(dy)) > 0.12:
            if abs(dx) >= abs(dy):
                out["motion"] = "moving right" if dx > 0 else "moving left"
            else:
                out["motion"] = "moving down" if dy > 0 else "moving up"
        elif ratio > 1.4:
            out["motion"] = "growing"
        elif ratio < 1 / 1.4:
            out["motion"] = "shrinking"
        else:
            out["motion"] = "standing still"
        # The strict judge compares single frame steps, which the thresholded mask quantises to
        # whole pixels; a soft coverage (the difference ramped over 20..80) is sub-pixel exact.
        soft = np.clip((np.abs(v.astype(np.float32) - bg).max(-1) - 20) / 60, 0, 1)
        sa = soft.reshape(F, -1).sum(1).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            scx = (soft * xs).reshape(F, -1).sum(1) / sa
            scy = (soft * ys).reshape(F, -1).sum(1) / sa
        out.update(strict_motion(scx / W, scy / H, sa))
        return out


SMOOTH_RATIO = 2.0  # largest frame step / median frame step


def strict_motion(cx, cy, area):
    """The strict judge over per-frame centroid (as shares of width / height) and area."""
    ok = (area > 0) & np.isfinite(cx) & np.isfinite(cy)
    f = np.nonzero(ok)[0].astype(np.float64)
    if len(f) < 4:
        return {"motion_strict": None}
    span = f[-1] - f[0]
    fit = lambda v: float(np.polyfit(f, v[ok], 1)[0] * span)  # change over the clip, all frames
    dx, dy, dlog = fit(cx), fit(cy), fit(np.log(area))
    if max(abs(dx), abs(dy)) > 0.12:
        horizontal = abs(dx) >= abs(dy)
        label = ("moving right" if dx > 0 else "moving left") if horizontal else \
                ("moving down" if dy > 0 else "moving up")
        track = cx if horizontal else cy
    elif abs(dlog) > np.log(1.4):
        label, track = ("growing" if dlog > 0 else "shrinking"), np.log(area)
    else:
        label, track = "standing still", None
    if track is None:
        steps = np.hypot(np.diff(cx[ok]), np.diff(cy[ok]))
        smooth = bool(steps.max() <= 0.03)
        ratio = None
    else:
        t = track[ok]
        # Sizes change slowly (area x2 over the clip) and the renderer's 2x2 supersampling
        # quantises area, so even ground truth has uneven one-frame size steps: size motions are
        # judged on four-frame steps (a single jump still leaves most of them near zero).
        steps = np.abs(t[1:] - t[:-1]) if label.startswith("moving") else np.abs(t[4:] - t[:-4])
        ratio = float(steps.max() / max(np.median(steps), 1e-6))
        smooth = ratio <= SMOOTH_RATIO
    return {"motion_strict": label if smooth else "jumpy", "motion_step_ratio": ratio,
            "motion_strict_fit": {"dx": dx, "dy": dy, "dlog_area": dlog}}


def score(spec, result):
    """Per-attribute pass/fail of an analysis against the spec that prompted it."""
    objs = spec["objects"]
    s = {"background": result["background"] == spec["background"]}
    if len(objs) == 1:
        c, sh, m = objs[0]
        s.update(colour=result["colour"] == c, shape=result["shape"] == sh,
                 motion=result["motion"] == m, motion_strict=result.get("motion_strict") == m)
    else:
        s["both_colours"] = all(o[0] in result["colours_present"] for o in objs)
    return s


def main():
    """Accuracy of the analyser itself on ground-truth held-out renders (upper bound for eval).

    The same renders blurred (data._box_blur radius 1 twice, close to a Gaussian of 1.15 px) are
    judged too: a decoder's soft edges are not what makes a shape miss, rounded corners are."""
    an = Analyser().calibrate()
    rng = np.random.default_rng(4242)
    tallies = {}
    for i in range(240):
        spec = data.sample_spec(rng, heldout=True, n_objects=1 if i % 4 else 2)
        v, _ = data.render(spec, list(data.SIZES)[i % 3], rng)
        blurred = np.clip(data._box_blur(v.astype(np.float32), 1) + 0.5, 0, 255).astype(np.uint8)
        for name, clip in (("", v), ("blurred ", blurred)):
            for k, ok in score(spec, an.analyse(clip)).items():
                tallies.setdefault(name + k, []).append(ok)
    for k, v in tallies.items():
        print(f"{k}: {np.mean(v) * 100:.1f}% of {len(v)}")


if __name__ == "__main__":
    main()
