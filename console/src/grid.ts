// The result grid: only the rows in view are in the DOM (100,000 rows scroll as smoothly as 100), a header that
// stays in view with each column's type, sorting by a column (click; again to reverse; a third time: as
// returned), NULL shown apart from the empty string, long and nested values whole in a tooltip.

import { h, clear } from "./dom";

export interface Column {
  Name: string;
  Type: string;
}

export type Cell = string | null;

const ROW_HEIGHT = 24;
const NUMERIC = /^(tinyint|smallint|integer|bigint|double|float|real|decimal)/;

export class Grid {
  readonly root: HTMLElement;
  private viewport: HTMLElement;
  private spacer: HTMLElement;
  private header: HTMLElement;
  private body: HTMLElement;
  private columns: Column[] = [];
  private rows: Cell[][] = [];
  private order: number[] = [];
  private sort: { col: number; dir: 1 | -1 } | null = null;
  private template = "";
  private drawn = "";

  constructor(parent: HTMLElement) {
    this.header = h("div", { class: "grid-header", role: "row" });
    this.body = h("div", { class: "grid-body" });
    this.spacer = h("div", { class: "grid-spacer" }, this.body);
    this.viewport = h("div", { class: "grid-viewport", tabindex: 0 }, this.header, this.spacer);
    this.root = h("div", { class: "grid", "data-testid": "grid", role: "grid" }, this.viewport);
    this.viewport.addEventListener("scroll", () => this.draw());
    new ResizeObserver(() => this.draw(true)).observe(this.viewport);
    parent.appendChild(this.root);
  }

  set(columns: Column[], rows: Cell[][]): void {
    this.columns = columns;
    this.rows = rows;
    this.sort = null;
    this.order = rows.map((_, i) => i);
    const widths = columns.map((c, i) => {
      let chars = Math.max(c.Name.length, c.Type.length + 2);
      for (let r = 0; r < Math.min(rows.length, 200); r++) {
        chars = Math.max(chars, (rows[r][i] ?? "NULL").length);
      }
      return Math.min(Math.max(chars + 2, 6), 48);
    });
    const rowNumber = Math.max(String(rows.length).length + 2, 4);
    this.template = [`${rowNumber}ch`, ...widths.map((w) => `${w}ch`)].join(" ");
    this.root.dataset.rows = String(rows.length);
    this.drawHeader();
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.viewport.scrollTop = 0;
    this.draw(true);
  }

  /// The rows in the order shown.
  shown(): Cell[][] {
    return this.order.map((i) => this.rows[i]);
  }

  private drawHeader(): void {
    clear(this.header);
    this.header.style.gridTemplateColumns = this.template;
    this.header.appendChild(h("div", { class: "rownum" }, "#"));
    this.columns.forEach((c, i) => {
      const arrow = this.sort?.col === i ? (this.sort.dir === 1 ? " ▲" : " ▼") : "";
      this.header.appendChild(
        h(
          "div",
          {
            class: "col",
            role: "columnheader",
            title: `${c.Name} (${c.Type}): click to sort`,
            "data-col": i,
            onclick: () => this.sortBy(i),
          },
          h("span", { class: "col-name" }, c.Name + arrow),
          h("span", { class: "col-type" }, c.Type),
        ),
      );
    });
  }

  private sortBy(col: number): void {
    if (this.sort?.col !== col) this.sort = { col, dir: 1 };
    else if (this.sort.dir === 1) this.sort = { col, dir: -1 };
    else this.sort = null;
    this.order = this.rows.map((_, i) => i);
    if (this.sort) {
      const { dir } = this.sort;
      const numeric = NUMERIC.test(this.columns[col].Type);
      const key = (v: Cell) => (numeric && v !== null ? Number(v) : v);
      this.order.sort((a, b) => {
        const x = key(this.rows[a][col]);
        const y = key(this.rows[b][col]);
        // NULLs last, either way, as SQL's default.
        if (x === null || y === null) return x === y ? a - b : x === null ? 1 : -1;
        const c = x < y ? -1 : x > y ? 1 : 0;
        return c === 0 ? a - b : c * dir;
      });
    }
    this.drawHeader();
    this.draw(true);
  }

  private draw(force = false): void {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 5);
    const last = Math.min(this.order.length, Math.ceil((top + height) / ROW_HEIGHT) + 5);
    const key = `${first}:${last}`;
    if (!force && key === this.drawn) return;
    this.drawn = key;
    clear(this.body);
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    for (let r = first; r < last; r++) {
      const row = this.rows[this.order[r]];
      const line = h("div", { class: "grid-row", role: "row", "data-row": r });
      line.style.gridTemplateColumns = this.template;
      line.appendChild(h("div", { class: "rownum" }, r + 1));
      row.forEach((v, c) => {
        const cell =
          v === null
            ? h("div", { class: "cell null", "data-col": c, title: "NULL" }, "NULL")
            : h("div", { class: v === "" ? "cell empty" : "cell", "data-col": c, title: v.length > 40 ? v : undefined }, v);
        line.appendChild(cell);
      });
      this.body.appendChild(line);
    }
  }
}

export function toJson(columns: Column[], rows: Cell[][]): string {
  return JSON.stringify(
    rows.map((r) => Object.fromEntries(columns.map((c, i) => [c.Name, r[i]]))),
    null,
    1,
  );
}
