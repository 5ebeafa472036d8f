// DOM building that never parses HTML: every string becomes a text node, so names and values that come from
// data (cells, tables, columns, error messages) are shown as text, whatever they contain.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      e.addEventListener(k.slice(2), v as EventListener);
    } else if (k === "class") {
      e.className = String(v);
    } else if (v === true) {
      e.setAttribute(k, "");
    } else {
      e.setAttribute(k, String(v));
    }
  }
  append(e, ...children);
  return e;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

export function clear(e: Element): void {
  while (e.firstChild) e.removeChild(e.firstChild);
}

export function $(selector: string): HTMLElement {
  const e = document.querySelector<HTMLElement>(selector);
  if (!e) throw new Error(`no ${selector}`);
  return e;
}

/// As the shell prints them (owl's `human_bytes`, decimal units): `60.60 KB`, `10 MB`.
export function bytes(n: number): string {
  const names = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < names.length - 1) {
    v /= 1000;
    i++;
  }
  if (i === 0) return `${n} B`;
  return Math.abs(v - Math.round(v)) < 1e-9 ? `${v.toFixed(0)} ${names[i]}` : `${v.toFixed(2)} ${names[i]}`;
}

/// As the shell prints them: `$0.00005`, `$1.25`.
export function dollars(usd: number): string {
  if (usd === 0) return "$0.00";
  const s = usd.toFixed(8).replace(/0+$/, "");
  const [int, frac = ""] = s.split(".");
  return `$${int}.${frac.padEnd(2, "0")}`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}
