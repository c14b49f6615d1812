import { Resvg } from '@resvg/resvg-js';

/** One line of a chart. */
export interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

/** A labelled vertical line at an x (epoch) value. */
export interface Mark {
  x: number;
  label: string;
}

const W = 420;
const H = 260;
const M = { l: 52, r: 12, t: 28, b: 40 };

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / n));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toPrecision(6)));
  return out;
}

function panel(title: string, series: Series[], ox: number, yLabel: string, marks: Mark[]): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) return '';
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const px = (x: number) => ox + M.l + ((x - x0) / (x1 - x0)) * (W - M.l - M.r);
  const py = (y: number) => M.t + (1 - (y - y0) / (y1 - y0)) * (H - M.t - M.b);
  const parts = [
    `<text x="${ox + W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`,
  ];
  for (const t of ticks(y0, y1))
    parts.push(
      `<line x1="${px(x0)}" x2="${px(x1)}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/><text x="${ox + M.l - 6}" y="${py(t) + 4}" text-anchor="end" font-size="11">${t}</text>`,
    );
  for (const t of ticks(x0, x1))
    parts.push(`<text x="${px(t)}" y="${H - M.b + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  parts.push(`<text x="${ox + W / 2}" y="${H - 6}" text-anchor="middle" font-size="12">epoch</text>`);
  parts.push(
    `<text transform="translate(${ox + 14},${H / 2}) rotate(-90)" text-anchor="middle" font-size="12">${yLabel}</text>`,
  );
  parts.push(
    `<rect x="${px(x0)}" y="${M.t}" width="${px(x1) - px(x0)}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>`,
  );
  for (const m of marks.filter((m) => m.x > x0 && m.x < x1)) {
    // the label goes left of a line near the right edge, where it would be cut off
    const [dx, anchor] = (m.x - x0) / (x1 - x0) > 0.85 ? [-3, 'end'] : [3, 'start'];
    parts.push(
      `<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${M.t}" y2="${H - M.b}" stroke="#777" stroke-dasharray="4 3"/><text x="${px(m.x) + dx}" y="${H - M.b - 5}" text-anchor="${anchor}" font-size="10" fill="#555">${m.label}</text>`,
    );
  }
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length)
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
    if (pts.length === 1)
      parts.push(`<circle cx="${px(pts[0]![0])}" cy="${py(pts[0]![1])}" r="3" fill="${s.color}"/>`);
    // in the top margin, right of the title, so that it never covers a line
    const lx = ox + W - M.r - 60 * (series.length - i);
    parts.push(
      `<line x1="${lx}" x2="${lx + 16}" y1="14" y2="14" stroke="${s.color}" stroke-width="2"/><text x="${lx + 20}" y="18" font-size="11">${s.label}</text>`,
    );
  });
  return parts.join('\n');
}

/**
 * Training curves as a standalone SVG: loss on the left, accuracy on the right, with `marks` (e.g. warm
 * restarts) as dashed vertical lines on both.
 */
export function curvesSvg(loss: Series[], accuracy: Series[], marks: Mark[] = []): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" viewBox="0 0 ${2 * W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel('Loss', loss, 0, 'cross-entropy', marks),
    panel('Accuracy', accuracy, W, 'top-1 (%)', marks),
    '</svg>',
  ].join('\n');
}

/** Renders an SVG to PNG bytes without a browser. */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render().asPng();
}
