// Parity check: run the exported ONNX graphs (onnxruntime-node, CPU) on the inputs export.py saved
// and compare with the PyTorch outputs; also checks the tokenizer against Python's ids.
// Exits 1 when any max abs diff exceeds 1e-4 or any token id differs.
//   node models/training/parity.mjs [workDir] [packageDir]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const work = process.argv[2] ?? path.join(here, '.work');
const pkg = process.argv[3] ?? path.join(here, '..', 'packages', 'skyloom-tiny');
const TOL = 1e-4;

const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'skyloom.json'), 'utf8'));
const proot = path.join(work, 'parity');
const cases = JSON.parse(fs.readFileSync(path.join(proot, 'cases.json'), 'utf8'));

function load(spec) {
  const buf = fs.readFileSync(path.join(proot, spec.file));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  if (spec.dtype === 'int64') return new ort.Tensor('int64', new BigInt64Array(ab), spec.dims);
  return new ort.Tensor('float32', new Float32Array(ab), spec.dims);
}

const sessions = {};
const results = [];
let ok = true;
for (const c of cases) {
  const comp = manifest.components[c.component];
  sessions[c.component] ??= await ort.InferenceSession.create(path.join(pkg, comp.file));
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, s]) => [k, load(s)]));
  const out = await sessions[c.component].run(feeds);
  for (const [k, s] of Object.entries(c.outputs)) {
    const want = load(s).data;
    const got = out[k].data;
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i] - got[i]));
    const pass = got.length === want.length && max <= TOL;
    ok &&= pass;
    results.push({ case: path.basename(s.file, '.bin'), dims: s.dims, maxAbsDiff: max, pass });
    console.log(`${pass ? 'ok  ' : 'FAIL'} ${s.file.padEnd(36)} dims ${JSON.stringify(s.dims).padEnd(22)} max|diff| ${max.toExponential(2)}`);
  }
}
// Tokenizer: @huggingface/tokenizers on the shipped tokenizer.json must give Python's ids.
const tj = JSON.parse(fs.readFileSync(path.join(pkg, manifest.tokenizer.file), 'utf8'));
const tok = new Tokenizer(tj, {});
for (const { text, ids } of JSON.parse(fs.readFileSync(path.join(proot, 'tokenizer.json'), 'utf8'))) {
  const got = tok.encode(text).ids;
  const pass = JSON.stringify(got) === JSON.stringify(ids);
  ok &&= pass;
  results.push({ case: `tokenizer: ${text}`, ids: got, pass, maxAbsDiff: 0 });
  console.log(`${pass ? 'ok  ' : 'FAIL'} tokenizer ${JSON.stringify(text)} -> ${JSON.stringify(got)}${pass ? '' : ` (python ${JSON.stringify(ids)})`}`);
}

fs.writeFileSync(path.join(work, 'parity.json'), JSON.stringify({ tolerance: TOL, ok, results }, null, 1));
process.exit(ok ? 0 : 1);
