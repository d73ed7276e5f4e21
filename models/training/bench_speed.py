"""Training-step speed: Debian's torch 1.13 against pip's torch 2.x, and channels-last, bf16
autocast and torch.compile, alternated over rounds (the CPU is shared: one pass measures the load).

    python3 bench_speed.py [--rounds 3] [--pip-python /tmp/tiny2-venv/bin/python] [--out speed.json]

Each (torch build, model, variant) runs bench_step.py in its own process, in an order that is
reversed every round so slow drift in the machine's load falls on every variant alike. Prints the
median of the per-run medians and the ratio to Debian torch eager for each model, and writes all
runs to --out.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ["eager", "channels-last", "bf16", "compile"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="vae,dit")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--debian-python", default="/usr/bin/python3")
    ap.add_argument("--pip-python", default="/tmp/tiny2-venv/bin/python")
    ap.add_argument("--plan", help="instead of the full matrix: build:model:variant,... "
                    "(e.g. debian:vae:eager,pip:vae:eager)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(HERE, ".work", "speed.json"))
    args = ap.parse_args()
    builds = {"debian": args.debian_python, "pip": args.pip_python}
    builds = {k: v for k, v in builds.items() if os.path.exists(v)}
    plan = [(b, m, v) for m in args.models.split(",") for b in builds for v in args.variants.split(",")
            if not (b == "debian" and v == "compile")]  # torch 1.13 has no torch.compile
    if args.plan:
        plan = [tuple(p.split(":")) for p in args.plan.split(",")]
    runs = []
    for r in range(args.rounds):
        for b, m, v in (plan if r % 2 == 0 else plan[::-1]):
            cmd = [builds[b], os.path.join(HERE, "bench_step.py"), "--model", m, "--variant", v,
                   "--steps", str(args.steps), "--warmup", "2" if v == "compile" else "1"]
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
            line = (p.stdout.strip().splitlines() or [""])[-1]
            try:
                res = json.loads(line)
            except json.JSONDecodeError:
                res = {"error": (p.stderr.strip().splitlines() or ["no output"])[-1][:300]}
            res.update(build=b, model=m, variant=v, round=r)
            runs.append(res)
            print(json.dumps(res), flush=True)
            os.makedirs(os.path.dirname(args.out), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(runs, f, indent=1)
    print("\nmedian s/step over rounds (ratio to debian eager; < 1 is faster)")
    for m in args.models.split(","):
        ref = [x["median_s"] for x in runs if x["model"] == m and x["build"] == "debian"
               and x["variant"] == "eager" and "median_s" in x]
        ref = float(np.median(ref)) if ref else None
        for b, mm, v in plan:
            if mm != m:
                continue
            xs = [x["median_s"] for x in runs if (x["build"], x["model"], x["variant"]) == (b, m, v)
                  and "median_s" in x]
            if not xs:
                print(f"  {m:10s} {b:6s} {v:14s} failed or skipped")
                continue
            med = float(np.median(xs))
            ratio = f"{med / ref:.2f}x" if ref else "n/a"
            print(f"  {m:10s} {b:6s} {v:14s} {med:6.2f} s  ({ratio})  runs: "
                  + " ".join(f"{x:.2f}" for x in xs))


if __name__ == "__main__":
    sys.exit(main())
