/**
 * Two small hand-written SVG charts for docs/img: throughput over time around a fault (one panel
 * per system, the fault marked), and the distribution of failover times (one row of dots per
 * system on a logarithmic axis, the median marked).
 */

const font = 'font-family="system-ui, sans-serif" font-size="12"';
const colors = ['#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const n = (x: number): string => (Math.round(x * 10) / 10).toString();

/** A "nice" step for about `count` ticks over `span`. */
function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export interface Series {
  readonly label: string;
  /** [x, y] points, x in seconds relative to the fault. */
  readonly points: readonly (readonly [number, number])[];
  /** Vertical markers (x, label) besides the fault at 0. */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
}

/** Stacked panels sharing the x axis; each panel its own y scale; a dashed line at x = 0 labelled `faultLabel`. */
export function throughputPanels(o: { title: string; xLabel: string; yLabel: string; faultLabel: string; panels: readonly Series[]; xMin: number; xMax: number }): string {
  const width = 760;
  const panelH = 150;
  const left = 70;
  const right = 20;
  const top = 40;
  const gap = 40;
  const height = top + o.panels.length * (panelH + gap) + 20;
  const plotW = width - left - right;
  const x = (v: number): number => left + ((v - o.xMin) / (o.xMax - o.xMin)) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ];
  o.panels.forEach((p, k) => {
    const y0 = top + k * (panelH + gap) + 15;
    const yMax = Math.max(1, ...p.points.map(([, v]) => v)) * 1.1;
    const step = niceStep(yMax, 4);
    const y = (v: number): number => y0 + panelH - (v / yMax) * panelH;
    const color = colors[k % colors.length]!;
    out.push(`<text x="${left}" y="${y0 - 5}" font-weight="bold">${esc(p.label)}</text>`);
    for (let v = 0; v <= yMax; v += step) {
      out.push(`<line x1="${left}" x2="${width - right}" y1="${n(y(v))}" y2="${n(y(v))}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${v.toLocaleString('en-US')}</text>`);
    }
    const xStep = niceStep(o.xMax - o.xMin, 10);
    for (let v = Math.ceil(o.xMin / xStep) * xStep; v <= o.xMax + 1e-9; v += xStep) {
      out.push(`<line x1="${n(x(v))}" x2="${n(x(v))}" y1="${y0 + panelH}" y2="${y0 + panelH + 4}" stroke="#444"/>`);
      out.push(`<text x="${n(x(v))}" y="${y0 + panelH + 16}" text-anchor="middle">${n(v)}</text>`);
    }
    out.push(`<line x1="${left}" x2="${width - right}" y1="${y0 + panelH}" y2="${y0 + panelH}" stroke="#444"/>`);
    out.push(`<line x1="${left}" x2="${left}" y1="${y0}" y2="${y0 + panelH}" stroke="#444"/>`);
    const pts = p.points.filter(([t]) => t >= o.xMin && t <= o.xMax).map(([t, v]) => `${n(x(t))},${n(y(v))}`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    out.push(`<line x1="${n(x(0))}" x2="${n(x(0))}" y1="${y0}" y2="${y0 + panelH}" stroke="#000" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${n(x(0) + 4)}" y="${y0 + 12}">${esc(o.faultLabel)}</text>`);
    (p.markers ?? []).forEach((m, j) => {
      out.push(`<line x1="${n(x(m.x))}" x2="${n(x(m.x))}" y1="${y0}" y2="${y0 + panelH}" stroke="#888" stroke-dasharray="2 2"/>`);
      out.push(`<text x="${n(x(m.x) + 4)}" y="${y0 + 26 + 13 * j}" fill="#555">${esc(m.label)}</text>`);
    });
    out.push(`<text transform="translate(16 ${y0 + panelH / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  });
  out.push(`<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One row of dots per system on a log axis (ms), with the median as a bar and its value. */
export function distributionRows(o: { title: string; xLabel: string; rows: readonly { label: string; values: readonly number[] }[] }): string {
  const width = 760;
  const rowH = 56;
  const left = 170;
  const right = 30;
  const top = 40;
  const height = top + o.rows.length * rowH + 50;
  const all = o.rows.flatMap((r) => r.values).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all, 1e9))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 10)));
  const plotW = width - left - right;
  const x = (v: number): number => left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ];
  const axisY = top + o.rows.length * rowH;
  for (let d = lo; d <= hi; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi) break;
      out.push(`<line x1="${n(x(v))}" x2="${n(x(v))}" y1="${top}" y2="${axisY}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${n(x(v))}" y="${axisY + 16}" text-anchor="middle">${v.toLocaleString('en-US')}</text>`);
    }
  }
  out.push(`<line x1="${left}" x2="${width - right}" y1="${axisY}" y2="${axisY}" stroke="#444"/>`);
  o.rows.forEach((r, k) => {
    const cy = top + k * rowH + rowH / 2;
    const color = colors[k % colors.length]!;
    out.push(`<text x="${left - 10}" y="${cy + 4}" text-anchor="end">${esc(r.label)}</text>`);
    const sorted = [...r.values].sort((a, b) => a - b);
    sorted.forEach((v, i) => {
      const jitter = ((i * 7) % 11) - 5; // deterministic spread so equal values stay visible
      out.push(`<circle cx="${n(x(v))}" cy="${n(cy + jitter * 1.6)}" r="3.5" fill="${color}" fill-opacity="0.55"/>`);
    });
    if (sorted.length > 0) {
      const m = sorted.length % 2 === 1 ? sorted[sorted.length >> 1]! : (sorted[(sorted.length >> 1) - 1]! + sorted[sorted.length >> 1]!) / 2;
      out.push(`<line x1="${n(x(m))}" x2="${n(x(m))}" y1="${cy - 16}" y2="${cy + 16}" stroke="#000" stroke-width="2"/>`);
      out.push(`<text x="${n(x(m))}" y="${cy - 19}" text-anchor="middle" font-size="11">median ${Math.round(m)} ms</text>`);
    }
  });
  out.push(`<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
