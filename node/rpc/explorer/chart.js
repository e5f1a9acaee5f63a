// Block time (bars) and transactions per second (line) over the last blocks, as hand-written SVG.

import { svg } from "./dom.js";

const WIDE = 640;
const NARROW = 360; // a phone's width: the same text size on fewer blocks
const H = 220;
const PAD = { left: 46, right: 50, top: 24, bottom: 22 };

// A round top for an axis, and how many steps divide it into round labels.
function niceMax(v) {
  if (!(v > 0)) return [1, 5];
  const p = 10 ** Math.floor(Math.log10(v));
  for (const [m, steps] of [[1, 5], [2, 4], [2.5, 5], [5, 5], [10, 5]]) if (m * p >= v) return [m * p, steps];
  return [10 * p, 5];
}

const label = (v) => (Number.isInteger(v) ? v.toLocaleString("en-US") : String(Number(v.toPrecision(3))));

// `blocks` oldest first, each {height, time_ms, tx_count}. The first block gives only a start time.
export function points(blocks) {
  const out = [];
  for (let i = 1; i < blocks.length; i++) {
    const dt = (blocks[i].time_ms - blocks[i - 1].time_ms) / 1000;
    out.push({ height: blocks[i].height, seconds: dt, tps: dt > 0 ? blocks[i].tx_count / dt : 0 });
  }
  return out;
}

export function chart(blocks, narrow = false) {
  const W = narrow ? NARROW : WIDE;
  const pts = points(narrow ? blocks.slice(-31) : blocks);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": "block time and transactions per second over the last blocks" });
  if (pts.length === 0) {
    root.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "waiting for blocks…"));
    return root;
  }
  const [maxT, stepsT] = niceMax(Math.max(...pts.map((p) => p.seconds)));
  const [maxR] = niceMax(Math.max(...pts.map((p) => p.tps)));
  const steps = stepsT;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const step = iw / pts.length;
  const yT = (v) => PAD.top + ih - (v / maxT) * ih;
  const yR = (v) => PAD.top + ih - (v / maxR) * ih;
  // The grid follows the block-time axis; the tx/s labels sit on the same lines.
  for (let i = 0; i <= steps; i++) {
    const y = PAD.top + (ih * i) / steps;
    root.appendChild(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    root.appendChild(svg("text", { x: PAD.left - 4, y: y + 4, "text-anchor": "end", class: "axis t" },
      label(maxT * (1 - i / steps)) + "s"));
    root.appendChild(svg("text", { x: W - PAD.right + 4, y: y + 4, class: "axis r" }, label(maxR * (1 - i / steps))));
  }
  const bars = svg("g", { class: "bars" });
  pts.forEach((p, i) => {
    const y = yT(p.seconds);
    bars.appendChild(svg("rect", { x: PAD.left + i * step + 1, y, width: Math.max(1, step - 2), height: PAD.top + ih - y },
      svg("title", {}, `block ${p.height}: ${p.seconds.toFixed(3)} s, ${p.tps.toFixed(1)} tx/s`)));
  });
  root.appendChild(bars);
  const line = pts.map((p, i) => `${(PAD.left + i * step + step / 2).toFixed(1)},${yR(p.tps).toFixed(1)}`).join(" ");
  root.appendChild(svg("polyline", { points: line, class: "tps" }));
  root.appendChild(svg("text", { x: PAD.left, y: H - 6, class: "axis" }, `#${pts[0].height}`));
  root.appendChild(svg("text", { x: W - PAD.right, y: H - 6, "text-anchor": "end", class: "axis" }, `#${pts[pts.length - 1].height}`));
  root.appendChild(svg("text", { x: W / 2, y: 12, "text-anchor": "middle", class: "axis legend" }, "bars: block time (s, left) · line: tx/s (right)"));
  return root;
}
