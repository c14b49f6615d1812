// Writes packages/core/src/kernels/simd/winograd.wat: the Winograd F(m×m, 3×3) convolution kernels of
// @dirac/core, with the transforms written out from the matrices below (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). Each transform is a constant matrix applied to the rows and then
// the columns of a tile, 4 channels per v128; coefficients ±1 become adds and subtracts.
//
//   node scripts/gen-winograd-wat.mjs           rewrite winograd.wat (then run build-wasm-kernels.mjs)
//   node scripts/gen-winograd-wat.mjs --check   fail if it is stale (run by the tests)
import { fileURLToPath } from 'node:url';
import { writeOrCheck } from './write-generated.mjs';

const outFile = fileURLToPath(new URL('../packages/core/src/kernels/simd/winograd.wat', import.meta.url));

/** F(4×4, 3×3) with the interpolation points 0, ±1, ±2, ∞: y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A. */
const F43 = {
  m: 4,
  BT: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  G: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  AT: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

const transpose = (M) => M[0].map((_, j) => M.map((row) => row[j]));
const get = (name) => `(local.get $${name})`;
const f32 = (c) => Number(Math.fround(c).toPrecision(9));

/** Constants other than ±1 live in v128 locals, splatted once per call. */
class Constants {
  values = new Map();
  local(c) {
    const a = f32(Math.abs(c));
    if (!this.values.has(a)) this.values.set(a, `k${this.values.size}`);
    return this.values.get(a);
  }
  decls() {
    return [...this.values.values()].map((n) => `(local $${n} v128)`).join(' ');
  }
  inits() {
    return [...this.values.entries()].map(([c, n]) => `    (local.set $${n} (f32x4.splat (f32.const ${c})))`);
  }
}

/** The expression Σ_j row[j]·terms[j] (terms are WAT expressions), or null when the row is zero. */
function dot(row, terms, k) {
  const pos = [];
  const neg = [];
  row.forEach((c, j) => {
    if (c === 0) return;
    const t = Math.abs(c) === 1 ? terms[j] : `(f32x4.mul ${get(k.local(c))} ${terms[j]})`;
    (c > 0 ? pos : neg).push(t);
  });
  const sum = (ts) => ts.reduce((a, t) => `(f32x4.add ${a} ${t})`);
  if (!pos.length && !neg.length) return null;
  if (!pos.length) return `(f32x4.neg ${sum(neg)})`;
  return neg.reduce((a, t) => `(f32x4.sub ${a} ${t})`, sum(pos));
}

/** A pointer plus k strides: base + k·stride. */
function at(base, k, stride) {
  if (k === 0) return get(base);
  if (k === 1) return `(i32.add ${get(base)} ${get(stride)})`;
  return `(i32.add ${get(base)} (i32.mul (i32.const ${k}) ${get(stride)}))`;
}

/**
 * Code computing out = L·X·Rᵀ for a tile X (names x[r][c]) into locals out[i][j] through an intermediate
 * tmp[i][c] = Σ_r L[i][r]·x[r][c]. Returns the statements; locals are declared by the caller.
 */
function twoSided(L, R, x, tmp, out, k) {
  const lines = [];
  const cols = x[0].length;
  for (let i = 0; i < L.length; i++)
    for (let c = 0; c < cols; c++) {
      const e =
        dot(
          L[i],
          x.map((row) => get(row[c])),
          k,
        ) ?? '(v128.const i32x4 0 0 0 0)';
      lines.push(`    (local.set $${tmp[i][c]} ${e})`);
    }
  for (let i = 0; i < L.length; i++)
    for (let j = 0; j < R.length; j++) {
      const e = dot(R[j], tmp[i].map(get), k) ?? '(v128.const i32x4 0 0 0 0)';
      lines.push(`    (local.set $${out[i][j]} ${e})`);
    }
  return lines;
}

const names = (p, rows, cols) =>
  Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => `${p}${i}_${j}`));
const decl = (grid) =>
  grid
    .flat()
    .map((n) => `(local $${n} v128)`)
    .join(' ');

/** A loop over channel groups: `channels` channels from src, 4 per iteration, src and dst advancing 16. */
function channelLoop(localsDecl, k, body) {
  return [
    `    (local $end i32)`,
    `    ${localsDecl}`,
    `    ${k.decls()}`,
    ...k.inits(),
    `    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $channels) (i32.const 2))))`,
    `    (block $done (loop $c`,
    `    (br_if $done (i32.ge_u (local.get $src) (local.get $end)))`,
    ...body,
    `    (local.set $src (i32.add (local.get $src) (i32.const 16)))`,
    `    (local.set $dst (i32.add (local.get $dst) (i32.const 16)))`,
    `    (br $c))))`,
  ];
}

function transforms({ m, BT, G, AT }) {
  const n = m + 2;
  const A = transpose(AT);
  const GT = transpose(G);
  const out = [];

  // V = Bᵀ·d·B
  {
    const k = new Constants();
    const d = names('d', n, n);
    const t = names('t', n, n);
    const v = names('v', n, n);
    const loads = [];
    for (let r = 0; r < n; r++) {
      loads.push(`    (local.set $p ${at('src', r, 'rowStride')})`);
      for (let c = 0; c < n; c++)
        loads.push(`    (local.set $${d[r][c]} (v128.load ${at('p', c, 'pixStride')}))`);
    }
    const math = twoSided(BT, BT, d, t, v, k);
    const stores = v.flatMap((row, i) =>
      row.map((name, j) => `    (v128.store ${at('dst', i * n + j, 'xiStride')} ${get(name)})`),
    );
    out.push(
      `  ;; V = Bᵀ·d·B of one ${n}×${n} input tile, for \`channels\` channels 4 at a time: d[r][c] at src +`,
      '  ;; r·rowStride + c·pixStride, V[ξ] stored at dst + ξ·xiStride.',
      '  (func $winoIn (param $src i32) (param $dst i32) (param $channels i32) (param $pixStride i32)',
      '    (param $rowStride i32) (param $xiStride i32)',
      '    (local $p i32)',
      ...channelLoop(`${decl(d)} ${decl(t)} ${decl(v)}`, k, [...loads, ...math, ...stores]),
      '',
    );
  }

  // Y = Aᵀ·M·A, the first `rows` × `cols` of it stored
  {
    const k = new Constants();
    const mm = names('m', n, n);
    const s = names('s', m, n);
    const y = names('y', m, m);
    const loads = mm.flatMap((row, i) =>
      row.map((name, j) => `    (local.set $${name} (v128.load ${at('src', i * n + j, 'xiStride')}))`),
    );
    const math = twoSided(AT, AT, mm, s, y, k);
    // the epilogue of a fused convolution: + bias (zero without one), then the ReLU when asked
    const epilogue = [
      '    (if (local.get $bias) (then',
      '      (local.set $b (v128.load (local.get $bias)))',
      '      (local.set $bias (i32.add (local.get $bias) (i32.const 16)))))',
      ...y.flat().map((name) => `    (local.set $${name} (f32x4.add ${get(name)} (local.get $b)))`),
      '    (if (local.get $relu) (then',
      ...y
        .flat()
        .map((name) => `      (local.set $${name} (f32x4.max ${get(name)} (v128.const i32x4 0 0 0 0)))`),
      '    ))',
    ];
    const stores = y.flatMap((row, i) =>
      row.map((name, j) => {
        const store = `(v128.store (i32.add ${at('dst', i, 'rowStride')} ${j === 0 ? '(i32.const 0)' : `(i32.mul (i32.const ${j}) (local.get $pixStride))`}) ${get(name)})`;
        return `    (if (i32.and (i32.gt_s (local.get $rows) (i32.const ${i})) (i32.gt_s (local.get $cols) (i32.const ${j})))\n      (then ${store}))`;
      }),
    );
    out.push(
      `  ;; Y = Aᵀ·M·A of one tile, for \`channels\` channels 4 at a time: M[ξ] at src + ξ·xiStride; Y[i][j] stored`,
      `  ;; at dst + i·rowStride + j·pixStride for i < rows and j < cols (a tile clipped by the image edge),`,
      '  ;; plus bias[channel] when $bias is not 0 and through a ReLU when $relu.',
      '  (func $winoOut (param $src i32) (param $xiStride i32) (param $dst i32) (param $channels i32)',
      '    (param $pixStride i32) (param $rowStride i32) (param $rows i32) (param $cols i32) (param $bias i32)',
      '    (param $relu i32)',
      ...channelLoop(`(local $b v128) ${decl(mm)} ${decl(s)} ${decl(y)}`, k, [
        ...loads,
        ...math,
        ...epilogue,
        ...stores,
      ]),
      '',
    );
  }

  // U = G·g·Gᵀ over every (ci, 4 output channels) of a [3, 3, Ci, Co] filter
  {
    const k = new Constants();
    const g = names('g', 3, 3);
    const r = names('r', n, 3);
    const u = names('u', n, n);
    const loads = g.flatMap((row, i) =>
      row.map((name, j) => `        (local.set $${name} (v128.load ${at('wp', i * 3 + j, 'tap')}))`),
    );
    const math = twoSided(G, G, g, r, u, k).map((l) => `    ${l}`);
    const stores = u.flatMap((row, i) =>
      row.map((name, j) => `        (v128.store ${at('up', i * n + j, 'tap')} ${get(name)})`),
    );
    out.push(
      `  ;; U = G·g·Gᵀ of every (ci, 4 output channels) filter: w is [3, 3, Ci, Co], u is [${n * n}, Ci, Co].`,
      '  (func (export "winoFilter") (param $w i32) (param $u i32) (param $Ci i32) (param $Co i32)',
      '    (local $ci i32) (local $co i32) (local $tap i32) (local $off i32) (local $wp i32) (local $up i32)',
      `    ${decl(g)} ${decl(r)} ${decl(u)}`,
      `    ${k.decls()}`,
      ...k.inits(),
      ...filterLoop('w', 'wp', 'u', 'up', [...loads, ...math, ...stores]),
      '',
    );
  }

  // Z = A·dy·Aᵀ of an output-gradient tile (clipped rows and columns read as zeros)
  {
    const k = new Constants();
    const e = names('e', m, m);
    const z1 = names('h', n, m);
    const z = names('z', n, n);
    const loads = e.flatMap((row, i) =>
      row.map((name, j) => {
        const addr = `(i32.add ${at('src', i, 'rowStride')} ${j === 0 ? '(i32.const 0)' : `(i32.mul (i32.const ${j}) (local.get $pixStride))`})`;
        return `    (if (i32.and (i32.gt_s (local.get $rows) (i32.const ${i})) (i32.gt_s (local.get $cols) (i32.const ${j})))\n      (then (local.set $${name} (v128.load ${addr}))))`;
      }),
    );
    const math = twoSided(A, A, e, z1, z, k);
    const stores = z.flatMap((row, i) =>
      row.map((name, j) => `    (v128.store ${at('dst', i * n + j, 'xiStride')} ${get(name)})`),
    );
    out.push(
      '  ;; Z = A·dy·Aᵀ of one output-gradient tile, for `channels` channels 4 at a time: dy[i][j] at src +',
      '  ;; i·rowStride + j·pixStride for i < rows and j < cols (zero beyond: a clipped tile), Z[ξ] stored at',
      '  ;; dst + ξ·xiStride.',
      '  (func $winoDy (param $src i32) (param $dst i32) (param $channels i32) (param $pixStride i32)',
      '    (param $rowStride i32) (param $xiStride i32) (param $rows i32) (param $cols i32)',
      ...channelLoop(`${decl(e)} ${decl(z1)} ${decl(z)}`, k, [...loads, ...math, ...stores]),
      '',
    );
  }

  // dw = Gᵀ·S·G
  {
    const k = new Constants();
    const s = names('s', n, n);
    const q = names('q', 3, n);
    const w = names('w', 3, 3);
    const loads = s.flatMap((row, i) =>
      row.map((name, j) => `        (local.set $${name} (v128.load ${at('sp', i * n + j, 'tap')}))`),
    );
    const math = twoSided(GT, GT, s, q, w, k).map((l) => `    ${l}`);
    const stores = w.flatMap((row, i) =>
      row.map((name, j) => `        (v128.store ${at('wp', i * 3 + j, 'tap')} ${get(name)})`),
    );
    out.push(
      `  ;; dw = Gᵀ·S·G for every (ci, 4 output channels): s is [${n * n}, Ci, Co] (the summed products), dw is`,
      '  ;; [3, 3, Ci, Co].',
      '  (func (export "winoFilterGradOut") (param $s i32) (param $dw i32) (param $Ci i32) (param $Co i32)',
      '    (local $ci i32) (local $co i32) (local $tap i32) (local $off i32) (local $sp i32) (local $wp i32)',
      `    ${decl(s)} ${decl(q)} ${decl(w)}`,
      `    ${k.decls()}`,
      ...k.inits(),
      ...filterLoop('s', 'sp', 'dw', 'wp', [...loads, ...math, ...stores]),
      '',
    );
  }
  return out.join('\n');
}

/** Loops over ci and 4-channel groups of co, with $from/$to pointing at [ci, co] of one plane. */
function filterLoop(from, fromP, to, toP, body) {
  return [
    '    (local.set $tap (i32.shl (i32.mul (local.get $Ci) (local.get $Co)) (i32.const 2)))',
    '    (block $ciDone (loop $cis',
    '      (br_if $ciDone (i32.ge_u (local.get $ci) (local.get $Ci)))',
    '      (local.set $co (i32.const 0))',
    '      (block $coDone (loop $cos',
    '        (br_if $coDone (i32.ge_u (local.get $co) (local.get $Co)))',
    '        (local.set $off (i32.shl (i32.add (i32.mul (local.get $ci) (local.get $Co)) (local.get $co)) (i32.const 2)))',
    `        (local.set $${fromP} (i32.add (local.get $${from}) (local.get $off)))`,
    `        (local.set $${toP} (i32.add (local.get $${to}) (local.get $off)))`,
    ...body,
    '        (local.set $co (i32.add (local.get $co) (i32.const 4)))',
    '        (br $cos)))',
    '      (local.set $ci (i32.add (local.get $ci) (i32.const 1)))',
    '      (br $cis))))',
  ];
}

function loops(M, N, XI) {
  return `  ;; Zeroes \`bytes\` (a multiple of 16) at dst.
  (func $zero (param $dst i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $l))))

  ;; Copies \`bytes\` (a multiple of 16) from src to dst.
  (func $copy (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (v128.load (local.get $src)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l))))

  ;; 3×3 stride-1 convolution with padding 1 (output size = input size) by F(${M}×${M}, 3×3). u holds the
  ;; transformed filter ([${XI}, Ci, Co], from winoFilter). For each row of output tiles, the ${N} input rows
  ;; it reads are copied into $rows with a zero border (so no tile needs bounds checks), and its tiles are
  ;; transformed into $v ([${XI}, T, Ci]), each with its place in y noted in $tbl (4 i32: address, rows,
  ;; columns). Whenever T tiles (from any rows and batch items, so that small images fill a block too) are
  ;; there, \`convBlock\` multiplies them by u and writes them out, + bias[co] when $bias is not 0 and through
  ;; a ReLU when $relu (a fused convolution). Ci must be a multiple of 4 and Co of 16; the buffers are this
  ;; call's own (one set per thread).
  (func (export "convWino")
    (param $x i32) (param $u i32) (param $y i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $Ci i32) (param $Co i32)
    (param $rows i32) (param $v i32) (param $m i32) (param $tbl i32) (param $T i32) (param $bias i32)
    (param $relu i32)
    (local $n i32) (local $ty i32) (local $tx i32) (local $cnt i32) (local $oy i32) (local $ox i32)
    (local $TH i32) (local $TW i32) (local $xPix i32) (local $yPix i32) (local $padRow i32)
    (local $vXi i32) (local $entry i32)
    (local.set $TH (i32.div_u (i32.add (local.get $H) (i32.const ${M - 1})) (i32.const ${M})))
    (local.set $TW (i32.div_u (i32.add (local.get $W) (i32.const ${M - 1})) (i32.const ${M})))
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $yPix (i32.shl (local.get $Co) (i32.const 2)))
    ;; a padded input row: ${M}·TW + 2 pixels (one zero pixel left, at least one right)
    (local.set $padRow (i32.mul (i32.add (i32.mul (local.get $TW) (i32.const ${M})) (i32.const 2)) (local.get $xPix)))
    (local.set $vXi (i32.add (i32.mul (local.get $T) (local.get $xPix)) (i32.const 64)))
    (local.set $n (local.get $n0))
    (block $batchDone (loop $batch
      (br_if $batchDone (i32.ge_u (local.get $n) (local.get $n1)))
      (local.set $ty (i32.const 0))
      (block $tyDone (loop $tys
        (br_if $tyDone (i32.ge_u (local.get $ty) (local.get $TH)))
        (call $padRows (local.get $x) (local.get $rows) (local.get $n) (local.get $ty) (local.get $H)
          (local.get $W) (local.get $xPix) (local.get $padRow))
        (local.set $oy (i32.mul (local.get $ty) (i32.const ${M})))
        (local.set $tx (i32.const 0))
        (block $txDone (loop $txs
          (br_if $txDone (i32.ge_u (local.get $tx) (local.get $TW)))
          (local.set $ox (i32.mul (local.get $tx) (i32.const ${M})))
          (call $winoIn
            (i32.add (local.get $rows) (i32.mul (local.get $ox) (local.get $xPix)))
            (i32.add (local.get $v) (i32.mul (local.get $cnt) (local.get $xPix)))
            (local.get $Ci) (local.get $xPix) (local.get $padRow) (local.get $vXi))
          (local.set $entry (i32.add (local.get $tbl) (i32.shl (local.get $cnt) (i32.const 4))))
          (i32.store (local.get $entry)
            (i32.add (local.get $y) (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H))
              (local.get $oy)) (local.get $W)) (local.get $ox)) (local.get $yPix))))
          (i32.store offset=4 (local.get $entry) (call $min (i32.const ${M}) (i32.sub (local.get $H) (local.get $oy))))
          (i32.store offset=8 (local.get $entry) (call $min (i32.const ${M}) (i32.sub (local.get $W) (local.get $ox))))
          (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
          (if (i32.eq (local.get $cnt) (local.get $T)) (then
            (call $convBlock (local.get $u) (local.get $v) (local.get $m) (local.get $tbl) (local.get $cnt)
              (local.get $T) (local.get $W) (local.get $Ci) (local.get $Co) (local.get $bias) (local.get $relu))
            (local.set $cnt (i32.const 0))))
          (local.set $tx (i32.add (local.get $tx) (i32.const 1)))
          (br $txs)))
        (local.set $ty (i32.add (local.get $ty) (i32.const 1)))
        (br $tys)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $batch)))
    (if (local.get $cnt) (then
      (call $convBlock (local.get $u) (local.get $v) (local.get $m) (local.get $tbl) (local.get $cnt)
        (local.get $T) (local.get $W) (local.get $Ci) (local.get $Co) (local.get $bias) (local.get $relu)))))

  ;; The \`nt\` tiles of a block: m[ξ] = v[ξ]·u[ξ] (16 output channels and two tiles at a time), then each
  ;; tile transformed back to the place in y that $tbl notes for it.
  (func $convBlock (param $u i32) (param $v i32) (param $m i32) (param $tbl i32) (param $nt i32) (param $T i32)
    (param $W i32) (param $Ci i32) (param $Co i32) (param $bias i32) (param $relu i32)
    (local $xi i32) (local $co i32) (local $t i32) (local $xPix i32) (local $yPix i32) (local $vXi i32)
    (local $mXi i32) (local $uXi i32) (local $entry i32)
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $yPix (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $vXi (i32.add (i32.mul (local.get $T) (local.get $xPix)) (i32.const 64)))
    (local.set $mXi (i32.add (i32.mul (local.get $T) (local.get $yPix)) (i32.const 64)))
    (local.set $uXi (i32.mul (local.get $Ci) (local.get $yPix)))
    (block $xiDone (loop $xis
      (br_if $xiDone (i32.ge_u (local.get $xi) (i32.const ${XI})))
      (local.set $co (i32.const 0))
      (block $coDone (loop $cos
        (br_if $coDone (i32.ge_u (local.get $co) (local.get $Co)))
        (local.set $t (i32.const 0))
        (block $pairsDone (loop $pairs
          (br_if $pairsDone (i32.ge_u (i32.add (local.get $t) (i32.const 1)) (local.get $nt)))
          (call $mm2
            (i32.add (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vXi)))
              (i32.mul (local.get $t) (local.get $xPix)))
            (i32.add (i32.add (local.get $u) (i32.mul (local.get $xi) (local.get $uXi)))
              (i32.shl (local.get $co) (i32.const 2)))
            (i32.add (i32.add (local.get $m) (i32.mul (local.get $xi) (local.get $mXi)))
              (i32.add (i32.mul (local.get $t) (local.get $yPix)) (i32.shl (local.get $co) (i32.const 2))))
            (local.get $Ci) (local.get $xPix) (local.get $yPix))
          (local.set $t (i32.add (local.get $t) (i32.const 2)))
          (br $pairs)))
        (if (i32.lt_u (local.get $t) (local.get $nt)) (then
          (call $mm1
            (i32.add (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vXi)))
              (i32.mul (local.get $t) (local.get $xPix)))
            (i32.add (i32.add (local.get $u) (i32.mul (local.get $xi) (local.get $uXi)))
              (i32.shl (local.get $co) (i32.const 2)))
            (i32.add (i32.add (local.get $m) (i32.mul (local.get $xi) (local.get $mXi)))
              (i32.add (i32.mul (local.get $t) (local.get $yPix)) (i32.shl (local.get $co) (i32.const 2))))
            (local.get $Ci) (local.get $yPix))))
        (local.set $co (i32.add (local.get $co) (i32.const 16)))
        (br $cos)))
      (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
      (br $xis)))
    (local.set $t (i32.const 0))
    (block $outDone (loop $outs
      (br_if $outDone (i32.ge_u (local.get $t) (local.get $nt)))
      (local.set $entry (i32.add (local.get $tbl) (i32.shl (local.get $t) (i32.const 4))))
      (call $winoOut
        (i32.add (local.get $m) (i32.mul (local.get $t) (local.get $yPix)))
        (local.get $mXi) (i32.load (local.get $entry))
        (local.get $Co) (local.get $yPix) (i32.mul (local.get $W) (local.get $yPix))
        (i32.load offset=4 (local.get $entry)) (i32.load offset=8 (local.get $entry)) (local.get $bias)
        (local.get $relu))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $outs))))

  ;; The ${N} input rows ${M}·ty − 1 … ${M}·ty + ${N - 2} of batch item n that a row of tiles reads, copied to $rows (padRow
  ;; bytes each) one pixel to the right, with zeros around and outside the image.
  (func $padRows (param $x i32) (param $rows i32) (param $n i32) (param $ty i32) (param $H i32) (param $W i32)
    (param $xPix i32) (param $padRow i32)
    (local $r i32) (local $iy i32) (local $dst i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.mul (local.get $W) (local.get $xPix)))
    (block $done (loop $rs
      (br_if $done (i32.ge_u (local.get $r) (i32.const ${N})))
      (local.set $iy (i32.sub (i32.add (i32.mul (local.get $ty) (i32.const ${M})) (local.get $r)) (i32.const 1)))
      (local.set $dst (i32.add (local.get $rows) (i32.mul (local.get $r) (local.get $padRow))))
      (if (i32.and (i32.ge_s (local.get $iy) (i32.const 0)) (i32.lt_s (local.get $iy) (local.get $H)))
        (then
          (call $zero (local.get $dst) (local.get $xPix))
          (call $copy (i32.add (local.get $dst) (local.get $xPix))
            (i32.add (local.get $x)
              (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (local.get $iy)) (local.get $rowBytes)))
            (local.get $rowBytes))
          (call $zero (i32.add (i32.add (local.get $dst) (local.get $xPix)) (local.get $rowBytes))
            (i32.sub (i32.sub (local.get $padRow) (local.get $xPix)) (local.get $rowBytes))))
        (else (call $zero (local.get $dst) (local.get $padRow))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rs))))

  ;; m[0..16) and m[coStride..+16) (two tiles) = Σ_c v[c]·u[c·coStride + 0..16) with v of the second tile
  ;; at v + pix: one 16-channel block of a transformed tile pair's product with the transformed filter.
  (func $mm2 (param $v i32) (param $u i32) (param $m i32) (param $len i32) (param $pix i32) (param $coStride i32)
    (local $end i32)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128) (local $s0 v128) (local $s1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $end (i32.add (local.get $v) (i32.shl (local.get $len) (i32.const 2))))
    (block $done (loop $c
      (br_if $done (i32.ge_u (local.get $v) (local.get $end)))
      (local.set $u0 (v128.load (local.get $u)))
      (local.set $u1 (v128.load offset=16 (local.get $u)))
      (local.set $u2 (v128.load offset=32 (local.get $u)))
      (local.set $u3 (v128.load offset=48 (local.get $u)))
      (local.set $s0 (v128.load32_splat (local.get $v)))
      (local.set $s1 (v128.load32_splat (i32.add (local.get $v) (local.get $pix))))
      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (local.get $u0))))
      (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s0) (local.get $u1))))
      (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s0) (local.get $u2))))
      (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s0) (local.get $u3))))
      (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $s1) (local.get $u0))))
      (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $s1) (local.get $u1))))
      (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $s1) (local.get $u2))))
      (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $s1) (local.get $u3))))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $u (i32.add (local.get $u) (local.get $coStride)))
      (br $c)))
    (v128.store (local.get $m) (local.get $a0))
    (v128.store offset=16 (local.get $m) (local.get $a1))
    (v128.store offset=32 (local.get $m) (local.get $a2))
    (v128.store offset=48 (local.get $m) (local.get $a3))
    (local.set $m (i32.add (local.get $m) (local.get $coStride)))
    (v128.store (local.get $m) (local.get $b0))
    (v128.store offset=16 (local.get $m) (local.get $b1))
    (v128.store offset=32 (local.get $m) (local.get $b2))
    (v128.store offset=48 (local.get $m) (local.get $b3)))

  ;; m[0..16) = Σ_c v[c]·u[c·coStride + 0..16): one tile (the odd one out of mm2's pairs).
  (func $mm1 (param $v i32) (param $u i32) (param $m i32) (param $len i32) (param $coStride i32)
    (local $end i32) (local $s0 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $end (i32.add (local.get $v) (i32.shl (local.get $len) (i32.const 2))))
    (block $done (loop $c
      (br_if $done (i32.ge_u (local.get $v) (local.get $end)))
      (local.set $s0 (v128.load32_splat (local.get $v)))
      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (v128.load (local.get $u)))))
      (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s0) (v128.load offset=16 (local.get $u)))))
      (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s0) (v128.load offset=32 (local.get $u)))))
      (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s0) (v128.load offset=48 (local.get $u)))))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $u (i32.add (local.get $u) (local.get $coStride)))
      (br $c)))
    (v128.store (local.get $m) (local.get $a0))
    (v128.store offset=16 (local.get $m) (local.get $a1))
    (v128.store offset=32 (local.get $m) (local.get $a2))
    (v128.store offset=48 (local.get $m) (local.get $a3)))

  ;; s[0..16) += Σ_t v[t]·z[t][0..16) and s[sRow..+16) += Σ_t v[t][1]·z[t][0..16) over \`count\` tiles
  ;; (v: 2 input channels of a transformed input tile every vTile bytes, z: 16 channels of a transformed
  ;; output-gradient tile every zTile bytes): one (ξ, ci pair, 16 co) block of the filter gradient's sum.
  (func $acc2 (param $v i32) (param $z i32) (param $s i32) (param $count i32) (param $vTile i32)
    (param $zTile i32) (param $sRow i32)
    (local $end i32)
    (local $z0 v128) (local $z1 v128) (local $z2 v128) (local $z3 v128) (local $s0 v128) (local $s1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $a0 (v128.load (local.get $s)))
    (local.set $a1 (v128.load offset=16 (local.get $s)))
    (local.set $a2 (v128.load offset=32 (local.get $s)))
    (local.set $a3 (v128.load offset=48 (local.get $s)))
    (local.set $b0 (v128.load (i32.add (local.get $s) (local.get $sRow))))
    (local.set $b1 (v128.load offset=16 (i32.add (local.get $s) (local.get $sRow))))
    (local.set $b2 (v128.load offset=32 (i32.add (local.get $s) (local.get $sRow))))
    (local.set $b3 (v128.load offset=48 (i32.add (local.get $s) (local.get $sRow))))
    (local.set $end (i32.add (local.get $z) (i32.mul (local.get $count) (local.get $zTile))))
    (block $done (loop $t
      (br_if $done (i32.ge_u (local.get $z) (local.get $end)))
      (local.set $z0 (v128.load (local.get $z)))
      (local.set $z1 (v128.load offset=16 (local.get $z)))
      (local.set $z2 (v128.load offset=32 (local.get $z)))
      (local.set $z3 (v128.load offset=48 (local.get $z)))
      (local.set $s0 (v128.load32_splat (local.get $v)))
      (local.set $s1 (v128.load32_splat offset=4 (local.get $v)))
      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s0) (local.get $z0))))
      (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s0) (local.get $z1))))
      (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s0) (local.get $z2))))
      (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s0) (local.get $z3))))
      (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $s1) (local.get $z0))))
      (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $s1) (local.get $z1))))
      (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $s1) (local.get $z2))))
      (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $s1) (local.get $z3))))
      (local.set $v (i32.add (local.get $v) (local.get $vTile)))
      (local.set $z (i32.add (local.get $z) (local.get $zTile)))
      (br $t)))
    (v128.store (local.get $s) (local.get $a0))
    (v128.store offset=16 (local.get $s) (local.get $a1))
    (v128.store offset=32 (local.get $s) (local.get $a2))
    (v128.store offset=48 (local.get $s) (local.get $a3))
    (v128.store (i32.add (local.get $s) (local.get $sRow)) (local.get $b0))
    (v128.store offset=16 (i32.add (local.get $s) (local.get $sRow)) (local.get $b1))
    (v128.store offset=32 (i32.add (local.get $s) (local.get $sRow)) (local.get $b2))
    (v128.store offset=48 (i32.add (local.get $s) (local.get $sRow)) (local.get $b3)))

  ;; s[ξ] += Σ over the \`count\` tiles in v and z of v[ξ][t]ᵀ·z[ξ][t] (every ξ, ci pair and 16-co block).
  (func $accBlock (param $v i32) (param $z i32) (param $s i32) (param $count i32) (param $Ci i32) (param $Co i32)
    (param $vXi i32) (param $zXi i32)
    (local $xi i32) (local $co i32) (local $ci i32) (local $xPix i32) (local $yPix i32)
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $yPix (i32.shl (local.get $Co) (i32.const 2)))
    (block $xiDone (loop $xis
      (br_if $xiDone (i32.ge_u (local.get $xi) (i32.const ${XI})))
      (local.set $co (i32.const 0))
      (block $coDone (loop $cos
        (br_if $coDone (i32.ge_u (local.get $co) (local.get $Co)))
        (local.set $ci (i32.const 0))
        (block $ciDone (loop $cis
          (br_if $ciDone (i32.ge_u (local.get $ci) (local.get $Ci)))
          (call $acc2
            (i32.add (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vXi))) (i32.shl (local.get $ci) (i32.const 2)))
            (i32.add (i32.add (local.get $z) (i32.mul (local.get $xi) (local.get $zXi))) (i32.shl (local.get $co) (i32.const 2)))
            (i32.add (local.get $s) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $xi) (local.get $Ci)) (local.get $ci)) (local.get $Co))
                (local.get $co)) (i32.const 2)))
            (local.get $count) (local.get $xPix) (local.get $yPix) (local.get $yPix))
          (local.set $ci (i32.add (local.get $ci) (i32.const 2)))
          (br $cis)))
        (local.set $co (i32.add (local.get $co) (i32.const 16)))
        (br $cos)))
      (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
      (br $xis))))

  ;; The filter gradient of the same convolution: s ([${XI}, Ci, Co], zeroed by the caller, one
  ;; per thread) += Σ over the tiles of batch items [n0, n1) of (Bᵀ·x·B)ᵀ · (A·dy·Aᵀ), per ξ; the caller
  ;; sums the threads' s and turns it into dw with winoFilterGradOut. Tiles are transformed into $v
  ;; ([${XI}, TB, Ci]) and $z ([${XI}, TB, Co]) until TB of them (from any rows and batch items) are there, then
  ;; added into s. Ci must be a multiple of 4 and Co of 16.
  (func (export "filterGradWino")
    (param $x i32) (param $dy i32) (param $s i32) (param $n0 i32) (param $n1 i32)
    (param $H i32) (param $W i32) (param $Ci i32) (param $Co i32)
    (param $rows i32) (param $v i32) (param $z i32) (param $TB i32)
    (local $n i32) (local $ty i32) (local $tx i32) (local $cnt i32) (local $oy i32) (local $ox i32)
    (local $TH i32) (local $TW i32) (local $xPix i32) (local $yPix i32) (local $padRow i32)
    (local $vXi i32) (local $zXi i32)
    (local.set $TH (i32.div_u (i32.add (local.get $H) (i32.const ${M - 1})) (i32.const ${M})))
    (local.set $TW (i32.div_u (i32.add (local.get $W) (i32.const ${M - 1})) (i32.const ${M})))
    (local.set $xPix (i32.shl (local.get $Ci) (i32.const 2)))
    (local.set $yPix (i32.shl (local.get $Co) (i32.const 2)))
    (local.set $padRow (i32.mul (i32.add (i32.mul (local.get $TW) (i32.const ${M})) (i32.const 2)) (local.get $xPix)))
    (local.set $vXi (i32.add (i32.mul (local.get $TB) (local.get $xPix)) (i32.const 64)))
    (local.set $zXi (i32.add (i32.mul (local.get $TB) (local.get $yPix)) (i32.const 64)))
    (local.set $n (local.get $n0))
    (block $batchDone (loop $batch
      (br_if $batchDone (i32.ge_u (local.get $n) (local.get $n1)))
      (local.set $ty (i32.const 0))
      (block $tyDone (loop $tys
        (br_if $tyDone (i32.ge_u (local.get $ty) (local.get $TH)))
        (call $padRows (local.get $x) (local.get $rows) (local.get $n) (local.get $ty) (local.get $H)
          (local.get $W) (local.get $xPix) (local.get $padRow))
        (local.set $oy (i32.mul (local.get $ty) (i32.const ${M})))
        (local.set $tx (i32.const 0))
        (block $txDone (loop $txs
          (br_if $txDone (i32.ge_u (local.get $tx) (local.get $TW)))
          (local.set $ox (i32.mul (local.get $tx) (i32.const ${M})))
          (call $winoIn
            (i32.add (local.get $rows) (i32.mul (local.get $ox) (local.get $xPix)))
            (i32.add (local.get $v) (i32.mul (local.get $cnt) (local.get $xPix)))
            (local.get $Ci) (local.get $xPix) (local.get $padRow) (local.get $vXi))
          (call $winoDy
            (i32.add (local.get $dy) (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H))
              (local.get $oy)) (local.get $W)) (local.get $ox)) (local.get $yPix)))
            (i32.add (local.get $z) (i32.mul (local.get $cnt) (local.get $yPix)))
            (local.get $Co) (local.get $yPix) (i32.mul (local.get $W) (local.get $yPix)) (local.get $zXi)
            (call $min (i32.const ${M}) (i32.sub (local.get $H) (local.get $oy)))
            (call $min (i32.const ${M}) (i32.sub (local.get $W) (local.get $ox))))
          (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
          (if (i32.eq (local.get $cnt) (local.get $TB)) (then
            (call $accBlock (local.get $v) (local.get $z) (local.get $s) (local.get $cnt) (local.get $Ci)
              (local.get $Co) (local.get $vXi) (local.get $zXi))
            (local.set $cnt (i32.const 0))))
          (local.set $tx (i32.add (local.get $tx) (i32.const 1)))
          (br $txs)))
        (local.set $ty (i32.add (local.get $ty) (i32.const 1)))
        (br $tys)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $batch)))
    (if (local.get $cnt) (then
      (call $accBlock (local.get $v) (local.get $z) (local.get $s) (local.get $cnt) (local.get $Ci)
        (local.get $Co) (local.get $vXi) (local.get $zXi)))))
`;
}

export function winogradWat(f = F43) {
  const M = f.m;
  const N = M + 2;
  const XI = N * N;
  return `;; Winograd's F(${M}×${M}, 3×3) for 3×3 stride-1 convolutions with padding 1 (output size = input size), NHWC,
;; as WebAssembly SIMD on tfjs-backend-wasm's heap (the memory is imported). Each ${M}×${M} block of outputs
;; takes ${XI} products per (ci, co) instead of the direct convolution's ${9 * M * M}:
;;   y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A  for a ${N}×${N} input tile d and a 3×3 filter g (Lavin & Gray, 2016),
;; and the filter gradient is its transpose, dg = Σ_tiles Gᵀ·[(A·dy·Aᵀ) ⊙ (Bᵀ·d·B)]·G.
;; \`winoFilter\` transforms the filter; \`convWino\` is the convolution (forward, and the input gradient as a
;; convolution of dy with the flipped filter); \`filterGradWino\` + \`winoFilterGradOut\` the filter gradient.
;; The transforms work on 4 channels per v128, so Ci must be a multiple of 4 and Co of 16. Pointers are
;; byte offsets; each thread passes its own buffers. The ${XI} planes of a tile buffer are a cache line
;; further apart than their size, so that they do not all fall into the same few cache sets.
;;
;; Generated by scripts/gen-winograd-wat.mjs (the transforms are written out from its matrices): do not
;; edit. scripts/build-wasm-kernels.mjs compiles it (with the memory line below made \`shared\` or not)
;; into kernels/simd/wasm-binaries.generated.ts.
(module
  (import "env" "memory" (memory 1 65536 @SHARED@))

  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))

${transforms(f)}
${loops(M, N, XI)})
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeOrCheck(outFile, winogradWat(), 'node scripts/gen-winograd-wat.mjs');
}
