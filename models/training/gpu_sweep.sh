#!/usr/bin/env bash
# Patch-1 DiT variants trained from scratch side by side on one GPU, with the outline decoder for
# longer beside them, then judged by quick_eval.py (with each decoder). Prepared for a session
# with a GPU: smoke-tested on the CPU only, since no GPU was lent when it was written (EVAL.md, "Model
# 2.2"). Needs <in>/vae.pt (the VAE whose encoder makes the latents); writes
# <out>/<variant>.pt (EMA weights and config), <out>/outline-decoder.pt (decoder weights),
# <out>/sweep.json and <out>/logs.txt: eight files at most, what a device run brings back.
#   models/training/gpu_sweep.sh <in> <out> [train minutes] [device] [clips per aspect]
# SMOKE: models/training/gpu_sweep.sh .work/final /tmp/sweep 0.2 cpu 50
set -uo pipefail
cd "$(dirname "$0")"
IN=$1 OUT=$2 MIN=${3:-5} DEV=${4:-cuda} PER=${5:-3000}
W=/tmp/sweep-work; rm -rf "$W"; mkdir -p "$W" "$OUT"
cp "$IN/vae.pt" "$W/vae.pt"
export PYTHONUNBUFFERED=1 SKYLOOM_THREADS=${SKYLOOM_THREADS:-4}
t0=$(date +%s)
# The outline decoder (EVAL.md "The decoder weighed on shape outlines") for longer, beside the DiTs:
# the encoder stays frozen, so the latents below mean the same for both decoders.
timeout $(( ${MIN%.*} * 60 + 150 )) python3 train_decoder.py --init "$W/vae.pt" --work "$W/dec" --lookahead \
  --primed --border 3 --tdiff 2 --first-border 8 --lr 1.5e-4 --seed 13 --outline 20 \
  --steps "${DEC_STEPS:-1500}" --eval-every 250 --device "$DEV" > "$OUT/decoder.log" 2>&1 &
dec=$!
python3 latents.py --work "$W" --per-aspect "$PER" --device "$DEV" > "$OUT/latents.log" 2>&1 || { tail "$OUT/latents.log"; exit 1; }
echo "latents: $(( $(date +%s) - t0 )) s"
# name: train_dit.py arguments beyond the shared recipe (high-noise t, frame-difference loss)
declare -A V=(
  [p1-d6-b32]="--patch 1 --depth 6 --batch 32"
  [p1-d6-b64]="--patch 1 --depth 6 --batch 64 --lr 7e-4"
  [p1-d8-b64]="--patch 1 --depth 8 --batch 64"
  [p1-d6-b64-two]="--patch 1 --depth 6 --batch 64 --two-object-share 0.5"
)
pids=()
for v in "${!V[@]}"; do
  # shellcheck disable=SC2086
  python3 train_dit.py --work "$W/$v" --latents "$W/latents.npz" --device "$DEV" --t-dist high-mix \
    --motion-loss 2 --steps 100000 --max-minutes "$MIN" ${V[$v]} > "$OUT/$v.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}" "$dec"
echo "training: $(( $(date +%s) - t0 )) s"
tail -2 "$OUT/decoder.log"
if [[ -e $W/dec/vae.pt ]]; then
  cp "$W/latent_stats.json" "$W/dec/"
  python3 -c "import torch,sys; ck=torch.load(sys.argv[1],map_location='cpu'); ck['model']={k: v for k, v in ck['model'].items() if k.startswith('decoder.')}; torch.save(ck, sys.argv[2])" \
    "$W/dec/vae.pt" "$OUT/outline-decoder.pt"
fi
for v in "${!V[@]}"; do
  tail -1 "$OUT/$v.log"
  python3 -c "import torch,sys; ck=torch.load(sys.argv[1],map_location='cpu'); torch.save({k: ck[k] for k in ('ema_te','ema_dit','config','step','elapsed')}, sys.argv[2])" \
    "$W/$v/dit.pt" "$OUT/$v.pt"
done
cp "$W/latent_stats.json" "$OUT/"
qp=()
for v in "${!V[@]}"; do
  timeout 120 python3 quick_eval.py --vae "$W/vae.pt" --device "$DEV" --seeds "${SEEDS:-3}" --every "${EVERY:-1}" --out "$W/q-$v.json" "$OUT/$v.pt" > "$W/q-$v.log" 2>&1 &
  qp+=($!)
  if [[ -e $W/dec/vae.pt ]]; then
    timeout 120 python3 quick_eval.py --vae "$W/dec/vae.pt" --device "$DEV" --seeds "${SEEDS:-3}" --every "${EVERY:-1}" --out "$W/q-$v-outline.json" "$OUT/$v.pt" > "$W/q-$v-outline.log" 2>&1 &
    qp+=($!)
  fi
done
wait "${qp[@]}"
python3 - "$W" "$OUT/sweep.json" <<'EOF'
import glob, json, sys
r = {}
for p in sorted(glob.glob(sys.argv[1] + "/q-*.json")):
    tag = " outline-decoder" if p.endswith("-outline.json") else ""
    r.update({k + tag: v for k, v in json.load(open(p)).items()})
json.dump(r, open(sys.argv[2], "w"), indent=1)
for k, v in r.items():
    print(k, v["config"], "steps", "single", {a: round(b, 3) for a, b in v["single"].items()},
          "pair", round(v["pair"]["both_colours"], 3), "shapes", {a: round(b, 2) for a, b in v["single_shape_by_class"].items()})
EOF
echo "all: $(( $(date +%s) - t0 )) s"
# At most 8 files come back from a device run: the logs travel as one.
for f in "$OUT"/*.log "$W"/q-*.log; do echo "== $f"; cat "$f"; done > "$W/logs.txt"
rm -f "$OUT"/*.log; mv "$W/logs.txt" "$OUT/logs.txt"
