"""Renders the sample inputs of the shipped workflows with the training data generator
(models/training/data.py), so they are real clips of the kind the default model knows.
Run: /usr/bin/python3 workflows/assets/make_assets.py   (needs python3-numpy; writes .mp4 and .png here)
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models", "training"))
import data  # noqa: E402

FFMPEG = os.environ.get("SKYLOOM_FFMPEG", os.path.join(HERE, "..", "..", "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg"))


def clip(objects, background, name, seed):
    frames, _ = data.render({"objects": objects, "background": background}, "1:1", np.random.default_rng(seed))
    frames = np.ascontiguousarray(frames, dtype=np.uint8)  # [F, H, W, 3]
    f, h, w, _ = frames.shape
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(data.FPS),
                    "-i", "-", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                    os.path.join(HERE, name)], input=frames.tobytes(), check=True)
    return frames


a = clip([("red", "circle", "moving left")], "black", "clip.mp4", 1)
clip([("blue", "square", "moving up")], "black", "clip-b.mp4", 2)
still = clip([("yellow", "star", "standing still")], "navy", "still.mp4", 3)[0]
# A still image: the first frame of a standing yellow star, as PNG (written with ffmpeg, no PIL needed).
h, w, _ = still.shape
subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-", "-frames:v", "1",
                os.path.join(HERE, "still.png")], input=np.ascontiguousarray(still).tobytes(), check=True)
os.remove(os.path.join(HERE, "still.mp4"))
print("wrote clip.mp4, clip-b.mp4, still.png")
