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

/// The chart as an SVG image: the rendered chart, embedded, so it opens in any SVG viewer at its size.
export function svgOf(canvas: HTMLCanvasElement): string {
  const png = canvas.toDataURL("image/png");
  const { width, height } = canvas;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<image width="${width}" height="${height}" xlink:href="${png}"/></svg>`
  );
}
