// Would fused multiply-add (WebAssembly relaxed SIMD, `f32x4.relaxed_madd`) speed up our conv kernels?
// Times the inner tile of packages/core/src/kernels/simd/conv2d.wat (2 output pixels × 16 output channels:
// 8 accumulators, 4 weight vectors, 2 broadcast inputs per tap) written with f32x4.mul + f32x4.add (the
// baseline, as shipped) and with relaxed_madd, on one thread, in the same process.
//
//   node bench/wasm-fma.bench.mjs [--taps 20000000] [--json bench/results/wasm-fma.json]
//
// Node 20 needs V8's --experimental-wasm-relaxed-simd, which this script sets at run time; Node 22+ and
// current browsers have relaxed SIMD by default.
import { setFlagsFromString } from 'node:v8';
import wabtInit from 'wabt';
import { jsonOutputPath, writeResultsJson } from './results-json.mjs';

setFlagsFromString('--experimental-wasm-relaxed-simd');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const taps = arg('taps', 20_000_000);

function tileWat(fma) {
  const acc = (a, s, w) =>
    fma
      ? `(local.set ${a} (f32x4.relaxed_madd (local.get ${s}) (local.get ${w}) (local.get ${a})))`
      : `(local.set ${a} (f32x4.add (local.get ${a}) (f32x4.mul (local.get ${s}) (local.get ${w}))))`;
  const ws = [0, 1, 2, 3].map((i) => `(local.set $w${i} (v128.load offset=${16 * i} (local.get $p)))`);
  const sum = (xs) =>
    xs.length === 1
      ? `(local.get ${xs[0]})`
      : `(f32x4.add ${sum(xs.slice(0, xs.length / 2))} ${sum(xs.slice(xs.length / 2))})`;
  const accs = ['$a0', '$a1', '$a2', '$a3', '$b0', '$b1', '$b2', '$b3'];
  return `(module (memory 1)
  (func (export "run") (param $n i32) (result f32)
    (local $p i32) (local $s0 v128) (local $s1 v128) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    ${accs.map((a) => `(local ${a} v128)`).join(' ')}
    (block $done (loop $tap
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $p (i32.and (i32.shl (local.get $n) (i32.const 6)) (i32.const 16383)))
      ${ws.join(' ')}
      (local.set $s0 (v128.load32_splat (local.get $p)))
      (local.set $s1 (v128.load32_splat offset=4 (local.get $p)))
      ${accs.map((a, i) => acc(a, i < 4 ? '$s0' : '$s1', `$w${i % 4}`)).join('\n      ')}
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $tap)))
    (f32x4.extract_lane 0 ${sum(accs)})))`;
}

async function gflops(fma) {
  const wabt = await wabtInit();
  const features = { simd: true, relaxed_simd: true };
  const parsed = wabt.parseWat('tile.wat', tileWat(fma), features);
  parsed.validate(features);
  const bytes = parsed.toBinary({}).buffer;
  parsed.destroy();
  if (!WebAssembly.validate(bytes)) return undefined;
  const { instance } = await WebAssembly.instantiate(bytes);
  instance.exports.run(taps / 10); // warm-up: tier-up to optimized code
  const times = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    instance.exports.run(taps);
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return (taps * 64) / times[2] / 1e9; // 2 pixels × 16 channels × (mul + add) per tap
}

const base = await gflops(false);
const fma = await gflops(true);
const rows = [
  ['f32x4.mul + f32x4.add (shipped)', Number(base.toFixed(1)), 1],
  fma === undefined
    ? ['f32x4.relaxed_madd', 'not supported by this runtime', '']
    : ['f32x4.relaxed_madd', Number(fma.toFixed(1)), Number((fma / base).toFixed(3))],
];
console.log(`conv2d inner tile (2 px × 16 ch), one thread, median of 5 × ${taps} taps`);
for (const [name, v, r] of rows)
  console.log(`  ${name.padEnd(34)} ${String(v).padStart(8)} GFLOP/s   ${r === '' ? '' : `${r}x`}`);

const out = jsonOutputPath();
if (out)
  writeResultsJson(out, {
    benchmark: 'wasm-fma',
    title: 'WebAssembly SIMD: fused multiply-add in the conv kernel tile',
    baseline: 'the same tile with f32x4.mul + f32x4.add, in the same process',
    tables: [
      {
        title: 'GFLOP/s of the conv2d inner tile (2 pixels × 16 channels), one thread',
        columns: ['arithmetic', 'GFLOP/s', 'vs mul + add'],
        rows,
        ...(fma === undefined ? {} : { plot: { label: 0, value: 1, unit: 'GFLOP/s' } }),
      },
    ],
  });
