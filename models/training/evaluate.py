"""Stage 5: evaluate the EXPORTED package (ONNX files through onnxruntime-node, sample_onnx.mjs).

  1. guidance sweep on prompts built from TRAINING triples (a validation set), pick the best;
     the pick is written into the package manifest's defaults.guidance;
  2. held-out single-object prompts: every held-out triple x 3 aspect ratios x 3 seeds;
  3. held-out two-object prompts (both objects from held-out triples): both colours present;
  4. seen (training-triple) prompts, for comparison;
  5. extension: generate a clip, encode its last 8 frames as known head latents, generate the
     continuation, and compare the seam with ordinary neighbouring-frame differences;
  6. VAE reconstruction PSNR on held-out ground-truth videos (ONNX encoder -> decoder).
Writes eval.json, EVAL.md (text after the "<!-- notes -->" marker is kept) and contact-sheet.png.

    python3 evaluate.py
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np

import data
from analyse import Analyser, load_rgb, score

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, ".work")
EVAL = os.path.join(WORK, "eval")
PACKAGE = os.path.normpath(os.path.join(HERE, "..", "packages", "skyloom-tiny"))
REPORT = HERE
ASPECTS = list(data.SIZES)
BGS = list(data.BACKGROUNDS)
GUIDANCES = [1.5, 3.0, 4.5, 6.0]
SEEDS = 3
PROMPT_SEED = 2024  # the generator prompt_sets draws from (evaluate.py and quick_eval.py alike)
# 2.0's targets (issue 19); motion is judged by the strict judge (the lenient one is reported
# beside it with the same target, for comparison with 1.x).
TARGETS = {"vae_psnr_db": 30.0, "colour": 0.95, "motion": 0.85, "background": 1.0,
           "shape": 0.70, "both_colours": 0.80}


def job(jid, spec, aspect, seed, **extra):
    W, H = data.SIZES[aspect]
    return {"id": jid, "prompt": data.caption_of(spec), "width": W, "height": H,
            "frames": data.FRAMES, "seed": seed, **extra}


def run_jobs(name, jobs, **opts):
    path = os.path.join(EVAL, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"package": PACKAGE, "outDir": os.path.join(EVAL, "out"), "jobs": jobs, **opts}, f)
    t = time.time()
    subprocess.run(["node", os.path.join(HERE, "sample_onnx.mjs"), path], check=True)
    return (time.time() - t) / max(1, len(jobs))


def frames_of(j):
    return load_rgb(os.path.join(EVAL, "out", f"{j['id']}.rgb"), j["frames"], j["height"], j["width"])


def rate(rows, key):
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else None


def judged(an, items):
    """items: (job, spec) -> rows of per-attribute booleans plus the analysis."""
    rows = []
    for j, spec in items:
        res = an.analyse(frames_of(j))
        rows.append({**score(spec, res), "id": j["id"], "prompt": j["prompt"],
                     "aspect": f"{j['width']}x{j['height']}", "seed": j["seed"],
                     "analysis": {k: v for k, v in res.items()}})
    return rows


def summary(rows, keys):
    out = {"n": len(rows), **{k: rate(rows, k) for k in keys}, "by_aspect": {}}
    for a in ASPECTS:
        W, H = data.SIZES[a]
        sub = [r for r in rows if r["aspect"] == f"{W}x{H}"]
        out["by_aspect"][a] = {"n": len(sub), **{k: rate(sub, k) for k in keys}}
    return out


def contact_sheet(entries, path):
    """entries: (label, frames uint8 [F,H,W,3]); 4 frames per row at 2x, caption above."""
    from PIL import Image, ImageDraw  # Debian's python3-pil; only the sheet needs it (quick_eval.py does not)
    rows = []
    for label, v in entries:
        F = len(v)
        picks = [round(i * (F - 1) / 5) for i in range(6)]
        strip = np.concatenate([np.pad(v[i], ((0, 0), (0, 2), (0, 0))) for i in picks], 1)
        img = Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST)
        canvas = Image.new("RGB", (img.width, img.height + 14), (255, 255, 255))
        canvas.paste(img, (0, 14))
        ImageDraw.Draw(canvas).text((2, 1), label, fill=(0, 0, 0))
        rows.append(canvas)
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height + 4 for r in rows)), (255, 255, 255))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    sheet.save(path)


def prompt_sets(rng, quick=False, seeds=None):
    """The evaluation's prompts, drawn from rng in this order: validation (spec, aspect, seed) for
    the guidance sweep, then held-out single-object, held-out two-object and seen single-object
    ones as (job id, spec, aspect, seed). quick_eval.py judges the same three."""
    n = (lambda full, small: small) if quick else (lambda full, small: full)
    seeds = seeds or (1 if quick else SEEDS)
    val = [({"objects": [data.TRAIN_TRIPLES[rng.integers(len(data.TRAIN_TRIPLES))]],
             "background": BGS[i % 5]}, ASPECTS[i % 3], 100 + i) for i in range(n(24, 3))]
    single = [(f"single_{i}_{ai}_{s}", {"objects": [t], "background": BGS[(i + ai + s) % 5]}, a,
               1000 * i + 10 * ai + s)
              for i, t in enumerate(data.HELDOUT[:n(len(data.HELDOUT), 2)])
              for ai, a in enumerate(ASPECTS) for s in range(seeds)]
    pairs = [(f"pair_{k}", data.sample_spec(rng, heldout=True, n_objects=2), ASPECTS[k % 3], 5000 + k)
             for k in range(n(36, 3))]
    seen = [(f"seen_{k}", data.sample_spec(rng, heldout=False, n_objects=1), ASPECTS[k % 3], 7000 + k)
            for k in range(n(36, 3))]
    return val, single, pairs, seen


def main():
    global PACKAGE, GUIDANCES, SEEDS, WORK, EVAL, REPORT
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default=PACKAGE)
    ap.add_argument("--work", default=WORK, help="training folder (stats, parity.json, eval clips)")
    ap.add_argument("--report-dir", default=REPORT,
                    help="where eval.json, EVAL.md and contact-sheet.png go (smoke runs: not here)")
    ap.add_argument("--guidance", type=float,
                    help="evaluate at this guidance instead of the sweep's pick (the sweep still runs)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: a handful of clips per section (numbers meaningless)")
    args = ap.parse_args()
    PACKAGE = os.path.abspath(args.package)
    WORK, REPORT = os.path.abspath(args.work), os.path.abspath(args.report_dir)
    EVAL = os.path.join(WORK, "eval")
    n = (lambda full, small: small) if args.quick else (lambda full, small: full)
    if args.quick:
        GUIDANCES, SEEDS = [4.5], 1
    os.makedirs(os.path.join(EVAL, "out"), exist_ok=True)
    an = Analyser().calibrate()
    rng = np.random.default_rng(PROMPT_SEED)
    manifest_path = os.path.join(PACKAGE, "skyloom.json")
    manifest = json.load(open(manifest_path))
    steps = manifest["defaults"]["steps"]
    timings = {}

    # 1. Guidance sweep on training-triple prompts (validation, not the held-out test set).
    val, single_p, pair_p, seen_p = prompt_sets(rng, args.quick)
    sweep = {}
    for g in GUIDANCES:
        jobs = [job(f"sweep_g{g}_{i}", s, a, seed, guidance=g) for i, (s, a, seed) in enumerate(val)]
        timings[f"sweep_g{g}_s_per_clip"] = run_jobs(f"sweep_g{g}", jobs)
        rows = judged(an, zip(jobs, [v[0] for v in val]))
        keys = ["colour", "shape", "motion", "background"]
        sweep[g] = {k: rate(rows, k) for k in keys + ["motion_strict"]}
        sweep[g]["mean"] = float(np.mean([sweep[g][k] for k in keys]))
        print(f"guidance {g}: {sweep[g]}", flush=True)
    guidance = args.guidance or max(GUIDANCES, key=lambda g: (sweep[g]["mean"], -abs(g - 4.0)))

    # 2-4. Held-out single, held-out pairs, seen single.
    single, pairs, seen = ([(job(name, spec, a, seed), spec) for name, spec, a, seed in ps]
                           for ps in (single_p, pair_p, seen_p))
    allj = single + pairs + seen
    timings["generate_s_per_clip"] = run_jobs("main", [j for j, _ in allj], guidance=guidance)
    single_rows, pair_rows, seen_rows = (judged(an, x) for x in (single, pairs, seen))

    # 5. Extension: last 8 frames of a generated clip become the known head of the next clip.
    ext = []
    movers = [t for t in data.HELDOUT if t[2] != "standing still"]
    for k in range(n(12, 2)):
        spec = {"objects": [movers[k % len(movers)]], "background": BGS[k % 5]}
        a = ASPECTS[k % 3]
        first = job(f"ext_a_{k}", spec, a, 9000 + k)
        path_a = os.path.join(EVAL, "out", f"{first['id']}.rgb")
        second = job(f"ext_b_{k}", spec, a, 9500 + k,
                     known={"file": path_a, "start": 8, "frames": 8, "position": "head"})
        ext.append((first, second, spec))
    timings["extension_s_per_clip"] = run_jobs(
        "extension", [j for f, s, _ in ext for j in (f, s)], guidance=guidance)
    ext_rows = []
    for first, second, spec in ext:
        A = frames_of(first).astype(np.float32)
        B = frames_of(second).astype(np.float32)
        neighbour = float(np.mean([np.abs(A[i + 1] - A[i]).mean() for i in range(15)]
                                  + [np.abs(B[i + 1] - B[i]).mean() for i in range(8, 15)]))
        seam = float(np.abs(B[8] - A[15]).mean())
        known_err = float(np.abs(B[:8] - A[8:]).mean())
        joined = np.concatenate([A, B[8:]]).astype(np.uint8)
        res = an.analyse(B.astype(np.uint8))
        ext_rows.append({"id": second["id"], "prompt": second["prompt"], "seam": seam,
                         "neighbour": neighbour, "seam_ratio": seam / max(neighbour, 1e-6),
                         "known_frames_mae": known_err,
                         "continuation_motion_ok": res["motion"] == spec["objects"][0][2],
                         "continuation_colour_ok": res["colour"] == spec["objects"][0][0],
                         "_joined": joined})

    # 6. VAE reconstruction PSNR on held-out ground truth.
    recon, gts = [], []
    for k in range(n(36, 3)):
        a = ASPECTS[k % 3]
        spec = data.sample_spec(rng, heldout=True)
        v, _ = data.render(spec, a, rng)
        W, H = data.SIZES[a]
        p = os.path.join(EVAL, "out", f"gt_{k}.rgb")
        v.tofile(p)
        recon.append({"id": f"recon_{k}", "reconstruct": p, "width": W, "height": H,
                      "frames": data.FRAMES})
        gts.append((v, spec))
    timings["vae_roundtrip_s_per_clip"] = run_jobs("recon", recon)
    psnrs, recon_rows = [], []
    for j, (v, spec) in zip(recon, gts):
        r = frames_of(j)
        mse = np.mean((r.astype(np.float32) - v.astype(np.float32)) ** 2)
        psnrs.append(10 * np.log10(255.0 ** 2 / max(mse, 1e-9)))
        recon_rows.append({**score(spec, an.analyse(r)), "aspect": f"{j['width']}x{j['height']}"})

    single_keys = ["colour", "shape", "motion", "motion_strict", "background"]
    result = {
        "package": os.path.relpath(PACKAGE, os.path.join(HERE, "..", "..")),
        "sampler": {"steps": steps, "guidance": guidance, "guidance_from": "--guidance" if args.guidance else "sweep",
                    "shift": manifest["scheduler"]["shift"],
                    "noise": "mulberry32(seed) + Box-Muller", "runtime": "onnxruntime-node (CPU)"},
        "guidance_sweep_on_training_triples": {str(g): v for g, v in sweep.items()},
        "heldout_single": summary(single_rows, single_keys),
        "heldout_two_objects": summary(pair_rows, ["both_colours", "background"]),
        "seen_single": summary(seen_rows, single_keys),
        "extension": {
            "n": len(ext_rows),
            "seam_mean_abs_diff": float(np.mean([r["seam"] for r in ext_rows])),
            "neighbour_mean_abs_diff": float(np.mean([r["neighbour"] for r in ext_rows])),
            "seam_ratio_mean": float(np.mean([r["seam_ratio"] for r in ext_rows])),
            "known_frames_mae": float(np.mean([r["known_frames_mae"] for r in ext_rows])),
            "continuation_motion": rate(ext_rows, "continuation_motion_ok"),
            "continuation_colour": rate(ext_rows, "continuation_colour_ok"),
        },
        "vae_reconstruction_heldout": {
            "n": len(psnrs), "psnr_db_mean": float(np.mean(psnrs)),
            "psnr_db_min": float(np.min(psnrs)),
            "analyser_on_reconstructions": {k: rate(recon_rows, k)
                                            for k in single_keys + ["both_colours"]}},
        "targets": TARGETS,
        "timings": timings,
        "training": {s: stage_stats(os.path.join(WORK, f)) for s, f in TRAINING_STAGES
                     if os.path.exists(os.path.join(WORK, f))},
        "failures_heldout_single": [{k: r[k] for k in ("prompt", "aspect", "seed")}
                                    | {"got": {k: r["analysis"].get(k) for k in
                                               ("colour", "shape", "motion", "motion_strict",
                                                "motion_step_ratio", "background")}}
                                    for r in single_rows
                                    if not all(r[k] for k in single_keys)],
        "failures_heldout_two_objects": [{k: r[k] for k in ("prompt", "aspect", "seed")}
                                         | {"got": {k: r["analysis"].get(k) for k in
                                                    ("colours_present", "colour", "background")}}
                                         for r in pair_rows if not r["both_colours"]],
    }
    for k in ("previewFactors", "previewBias"):
        result["training"].get("latents", {}).pop(k, None)
    if os.path.exists(os.path.join(WORK, "parity.json")):
        par = json.load(open(os.path.join(WORK, "parity.json")))
        result["parity"] = {"ok": par["ok"], "max_abs_diff": max(r["maxAbsDiff"] for r in par["results"])}
    with open(os.path.join(REPORT, "eval.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    # Record the chosen guidance as the package default (skyloom.json is not in its own hash list).
    manifest["defaults"]["guidance"] = guidance
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    os.replace(manifest_path + ".tmp", manifest_path)

    # Contact sheet: held-out singles (one per aspect and a few more), pairs, an extension.
    picks = [single_rows[i] for i in range(0, len(single_rows), max(1, len(single_rows) // 9))][:9]
    entries = [(f"{r['prompt']} [{r['aspect']}]", frames_of(next(j for j, _ in single if j["id"] == r["id"])))
               for r in picks]
    entries += [(f"{j['prompt']} [{j['width']}x{j['height']}]", frames_of(j)) for j, _ in pairs[:3]]
    entries += [(f"EXTENDED to 24 frames: {r['prompt']}", r["_joined"]) for r in ext_rows[:3]]
    contact_sheet(entries, os.path.join(REPORT, "contact-sheet.png"))
    write_report(result)
    print(json.dumps({k: result[k] for k in ("heldout_single", "heldout_two_objects", "extension",
                                             "vae_reconstruction_heldout")}, indent=1))


# The stages run_all.sh leaves statistics for, in its order, and where.
TRAINING_STAGES = (("vae", "vae_stats.json"), ("decoder-lookahead", "decoder-lookahead/decoder_stats.json"),
                   ("decoder-primed", "decoder-primed/decoder_stats.json"),
                   ("decoder-first", "decoder-first/decoder_stats.json"),
                   ("decoder-long", "decoder-long/decoder_stats.json"),
                   ("decoder-outline", "decoder-outline/decoder_stats.json"), ("latents", "latent_stats.json"),
                   ("dit", "dit-phase1/dit_stats.json"), ("dit-restart", "dit_stats.json"),
                   ("dit-phase3", "dit-phase3/dit_stats.json"), ("dit-p1", "dit-p1/dit_stats.json"),
                   ("dit-p1-restart", "dit-p1-restart/dit_stats.json"))


def stage_stats(path):
    """A stage's statistics; a decoder stage's (train_decoder.py: its args and seconds) in the DiT's terms."""
    st = json.load(open(path))
    if "args" in st and "steps" not in st:
        a = st["args"]
        st = {"steps": a["steps"], "seconds": st["seconds"], "s_per_step": st["seconds"] / a["steps"],
              "batch": a["batch"], "history": st.get("history")}
    return st


def pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


def write_report(r):
    hs, ht, ext, vae = (r["heldout_single"], r["heldout_two_objects"], r["extension"],
                        r["vae_reconstruction_heldout"])
    # Two decimals: a figure within 0.05 dB of the target must not read as the target.
    rows = [("VAE reconstruction PSNR (held-out)", f"{vae['psnr_db_mean']:.2f} dB", "≥ 30 dB",
             vae["psnr_db_mean"] >= TARGETS["vae_psnr_db"],
             f"{TARGETS['vae_psnr_db'] - vae['psnr_db_mean']:.2f} dB")]
    for k, name in (("colour", "colour"), ("motion_strict", "motion (strict: whole clip, smooth)"),
                    ("motion", "motion (lenient 1.x judge, for comparison)"),
                    ("background", "background"), ("shape", "shape")):
        tk = TARGETS["motion" if k.startswith("motion") else k]
        rows.append((f"held-out single-object {name}", pct(hs[k]), f"≥ {pct(tk)}",
                     hs[k] >= tk, f"{100 * (tk - hs[k]):.1f} points"))
    rows.append(("held-out two-object: both colours", pct(ht["both_colours"]),
                 f"≥ {pct(TARGETS['both_colours'])}",
                 ht["both_colours"] >= TARGETS["both_colours"],
                 f"{100 * (TARGETS['both_colours'] - ht['both_colours']):.1f} points"))
    lines = ["# skyloom-tiny evaluation", "",
             "Generated by `models/training/evaluate.py` from the **exported ONNX package** "
             "(onnxruntime-node on CPU through `sample_onnx.mjs`), judged by `analyse.py` from the "
             "frames alone. Held-out = the 23 (colour, shape, motion) triples in `data.HELDOUT`, "
             "never rendered for training.", "",
             f"Sampler: {r['sampler']['steps']} Euler steps, guidance {r['sampler']['guidance']} "
             f"({'the package default, --guidance' if r['sampler'].get('guidance_from') == '--guidance' else 'picked by the sweep below'}), "
             f"shift {r['sampler']['shift']}, noise {r['sampler']['noise']}.",
             "", "| metric | result | target | met? |", "|---|---|---|---|"]
    for name, val, tgt, ok, miss in rows:
        lines.append(f"| {name} | {val} | {tgt} | {'yes' if ok else 'no — short by ' + miss} |")
    lines += ["", f"Held-out single-object prompts: {hs['n']} clips (23 triples × 3 aspect ratios × "
              f"{SEEDS} seeds). Two-object prompts: {ht['n']} clips. Per aspect ratio:", "",
              "| aspect | n | colour | motion (strict) | motion (lenient) | background | shape |",
              "|---|---|---|---|---|---|---|"]
    for a, s in hs["by_aspect"].items():
        lines.append(f"| {a} | {s['n']} | {pct(s['colour'])} | {pct(s['motion_strict'])} | "
                     f"{pct(s['motion'])} | {pct(s['background'])} | {pct(s['shape'])} |")
    ss = r["seen_single"]
    lines += ["", f"For comparison, prompts from training triples ({ss['n']} clips): colour "
              f"{pct(ss['colour'])}, motion {pct(ss['motion_strict'])} strict / "
              f"{pct(ss['motion'])} lenient, background {pct(ss['background'])}, "
              f"shape {pct(ss['shape'])}. Two-object background: {pct(ht['background'])}.", "",
              "## Extension", "",
              f"{ext['n']} held-out prompts: a 16-frame clip is generated, its last 8 frames are "
              "encoded by the VAE encoder and passed as known head latents (2 of 4 latent frames), "
              "and the continuation is sampled. Mean abs difference (0-255) between the last known "
              f"frame and the first new frame: **{ext['seam_mean_abs_diff']:.2f}**, versus "
              f"{ext['neighbour_mean_abs_diff']:.2f} between ordinary neighbouring frames "
              f"(ratio {ext['seam_ratio_mean']:.2f}; 1.0 = seamless). Re-decoded known frames differ "
              f"from the originals by {ext['known_frames_mae']:.2f}. The continuation keeps the "
              f"prompt's motion in {pct(ext['continuation_motion'])} and colour in "
              f"{pct(ext['continuation_colour'])} of clips.", "",
              "## Guidance sweep (validation prompts from training triples, 24 clips each)", "",
              "| guidance | colour | shape | motion | background | mean |", "|---|---|---|---|---|---|"]
    for g, s in r["guidance_sweep_on_training_triples"].items():
        lines.append(f"| {g} | {pct(s['colour'])} | {pct(s['shape'])} | {pct(s['motion'])} | "
                     f"{pct(s['background'])} | {pct(s['mean'])} |")
    an = vae["analyser_on_reconstructions"]
    lines += ["", "## VAE", "",
              f"Held-out ground-truth clips through the ONNX encoder and decoder: PSNR mean "
              f"{vae['psnr_db_mean']:.2f} dB, min {vae['psnr_db_min']:.2f} dB over {vae['n']} clips. "
              f"The analyser on these reconstructions: colour {pct(an['colour'])}, shape "
              f"{pct(an['shape'])}, motion {pct(an['motion_strict'])} strict / "
              f"{pct(an['motion'])} lenient, background {pct(an['background'])}, "
              f"both colours {pct(an['both_colours'])} (an upper bound for generated clips; the "
              "analyser scores 100% on ground truth, see `python3 analyse.py`).", "",
              "## Training cost (this 2-core CPU, shared with other jobs)", "",
              "| stage | steps | batch | time | s/step |", "|---|---|---|---|---|"]
    tr = r["training"]
    for s, _ in TRAINING_STAGES:
        if s in tr and s != "latents":
            lines.append(f"| {s} | {tr[s]['steps']} | {tr[s]['batch']} | "
                         f"{tr[s]['seconds'] / 60:.1f} min | {tr[s]['s_per_step']:.2f} |")
    if "latents" in tr:
        lines.append(f"| latents (render + encode {3 * tr['latents']['per_aspect']} clips) | | | "
                     f"{tr['latents']['seconds'] / 60:.1f} min | |")
    t = r["timings"]
    lines += ["", f"Sampling on CPU (onnxruntime-node, 20 guided steps + decode): "
              f"{t['generate_s_per_clip']:.2f} s per clip on average over the three sizes.", "",
              "![contact sheet](contact-sheet.png)", "",
              "Contact sheet: 6 evenly spaced frames per clip; held-out prompts, two-object "
              "prompts, and three extended clips (16 generated + 8 continued frames).", ""]
    if "parity" in r:
        lines.append(f"ONNX parity vs PyTorch: max abs diff {r['parity']['max_abs_diff']:.1e} "
                     f"({'ok' if r['parity']['ok'] else 'FAILED'}, tolerance 1e-4).")
        lines.append("")
    path = os.path.join(REPORT, "EVAL.md")
    notes = ""
    if os.path.exists(path):
        old = open(path).read()
        if "<!-- notes -->" in old:
            notes = old[old.index("<!-- notes -->"):]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + (notes or "<!-- notes -->\n"))


if __name__ == "__main__":
    main()
