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


def _trajectory(motion, d, W, H, rng):
    """Per-frame centre (cx, cy) and diameter for an object, plus its swept bounding box.
    Moving objects travel 1/3 of the frame along their axis; growing/shrinking doubles/halves the
    area; the whole path stays inside the frame with a 2 px margin."""
    p = np.linspace(0.0, 1.0, FRAMES)
    size = np.full(FRAMES, float(d))
    if motion == "growing":
        size = d * (1 + p * (math.sqrt(2) - 1))
    elif motion == "shrinking":
        size = d * (math.sqrt(2) - p * (math.sqrt(2) - 1))
    ext = 0.6 * size.max() + 2  # half-extent incl. the star/triangle overshoot and margin
    vx = {"moving left": -W / 3, "moving right": W / 3}.get(motion, 0.0)
    vy = {"moving up": -H / 3, "moving down": H / 3}.get(motion, 0.0)
    x0 = rng.uniform(ext + max(0, -vx), W - ext - max(0, vx))
    y0 = rng.uniform(ext + max(0, -vy), H - ext - max(0, vy))
    cx, cy = x0 + p * vx, y0 + p * vy
    box = (cx.min() - ext, cy.min() - ext, cx.max() + ext, cy.max() + ext)
    return cx, cy, size, box


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def render(spec, aspect, rng):
    """Render a spec. Returns (frames uint8 [F, H, W, 3], foreground coverage float32 [F, H, W])."""
    W, H = SIZES[aspect]
    top, bottom = (np.array(c, np.float32) for c in BACKGROUNDS[spec["background"]])
    g = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    video = np.broadcast_to(top * (1 - g) + bottom * g, (FRAMES, H, W, 3)).copy()
    fg = np.zeros((FRAMES, H, W), np.float32)
    n = len(spec["objects"])
    d = (0.30 if n == 1 else 0.24) * min(W, H)
    # Rejection-sample positions so two objects' swept paths do not overlap (keeps both visible).
    for _ in range(100):
        trajs = [_trajectory(m, d, W, H, rng) for _, _, m in spec["objects"]]
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
