"""Procedural captioned videos: coloured shapes moving over backgrounds.

Every clip is 16 frames (8 fps = 2 s) of one or two objects drawn with 2x2 supersampling, so
edges are anti-aliased like real footage and the VAE is not asked to reproduce aliasing noise.
Everything is driven by a numpy Generator, so a seed reproduces a clip exactly.

Run `python3 data.py` to print a few captions and the held-out triples.
"""
import math
import re

import numpy as np

FRAMES = 16
FPS = 8
# Native sizes as (width, height); the VAE compresses 8x in space, the DiT patches 2x2 latents,
# so every side is a multiple of 16.
SIZES = {"1:1": (64, 64), "16:9": (112, 64), "9:16": (64, 112)}

COLOURS = {
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 255), "yellow": (250, 220, 40),
    "white": (245, 245, 245), "purple": (160, 60, 220), "orange": (255, 140, 20), "cyan": (40, 220, 230),
}
SHAPES = ["circle", "square", "triangle", "star"]
MOTIONS = ["moving left", "moving right", "moving up", "moving down", "growing", "shrinking",
           "standing still"]
# Sunset is a vertical gradient from a dark purple sky to a dull orange horizon, kept darker than
# the object palette so orange and red objects stay visible on it.
BACKGROUNDS = {
    "black": ((0, 0, 0), (0, 0, 0)), "gray": ((110, 110, 110), (110, 110, 110)),
    "navy": ((15, 25, 90), (15, 25, 90)), "dark green": ((15, 70, 30), (15, 70, 30)),
    "sunset": ((40, 20, 80), (150, 60, 50)),
}

# Held-out (colour, shape, motion) triples: never rendered for training, used to measure
# generalisation. Chosen by HELDOUT_RULE below (23 of 224 triples, just over 10%); the literal list
# is kept so that reading the code tells you what was held out, and main() checks it matches.
HELDOUT_SEED = 3
HELDOUT = [
    ('red', 'square', 'moving left'), ('red', 'square', 'moving right'),
    ('red', 'triangle', 'moving down'), ('red', 'triangle', 'shrinking'),
    ('red', 'star', 'growing'), ('green', 'circle', 'standing still'),
    ('green', 'square', 'moving right'), ('green', 'square', 'moving up'),
    ('green', 'triangle', 'standing still'), ('blue', 'circle', 'moving right'),
    ('blue', 'triangle', 'moving left'), ('yellow', 'circle', 'moving down'),
    ('yellow', 'square', 'moving right'), ('yellow', 'triangle', 'moving up'),
    ('yellow', 'triangle', 'growing'), ('white', 'square', 'moving up'),
    ('white', 'triangle', 'standing still'), ('purple', 'square', 'moving down'),
    ('purple', 'triangle', 'standing still'), ('purple', 'star', 'moving up'),
    ('purple', 'star', 'growing'), ('orange', 'square', 'shrinking'),
    ('cyan', 'circle', 'moving up'),
]


def all_triples():
    return [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]


def heldout_rule(seed=HELDOUT_SEED):
    """The seeded rule that produced HELDOUT: a random 23-subset of the triples, redrawn until no
    (colour, shape), (colour, motion) or (shape, motion) pair is entirely held out — so every
    held-out triple combines attributes whose pairs the model has seen (compositional test)."""
    triples = all_triples()
    n = math.ceil(0.10 * len(triples))
    rng = np.random.default_rng(seed)
    while True:
        pick = sorted(rng.choice(len(triples), n, replace=False))
        held = [triples[i] for i in pick]
        train = set(triples) - set(held)
        pairs_ok = all(
            any(t[i] == h[i] and t[j] == h[j] for t in train)
            for h in held for i, j in ((0, 1), (0, 2), (1, 2)))
        if pairs_ok:
            return sorted(held, key=lambda t: (list(COLOURS).index(t[0]), SHAPES.index(t[1]),
                                               MOTIONS.index(t[2])))


TRAIN_TRIPLES = [t for t in all_triples() if t not in set(HELDOUT)]

# Word-level vocabulary: [PAD]=0, [UNK]=1, then every word the grammar can produce.
VOCAB = ["[PAD]", "[UNK]", "a", "an", "and", "on", "background"]
for _w in [*COLOURS, *SHAPES, *" ".join(MOTIONS).split(), *" ".join(BACKGROUNDS).split()]:
    if _w not in VOCAB:
        VOCAB.append(_w)
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
MAX_TOKENS = 24


def tokenize(caption):
    """Lower-case, split like the HF "Whitespace" pre-tokenizer (runs of word characters, runs of
    punctuation), map to ids ([UNK]=1 for unknown words). Mirrors the WordPiece tokenizer.json
    that export.py writes and the runtime uses."""
    return [WORD_ID.get(w, 1) for w in re.findall(r"\w+|[^\w\s]+", caption.lower())]


def caption_of(spec):
    objs = " and ".join(f"{'an' if c == 'orange' else 'a'} {c} {s} {m}" for c, s, m in spec["objects"])
    return f"{objs} on a {spec['background']} background"


def sample_spec(rng, heldout=False, n_objects=None):
    """A random scene. heldout=False draws triples from TRAIN_TRIPLES only; heldout=True makes the
    first object a held-out triple (the second, if any, is also held out)."""
    pool = HELDOUT if heldout else TRAIN_TRIPLES
    n = n_objects or (1 if rng.random() < 0.6 else 2)
    objs = [pool[rng.integers(len(pool))]]
    while len(objs) < n:
        t = pool[rng.integers(len(pool))]
        if t[0] != objs[0][0]:  # two objects always differ in colour, so captions stay unambiguous
            objs.append(t)
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    return {"objects": objs, "background": bg}


def _shape_cover(shape, dx, dy, r):
    """Boolean inside-test for a shape of nominal radius r centred at the origin."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r
    R = 1.2 * r
    if shape == "triangle":  # equilateral, pointing up (image y grows downwards)
        s3 = math.sqrt(3)
        return (dy <= R / 2) & (s3 * dx - dy <= R) & (-s3 * dx - dy <= R)
    if shape == "star":  # five points; boundary radius in polar form between outer/inner vertices
        ri = 0.45 * R
        theta = np.arctan2(-dy, dx) - math.pi / 2
        phi = np.mod(theta, 2 * math.pi / 5)
        phi = np.minimum(phi, 2 * math.pi / 5 - phi)
        a = math.pi / 5
        rho = R * ri * math.sin(a) / (R * np.sin(phi) + ri * np.sin(a - phi))
        return dx * dx + dy * dy <= rho * rho
    raise ValueError(shape)


def _trajectory(motion, d, W, H, rng, edges=None):
    """Per-frame centre (cx, cy) and diameter for an object, plus its swept bounding box.
    Moving objects travel 1/3 of the frame along their axis; growing/shrinking doubles/halves the
    area; the whole path stays inside the frame with a 2 px margin.

    The ordinary clips never touch an edge, so a model trained on them alone has no picture of an
    object leaving the frame, coming in, or outgrowing it, which a minute-long clip reaches. The
    edge clips (EVAL.md, "Over a minute") do:
      edges="cross": a moving object's path along its axis may start or end outside the frame (it
        enters or leaves; its centre is inside at some frame), and a growing, shrinking or still
        object is up to 2.5x the size and may be cut by the edges;
      edges="enter": a moving object starts beyond the edge it comes in by and ends inside
        (other motions are drawn as usual)."""
    p = np.linspace(0.0, 1.0, FRAMES)
    if edges == "cross" and not motion.startswith("moving"):
        d = d * rng.uniform(1.0, 2.5)
    size = np.full(FRAMES, float(d))
    if motion == "growing":
        size = d * (1 + p * (math.sqrt(2) - 1))
    elif motion == "shrinking":
        size = d * (math.sqrt(2) - p * (math.sqrt(2) - 1))
    ext = 0.6 * size.max() + 2  # half-extent incl. the star/triangle overshoot and margin
    vx = {"moving left": -W / 3, "moving right": W / 3}.get(motion, 0.0)
    vy = {"moving up": -H / 3, "moving down": H / 3}.get(motion, 0.0)
    if edges == "cross" and not (vx or vy):
        x0, y0 = rng.uniform(0.2 * W, 0.8 * W), rng.uniform(0.2 * H, 0.8 * H)
    else:
        x0 = rng.uniform(ext + max(0, -vx), W - ext - max(0, vx))
        y0 = rng.uniform(ext + max(0, -vy), H - ext - max(0, vy))
    if edges == "enter" and vx:  # starts beyond the edge it comes in by, ends inside
        x0 = (W + rng.uniform(0, ext)) if vx < 0 else -rng.uniform(0, ext)
    elif edges == "enter" and vy:
        y0 = (H + rng.uniform(0, ext)) if vy < 0 else -rng.uniform(0, ext)
    elif edges == "cross" and vx:
        x0 = rng.uniform(max(0, -vx), W + max(0, -vx))  # the centre crosses the frame somewhere
    elif edges == "cross" and vy:
        y0 = rng.uniform(max(0, -vy), H + max(0, -vy))
    cx, cy = x0 + p * vx, y0 + p * vy
    box = (cx.min() - ext, cy.min() - ext, cx.max() + ext, cy.max() + ext)
    return cx, cy, size, box


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def render(spec, aspect, rng, edges=None):
    """Render a spec. Returns (frames uint8 [F, H, W, 3], foreground coverage float32 [F, H, W]).
    edges="cross" or "enter" draws an edge clip (_trajectory): objects that enter, leave or
    outgrow the frame."""
    W, H = SIZES[aspect]
    top, bottom = (np.array(c, np.float32) for c in BACKGROUNDS[spec["background"]])
    g = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    video = np.broadcast_to(top * (1 - g) + bottom * g, (FRAMES, H, W, 3)).copy()
    fg = np.zeros((FRAMES, H, W), np.float32)
    n = len(spec["objects"])
    d = (0.30 if n == 1 else 0.24) * min(W, H)
    # Rejection-sample positions so two objects' swept paths do not overlap (keeps both visible).
    for _ in range(100):
        trajs = [_trajectory(m, d, W, H, rng, edges) for _, _, m in spec["objects"]]
        if n == 1 or not _overlap(trajs[0][3], trajs[1][3]):
            break
    for (colour, shape, _), (cx, cy, size, box) in zip(spec["objects"], trajs):
        # Only the object's swept box is evaluated: 5-10x faster than the whole frame.
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(W, int(math.ceil(box[2]))), min(H, int(math.ceil(box[3])))
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        cover = np.zeros((FRAMES, y1 - y0, x1 - x0), np.float32)
        for ox in (0.25, 0.75):  # 2x2 supersampling -> anti-aliased coverage
            for oy in (0.25, 0.75):
                dx = xs[None] + ox - cx[:, None, None]
                dy = ys[None] + oy - cy[:, None, None]
                cover += _shape_cover(shape, dx, dy, size[:, None, None] / 2)
        cover = cover[..., None] / 4
        col = np.array(COLOURS[colour], np.float32)
        region = video[:, y0:y1, x0:x1]
        video[:, y0:y1, x0:x1] = region * (1 - cover) + col * cover
        fg[:, y0:y1, x0:x1] = np.maximum(fg[:, y0:y1, x0:x1], cover[..., 0])
    return np.clip(video + 0.5, 0, 255).astype(np.uint8), fg


# ------------------------------------------------------------ the broader VAE mix (2.0 recipe)
# The VAE also carries user footage (extend, connect, loop, video-to-video), so it trains on more
# than the shape clips: procedural patterns with the statistics of test charts and natural images.
PATTERNS = ["fractal", "stripes", "checkers", "gradient", "bars", "swirl", "blurred shapes",
            "noise"]


def _bilinear(grid, ys, xs):
    """Sample a [gh, gw, C] grid at float coordinates (wrapping), bilinearly."""
    gh, gw = grid.shape[:2]
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = y0 % gh, x0 % gw
    y1, x1 = (y0 + 1) % gh, (x0 + 1) % gw
    top = grid[y0, x0] * (1 - fx) + grid[y0, x1] * fx
    bot = grid[y1, x0] * (1 - fx) + grid[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def _coords(W, H, rng, pan=True, zoom=True):
    """Per-frame sample coordinates [F, H, W] of a camera that pans and zooms a little."""
    p = np.linspace(0.0, 1.0, FRAMES, dtype=np.float32)[:, None, None]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    vx, vy = (rng.uniform(-0.4, 0.4, 2) * min(W, H)) if pan else (0.0, 0.0)
    z = 1.0 + (rng.uniform(-0.3, 0.3) if zoom else 0.0) * p
    cx, cy = W / 2, H / 2
    return (ys[None] - cy) / z + cy + vy * p, (xs[None] - cx) / z + cx + vx * p


def _random_colours(rng, n):
    return rng.uniform(0, 255, (n, 3)).astype(np.float32)


def _fractal(rng, W, H):
    ys, xs = _coords(W, H, rng)
    cell = rng.uniform(12, 40)
    # Colour varies at the coarsest scale only; finer octaves (1/f-like, as in natural images)
    # modulate brightness, which keeps this the cheapest pattern to render.
    out = _bilinear(rng.uniform(-1, 1, (64, 64, 3)).astype(np.float32), ys / cell, xs / cell)
    lum, amp, total = np.zeros(ys.shape, np.float32), 1.0, 0.0
    for _ in range(3):
        amp, cell = amp * rng.uniform(0.4, 0.65), cell / 2
        lum += amp * _bilinear(rng.uniform(-1, 1, (64, 64, 1)).astype(np.float32),
                               ys / cell, xs / cell)[..., 0]
        total += amp
    out = (out + lum[..., None]) / (1 + total)
    base, span = _random_colours(rng, 1)[0], rng.uniform(80, 250)
    return base + span * out


def _stripes(rng, W, H):
    ys, xs = _coords(W, H, rng, zoom=False)
    theta, period = rng.uniform(0, math.pi), rng.uniform(4, 24)
    phase = np.linspace(0, rng.uniform(-1, 1), FRAMES, dtype=np.float32)[:, None, None]
    s = np.sin(2 * math.pi * ((xs * math.cos(theta) + ys * math.sin(theta)) / period + phase))
    if rng.random() < 0.5:
        s = np.clip(s * rng.uniform(3, 20), -1, 1)  # hard-edged bars
    a, b = _random_colours(rng, 2)
    return a + (b - a) * ((s[..., None] + 1) / 2)


def _checkers(rng, W, H):
    ys, xs = _coords(W, H, rng)
    cell = rng.uniform(4, 16)
    c = ((np.floor(xs / cell) + np.floor(ys / cell)) % 2)[..., None]
    a, b = _random_colours(rng, 2)
    return a + (b - a) * c


def _gradient(rng, W, H):
    ys, xs = _coords(W, H, rng)
    theta = rng.uniform(0, 2 * math.pi)
    t = ((xs - W / 2) * math.cos(theta) + (ys - H / 2) * math.sin(theta)) / max(W, H) + 0.5
    if rng.random() < 0.4:  # radial
        t = np.sqrt((xs - W / 2) ** 2 + (ys - H / 2) ** 2) / max(W, H) * 1.4
    cols = _random_colours(rng, 3)
    t = np.clip(t, 0, 1)[..., None]
    return np.where(t < 0.5, cols[0] + (cols[1] - cols[0]) * 2 * t,
                    cols[1] + (cols[2] - cols[1]) * (2 * t - 1))


def _bars(rng, W, H):
    """Test-chart-like: saturated vertical bars, a band of other bars, a moving box."""
    n = int(rng.integers(5, 9))
    top = rng.choice([0.0, 16.0, 192.0, 235.0, 255.0], (n, 3)).astype(np.float32)
    low = rng.choice([0.0, 16.0, 128.0, 235.0], (n, 3)).astype(np.float32)
    xs = np.arange(W)
    split = int(H * rng.uniform(0.6, 0.8))
    frame = np.empty((H, W, 3), np.float32)
    frame[:split] = top[(xs * n) // W][None]
    frame[split:] = low[(xs * n) // W][None]
    video = np.broadcast_to(frame, (FRAMES, H, W, 3)).copy()
    bw, bh = int(rng.integers(6, W // 3)), int(rng.integers(6, H // 3))
    x0, x1 = rng.uniform(0, W - bw, 2)
    y0, y1 = rng.uniform(0, H - bh, 2)
    col = _random_colours(rng, 1)[0]
    for f, p in enumerate(np.linspace(0, 1, FRAMES)):
        x, y = int(x0 + (x1 - x0) * p), int(y0 + (y1 - y0) * p)
        video[f, y:y + bh, x:x + bw] = col
    return video


def _swirl(rng, W, H):
    """Smooth colourful bands around a centre, like a zooming fractal set's outside."""
    ys, xs = _coords(W, H, rng)
    cx, cy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H
    r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) + 1e-3
    ang = np.arctan2(ys - cy, xs - cx)
    k = rng.uniform(0.1, 0.6)
    t = np.log(r) * rng.uniform(1, 4) + ang * int(rng.integers(0, 4)) + k * \
        np.linspace(0, 6, FRAMES, dtype=np.float32)[:, None, None]
    ph = rng.uniform(0, 2 * math.pi, 3).astype(np.float32)
    return 127.5 + 120 * np.sin(t[..., None] + ph)


def _box_blur(video, radius):
    """Separable box blur over H and W (twice: close to Gaussian), edges clamped."""
    for _ in range(2):
        for axis in (1, 2):
            pad = [(0, 0)] * video.ndim
            pad[axis] = (radius, radius)
            v = np.pad(video, pad, mode="edge")
            c = np.cumsum(v, axis=axis, dtype=np.float32)
            c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
            n = video.shape[axis]
            video = (np.take(c, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis) -
                     np.take(c, np.arange(0, n), axis=axis)) / (2 * radius + 1)
    return video


def render_pattern(kind, aspect, rng):
    """One pattern clip. Returns (frames uint8 [F,H,W,3], weight map float32 [F,H,W]): the weight
    map plays the role of render()'s foreground coverage in the loss, and is the local contrast
    (normalised gradient magnitude), so edges and texture count more than flat areas."""
    W, H = SIZES[aspect]
    if kind == "blurred shapes":
        frames, _ = render(sample_spec(rng), aspect, rng)
        video = _box_blur(frames.astype(np.float32), int(rng.integers(1, 3)))
    elif kind == "noise":  # another pattern under visible sensor-like grain
        base = PATTERNS[int(rng.integers(0, 6))]
        video = render_pattern(base, aspect, rng)[0].astype(np.float32)
        video = video + rng.normal(0, rng.uniform(4, 20), video.shape).astype(np.float32)
    else:
        video = {"fractal": _fractal, "stripes": _stripes, "checkers": _checkers,
                 "gradient": _gradient, "bars": _bars, "swirl": _swirl}[kind](rng, W, H)
    frames = np.clip(video + 0.5, 0, 255).astype(np.uint8)
    f = frames.astype(np.float32).mean(-1)
    g = np.zeros_like(f)
    g[:, :, 1:] += np.abs(np.diff(f, axis=2))
    g[:, 1:, :] += np.abs(np.diff(f, axis=1))
    return frames, np.clip(g / 64.0, 0, 1).astype(np.float32)


def render_mix(rng, aspect, pattern_share=0.4, heldout=False, kind=False):
    """A VAE training clip: a shape clip (1 - pattern_share of the time) or a pattern clip, as
    (frames, fg); with kind=True (frames, fg, is_shape), from the same draws."""
    if rng.random() < pattern_share:
        out, shape = render_pattern(PATTERNS[int(rng.integers(len(PATTERNS)))], aspect, rng), False
    else:
        out, shape = render(sample_spec(rng, heldout=heldout), aspect, rng), True
    return (*out, shape) if kind else out


def to_model(frames):
    """uint8 [F, H, W, 3] -> float32 [3, F, H, W] in [-1, 1] (the VAE's input convention)."""
    return frames.transpose(3, 0, 1, 2).astype(np.float32) / 127.5 - 1.0


def main():
    assert heldout_rule() == HELDOUT, "HELDOUT no longer matches its seeded rule"
    rng = np.random.default_rng(0)
    for _ in range(5):
        print(caption_of(sample_spec(rng)))
    print(f"{len(HELDOUT)} of {len(all_triples())} triples held out:")
    for t in HELDOUT:
        print("  ", *t)
    print("vocab", len(VOCAB), VOCAB)


if __name__ == "__main__":
    main()
