#!/usr/bin/env node
// Writes the Concepts page's figures as small hand-laid-out SVGs into docs/public/figures/:
//   node docs/scripts/make-figures.mjs
// The SVGs are committed; rerun after changing this script.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'figures');
mkdirSync(out, { recursive: true });

const FONT = 'font-family="ui-sans-serif, system-ui, sans-serif"';
const svg = (w, h, body, title) =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${title}">\n<title>${title}</title>\n<rect width="${w}" height="${h}" fill="#fff"/>\n${body}\n</svg>\n`;
const text = (x, y, s, extra = '') =>
  `<text x="${x}" y="${y}" ${FONT}${extra.includes('font-size') ? '' : ' font-size="14"'}${extra.includes('fill=') ? '' : ' fill="#222"'} ${extra}>${s}</text>`;

/** The Dirac delta of a conv with 4 outputs, 3 inputs, 3×3 kernels: a grid of kernels, 1 at the centre of kernel (i, i). */
function deltaFigure() {
  const co = 4;
  const ci = 3;
  const cell = 14;
  const gap = 12;
  const k = 3;
  const x0 = 90;
  const y0 = 50;
  const parts = [];
  parts.push(text(20, 24, 'δ for a 3×3 conv, 3 input → 4 output channels', 'font-weight="600"'));
  for (let i = 0; i < ci; i++)
    parts.push(text(x0 + i * (k * cell + gap) + 4, y0 - 8, `in ${i}`, 'font-size="12"'));
  for (let o = 0; o < co; o++) {
    const y = y0 + o * (k * cell + gap);
    parts.push(text(20, y + 26, `out ${o}`, 'font-size="12"'));
    for (let i = 0; i < ci; i++) {
      const x = x0 + i * (k * cell + gap);
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < k; c++) {
          const one = o === i && r === 1 && c === 1;
          parts.push(
            `<rect x="${x + c * cell}" y="${y + r * cell}" width="${cell}" height="${cell}" fill="${one ? '#3a6ea5' : '#f2f2f2'}" stroke="#bbb"/>`,
          );
          if (one) parts.push(text(x + c * cell + 3, y + r * cell + 12, '1', 'font-size="11" fill="#fff"'));
        }
      }
    }
  }
  const yEnd = y0 + co * (k * cell + gap) + 6;
  parts.push(
    text(20, yEnd + 4, 'conv(x, δ) = x on the first min(in, out) channels, 0 on the rest', 'font-size="12"'),
  );
  return svg(460, yEnd + 16, parts.join('\n'), 'The Dirac delta kernel');
}

function box(x, y, w, h, label, fill = '#eef3f9') {
  return `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="${fill}" stroke="#3a6ea5"/>\n${text(x + w / 2, y + h / 2 + 5, label, 'text-anchor="middle"')}`;
}
function arrow(x1, y, x2) {
  return `<line x1="${x1}" y1="${y}" x2="${x2 - 6}" y2="${y}" stroke="#444" stroke-width="1.5"/><path d="M${x2 - 7},${y - 4} L${x2},${y} L${x2 - 7},${y + 4} z" fill="#444"/>`;
}

/** Training block and folded block, with the folding formulas. */
function foldFigure() {
  const p = [];
  p.push(text(20, 26, 'Training form (one block)', 'font-weight="600"'));
  p.push(text(20, 56, 'x'), arrow(34, 51, 60), box(60, 34, 70, 34, 'ReLU'), arrow(130, 51, 160));
  p.push(box(160, 34, 300, 34, 'conv(Ŵ),  Ŵ = diag(a)·δ + diag(b)·W/‖W‖'), arrow(460, 51, 490));
  p.push(box(490, 34, 120, 34, 'BN(γ, β, μ, σ²)'), arrow(610, 51, 640), text(646, 56, 'y'));
  p.push(text(20, 116, 'Folded form (deployed)', 'font-weight="600"'));
  p.push(text(20, 146, 'x'), arrow(34, 141, 60), box(60, 124, 70, 34, 'ReLU'), arrow(130, 141, 160));
  p.push(box(160, 124, 450, 34, 'conv(W′) + b′', '#eef8ee'), arrow(610, 141, 640), text(646, 146, 'y'));
  p.push(
    text(20, 196, 's = γ / √(σ² + ε)', 'font-size="15"'),
    text(220, 196, 'W′ = diag(s) · Ŵ', 'font-size="15"'),
    text(420, 196, 'b′ = β − s · μ', 'font-size="15"'),
  );
  p.push(
    text(
      20,
      224,
      'BN at inference is a per-channel affine map and the conv is linear in its weight,',
      'font-size="13"',
    ),
    text(
      20,
      242,
      'so their composition is one conv with a bias: the same function, not an approximation.',
      'font-size="13"',
    ),
  );
  return svg(670, 260, p.join('\n'), 'Folding a Dirac block');
}

/** conv(x, a·δ + b·W) = a·x + b·conv(x, W): a residual connection written as a weight. */
function residualFigure() {
  const p = [];
  p.push(text(20, 26, 'Why the delta acts like a skip connection', 'font-weight="600"'));
  p.push(
    text(
      20,
      60,
      'conv(x, diag(a)·δ + diag(b)·W̄)  =  a ⊙ x  +  b ⊙ conv(x, W̄),   W̄ = W/‖W‖',
      'font-size="15"',
    ),
  );
  p.push(box(60, 84, 120, 34, 'x'), box(300, 84, 120, 34, 'a ⊙ x', '#eef8ee'));
  p.push(box(300, 140, 120, 34, 'b ⊙ conv(x, W̄)'), box(500, 110, 60, 34, '+', '#fff'));
  p.push(
    arrow(180, 101, 300),
    `<path d="M180,101 C240,101 240,157 294,157" fill="none" stroke="#444" stroke-width="1.5"/>`,
  );
  p.push(`<path d="M294,153 L300,157 L294,161 z" fill="#444"/>`);
  p.push(arrow(420, 101, 500), arrow(420, 157, 500), arrow(560, 127, 600), text(606, 132, 'y'));
  p.push(
    text(
      20,
      206,
      'The identity path is part of the weight, so training sees a residual-like network',
      'font-size="13"',
    ),
    text(
      20,
      224,
      'while the deployed network is a plain chain of convolutions (no additions, no BN).',
      'font-size="13"',
    ),
  );
  return svg(640, 240, p.join('\n'), 'The Dirac term as a skip connection');
}

writeFileSync(join(out, 'dirac-delta.svg'), deltaFigure());
writeFileSync(join(out, 'fold.svg'), foldFigure());
writeFileSync(join(out, 'dirac-residual.svg'), residualFigure());
console.log(`wrote 3 figures to ${out}`);
