#!/usr/bin/env bash
# The packed package: only what users need goes in, it installs into an empty folder offline with no
# warnings, and `npx skyloom generate` writes an H.264 mp4 (checked with ffprobe). Run by .ci/run
# after `npm test` (it needs `npm ci` first: the npm cache must hold every dependency).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "install-from-tarball: $*" >&2; exit 1; }

cd "$root"
echo "== npm pack (runs prepare: tsc and the editor build)"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
[ -f "$tarball" ] || fail "npm pack wrote no tarball"
tar tzf "$tarball" > "$work/contents"
echo "   $(wc -l < "$work/contents") files, $(du -h "$tarball" | cut -f1)"
for must in package/dist/bin/skyloom.js package/dist/engine/index.js package/dist/engine/index.d.ts package/editor/dist/index.html \
  package/models/packages/skyloom-tiny/skyloom.json package/workflows/text-to-video.json package/workflows/wan/text-to-video-480p.json package/workflows/workflow.schema.json package/npm-shrinkwrap.json; do
  grep -qx "$must" "$work/contents" || fail "the tarball lacks $must"
done
# The shrinkwrap (the lockfile, copied by prepack) pins the whole tree, so an offline install needs only cached tarballs.
# No tests, training code or data, benchmarks, sources, caches or work folders.
if grep -E '^package/(tests|bench|scripts|models/training|engine|nodes|server|bin|editor/src|\.work|\.skyloom|output|node_modules)/|\.py$|\.onnx\.(cache|tmp)' "$work/contents"; then
  fail "the tarball holds files users do not need (above)"
fi

echo "== install into an empty folder, offline"
app="$work/app"
mkdir "$app"
cd "$app"
tar xzf "$tarball" -C "$work" package/npm-shrinkwrap.json
# The app's lockfile is the package's shrinkwrap re-rooted under node_modules/skyloom (dev entries
# dropped): the install resolves exactly the tree CI tested and needs only the tarballs `npm ci`
# left in the npm cache, no registry. (npm reads a shrinkwrap inside a local tarball only after
# resolving its dependencies, which would need the registry.) A user's project also declares which
# install scripts may run, as Skyloom's own package.json does: onnxruntime-node's would download
# CUDA libraries; its CPU build ships inside the package.
node - "$root/package.json" "$work/package/npm-shrinkwrap.json" "$(basename "$tarball")" <<'NODE'
const fs = require('node:fs');
const [own, wrapFile, tgz] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(own, 'utf8'));
const wrap = JSON.parse(fs.readFileSync(wrapFile, 'utf8'));
const spec = `file:../${tgz}`;
const app = { name: 'skyloom-install-check', version: '1.0.0', private: true, dependencies: { skyloom: spec }, allowScripts: pkg.allowScripts };
const packages = { '': { name: app.name, version: app.version, dependencies: app.dependencies } };
const rootEntry = wrap.packages[''];
packages['node_modules/skyloom'] = {
  version: pkg.version,
  resolved: spec,
  license: pkg.license,
  dependencies: rootEntry.dependencies,
  bin: rootEntry.bin,
  engines: rootEntry.engines,
};
for (const [path, entry] of Object.entries(wrap.packages)) {
  if (path === '' || entry.dev) continue;
  const { devOptional, ...rest } = entry;
  packages[path] = devOptional ? { ...rest, optional: true } : rest;
}
fs.writeFileSync('package.json', JSON.stringify(app, null, 2));
fs.writeFileSync('package-lock.json', JSON.stringify({ name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages }, null, 2));
NODE
npm ci --offline --no-audit --no-fund > install.log 2>&1 || { cat install.log; fail "npm ci --offline failed"; }
if grep -iE 'warn|deprecated' install.log; then fail "the install printed warnings (above)"; fi
echo "   $(grep -E '^added' install.log)"

echo "== npx skyloom generate"
npx --offline skyloom generate "a red circle moving left on a black background" --out out > generate.out 2> generate.err || {
  cat generate.out generate.err
  fail "skyloom generate failed"
}
if grep -iE '^(npm )?warn' generate.err; then fail "skyloom generate printed warnings (above)"; fi
mp4="$(tail -n 1 generate.out)"
[ -f "$mp4" ] || fail "generate printed no output path (stdout: $(cat generate.out))"
ffprobe="$app/node_modules/@ffprobe-installer/linux-x64/ffprobe"
codec="$("$ffprobe" -v error -select_streams v:0 -show_entries stream=codec_name,pix_fmt,width,height -of csv=p=0 "$mp4")"
[ "$codec" = "h264,64,64,yuv420p" ] || fail "expected an H.264 64x64 yuv420p stream, ffprobe says: $codec"
echo "   $mp4: $codec"
echo "install-from-tarball: ok"
