// QuickSight-lite: a result with a category column and number columns as a bar or line chart (Chart.js,
// loaded the first time a chart is shown), exported as PNG or SVG.

import type { Chart as ChartType } from "chart.js";
import { h, clear } from "./dom";
import type { Cell, Column } from "./grid";

const NUMERIC = /^(tinyint|smallint|integer|bigint|double|float|real|decimal)/;

export function chartable(columns: Column[]): { category: number; values: number[] } | null {
  const values = columns.map((c, i) => (NUMERIC.test(c.Type) ? i : -1)).filter((i) => i >= 0);
  if (values.length === 0) return null;
  const category = columns.findIndex((c) => !NUMERIC.test(c.Type));
  if (category >= 0) return { category, values };
  // All numbers: the first is the category (a day, an hour, a bucket).
  return values.length > 1 ? { category: values[0], values: values.slice(1) } : null;
}

let chart: ChartType | null = null;

export async function drawChart(
  parent: HTMLElement,
  columns: Column[],
  rows: Cell[][],
  kind: "bar" | "line",
  dark: boolean,
): Promise<HTMLCanvasElement | null> {
  clear(parent);
  chart?.destroy();
  chart = null;
  const pick = chartable(columns);
  if (!pick) {
    parent.appendChild(h("p", { class: "hint" }, "A chart needs a number column (and a category column)."));
    return null;
  }
  const { Chart, registerables } = await import("chart.js");
  Chart.register(...registerables);
  const shown = rows.slice(0, 2000);
  const canvas = h("canvas", { "data-testid": "chart-canvas", role: "img", "aria-label": "chart of the result" });
  parent.appendChild(h("div", { class: "chart-box" }, canvas));
  const ink = dark ? "#d8dee9" : "#2e3440";
  chart = new Chart(canvas, {
    type: kind,
    data: {
      labels: shown.map((r) => r[pick.category] ?? "NULL"),
      datasets: pick.values.map((i) => ({
        label: columns[i].Name,
        data: shown.map((r) => (r[i] === null ? null : Number(r[i]))),
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      color: ink,
      scales: { x: { ticks: { color: ink } }, y: { ticks: { color: ink } } },
    },
  });
  if (rows.length > shown.length) {
    parent.appendChild(h("p", { class: "hint" }, `The first ${shown.length} of ${rows.length} rows.`));
  }
  return canvas;
}

const SVG = "http://www.w3.org/2000/svg";

/// The chart on screen as a vector SVG: its bars, lines, axes, ticks, grid and legend drawn from Chart.js's own
/// layout (the same pixels as the canvas), so it scales and its text stays text. Built as DOM nodes and
/// serialized, so a label from the data is escaped text, never markup. Null when no chart is shown.
export function svgOf(dark: boolean): string | null {
  const c = chart;
  if (!c) return null;
  const width = c.width;
  const height = c.height;
  const ink = dark ? "#d8dee9" : "#2e3440";
  const grid = dark ? "#3b4048" : "#e5e9ee";
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("xmlns", SVG);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("font-family", "Helvetica, Arial, sans-serif");
  svg.setAttribute("font-size", "12");
  const add = (parent: Element, tag: string, attrs: Record<string, string | number>, text?: string): Element => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  };
  const round = (v: number) => Math.round(v * 100) / 100;
  add(svg, "rect", { width, height, fill: dark ? "#1e2127" : "#ffffff" });
  const area = c.chartArea;
  const axes = add(svg, "g", { class: "axes", fill: ink });
  const label = (l: unknown) => (Array.isArray(l) ? l.join(" ") : String(l ?? ""));
  const y = c.scales.y;
  for (const t of y.ticks) {
    const p = round(y.getPixelForValue(t.value));
    add(axes, "line", { x1: area.left, x2: area.right, y1: p, y2: p, stroke: grid });
    add(axes, "text", { x: area.left - 6, y: p, "text-anchor": "end", "dominant-baseline": "middle" }, label(t.label));
  }
  const x = c.scales.x;
  for (const t of x.ticks) {
    const p = round(x.getPixelForValue(t.value));
    add(axes, "line", { x1: p, x2: p, y1: area.bottom, y2: area.bottom + 4, stroke: ink });
    add(axes, "text", { x: p, y: area.bottom + 16, "text-anchor": "middle" }, label(t.label));
  }
  add(axes, "line", { x1: area.left, x2: area.right, y1: area.bottom, y2: area.bottom, stroke: ink });
  const legend = add(svg, "g", { class: "legend", fill: ink });
  let lx = area.left;
  c.data.datasets.forEach((ds, i) => {
    const meta = c.getDatasetMeta(i);
    if (meta.hidden) return;
    const style = (meta.data[0] as unknown as { options?: Record<string, unknown> } | undefined)?.options ?? {};
    const fill = String(style.backgroundColor ?? ink);
    const stroke = String(style.borderColor ?? ink);
    const g = add(svg, "g", { class: "dataset", "data-label": String(ds.label ?? "") });
    if (meta.type === "bar") {
      for (const el of meta.data) {
        const b = el.getProps(["x", "y", "base", "width"], true) as unknown as { x: number; y: number; base: number; width: number };
        if (!Number.isFinite(b.y)) continue;
        add(g, "rect", {
          x: round(b.x - b.width / 2),
          y: round(Math.min(b.y, b.base)),
          width: round(b.width),
          height: round(Math.abs(b.base - b.y)),
          fill,
          stroke,
        });
      }
    } else {
      // A null value breaks the line, as on the canvas.
      let run: string[] = [];
      const flush = () => {
        if (run.length > 1) add(g, "polyline", { points: run.join(" "), fill: "none", stroke, "stroke-width": 2 });
        run = [];
      };
      for (const el of meta.data) {
        const pt = el.getProps(["x", "y", "skip"], true) as unknown as { x: number; y: number; skip?: boolean };
        if (pt.skip || !Number.isFinite(pt.y)) flush();
        else run.push(`${round(pt.x)},${round(pt.y)}`);
      }
      flush();
    }
    add(legend, "rect", { x: lx, y: 6, width: 28, height: 10, fill, stroke });
    const name = label(ds.label);
    add(legend, "text", { x: lx + 34, y: 15 }, name);
    lx += 34 + 7 * name.length + 16;
  });
  return new XMLSerializer().serializeToString(svg);
}
