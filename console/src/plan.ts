// EXPLAIN ANALYZE as a readable tree: each operator a node (open or folded) with its rows and time, its
// arguments and every metric in a table; above it, what each scan read and skipped (partitions, files, row
// groups), which is why the query cost what it did.

import { h } from "./dom";

interface PlanNode {
  name: string;
  args: string;
  metrics: Array<[string, string]>;
  children: PlanNode[];
}

/// The text inside `[...]` that starts at `open` (the index of `[`), brackets nested.
function bracketed(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "[") depth++;
    else if (text[i] === "]" && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

/// Split at `, ` outside brackets and braces.
function topLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[" || c === "{" || c === "(") depth++;
    else if (c === "]" || c === "}" || c === ")") depth--;
    else if (c === "," && depth === 0 && text[i + 1] === " ") {
      out.push(text.slice(start, i));
      start = i + 2;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function parseLine(line: string): PlanNode {
  const body = line.trim();
  const colon = body.indexOf(":");
  const name = colon < 0 ? body : body.slice(0, colon);
  let rest = colon < 0 ? "" : body.slice(colon + 1).trim();
  let metrics: Array<[string, string]> = [];
  const at = rest.lastIndexOf("metrics=[");
  if (at >= 0) {
    const inner = bracketed(rest, at + "metrics=".length);
    metrics = topLevel(inner).map((m) => {
      const eq = m.indexOf("=");
      return eq < 0 ? [m, ""] : [m.slice(0, eq), m.slice(eq + 1)];
    });
    rest = rest.slice(0, at).replace(/,\s*$/, "");
  }
  return { name, args: rest, metrics, children: [] };
}

/// The operators of a plan's text, by their indentation.
export function parsePlan(text: string): PlanNode[] {
  const roots: PlanNode[] = [];
  const stack: Array<[number, PlanNode]> = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    const node = parseLine(line);
    while (stack.length && stack[stack.length - 1][0] >= indent) stack.pop();
    if (stack.length) stack[stack.length - 1][1].children.push(node);
    else roots.push(node);
    stack.push([indent, node]);
  }
  return roots;
}

const metric = (n: PlanNode, k: string) => n.metrics.find(([m]) => m === k)?.[1];

function nodeView(n: PlanNode, depth: number): HTMLElement {
  const rows = metric(n, "output_rows");
  const time = metric(n, "elapsed_compute");
  const details = h(
    "details",
    { class: "plan-node", open: depth < 8, "data-operator": n.name },
    h(
      "summary",
      {},
      h("span", { class: "op" }, n.name),
      rows !== undefined ? h("span", { class: "chip" }, `${rows} rows`) : null,
      time !== undefined ? h("span", { class: "chip" }, time) : null,
    ),
  );
  if (n.args) details.appendChild(h("div", { class: "plan-args", title: n.args }, n.args.length > 400 ? `${n.args.slice(0, 400)}…` : n.args));
  if (n.metrics.length) {
    const t = h("table", { class: "plan-metrics" });
    for (const [k, v] of n.metrics) t.appendChild(h("tr", {}, h("td", {}, k), h("td", {}, v)));
    details.appendChild(h("details", { class: "plan-more" }, h("summary", {}, `${n.metrics.length} metrics`), t));
  }
  for (const c of n.children) details.appendChild(nodeView(c, depth + 1));
  return details;
}

function scans(nodes: PlanNode[], out: PlanNode[] = []): PlanNode[] {
  for (const n of nodes) {
    if (/DataSourceExec|ParquetExec|CsvExec|JsonExec|AvroExec|Scan/.test(n.name)) out.push(n);
    scans(n.children, out);
  }
  return out;
}

/// "2 total → 1 matched" as [total, matched].
function pruned(v: string | undefined): [number, number] | null {
  const m = v && /(\d+) total → (\d+) matched/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/// The plan's sections (`Plan with Metrics`, owl's `owl_partitions`, ...) as a tree and a summary of the scans.
export function planView(sections: Array<[string, string]>): HTMLElement {
  const box = h("div", { class: "plan-view" });
  const why = h("ul", { class: "why", "data-testid": "why" });
  box.appendChild(h("h3", {}, "Why it cost that"));
  box.appendChild(why);
  for (const [kind, text] of sections) {
    if (/partitions/i.test(kind)) {
      for (const line of text.split("\n").filter((l) => l.trim())) why.appendChild(h("li", { "data-kind": "partitions" }, line.trim()));
    }
  }
  for (const [kind, text] of sections) {
    if (!/plan/i.test(kind)) continue;
    const roots = parsePlan(text);
    scans(roots).forEach((s, i) => {
      const parts: string[] = [];
      const files = metric(s, "files_opened");
      const fileRanges = pruned(metric(s, "files_ranges_pruned_statistics"));
      if (files !== undefined) parts.push(`${files} file${files === "1" ? "" : "s"} opened`);
      if (fileRanges && fileRanges[0] > fileRanges[1]) parts.push(`${fileRanges[0] - fileRanges[1]} of ${fileRanges[0]} files skipped by statistics`);
      const groups = pruned(metric(s, "row_groups_pruned_statistics"));
      if (groups && groups[0] > 0) parts.push(`row groups: ${groups[1]} of ${groups[0]} read (${groups[0] - groups[1]} skipped by statistics)`);
      const pages = pruned(metric(s, "page_index_pages_pruned"));
      if (pages && pages[0] > 0) parts.push(`pages: ${pages[1]} of ${pages[0]} read`);
      const projection = /projection=\[([^\]]*)\]/.exec(s.args)?.[1];
      if (projection !== undefined) parts.push(`columns: ${projection || "none"}`);
      const rows = metric(s, "output_rows");
      if (rows !== undefined) parts.push(`${rows} rows out`);
      why.appendChild(h("li", { "data-kind": "scan" }, `scan ${i + 1} (${s.name}): ${parts.join(" · ")}`));
    });
    box.appendChild(h("h3", {}, kind));
    for (const r of roots) box.appendChild(nodeView(r, 0));
  }
  return box;
}

/// What a run read of what its tables hold, as the server keeps it with every query (`Read`).
export interface Read {
  files_planned: number;
  files_skipped: number;
  files_read: number;
  columns_read: number;
  columns_total: number;
  row_format: boolean;
  row_groups?: { read: number; total: number };
  partitions?: string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/// The read breakdown in words, one part each: files, columns, row groups, then each scan's partitions.
export function readParts(read: Read): string[] {
  const parts: string[] = [];
  let files = `${read.files_read.toLocaleString()} of ${plural(read.files_planned, "file")} read`;
  if (read.files_skipped > 0) files += ` (${read.files_skipped.toLocaleString()} skipped by statistics)`;
  parts.push(files);
  parts.push(
    read.row_format
      ? `all ${plural(read.columns_total, "column")} (a row format parses every column)`
      : `${read.columns_read.toLocaleString()} of ${plural(read.columns_total, "column")}`,
  );
  const rg = read.row_groups;
  if (rg && rg.total > 0) {
    parts.push(`${rg.read.toLocaleString()} of ${plural(rg.total, "row group")}${rg.read < rg.total ? ` (${(rg.total - rg.read).toLocaleString()} skipped)` : ""}`);
  }
  for (const p of read.partitions ?? []) parts.push(p);
  return parts;
}

/// The breakdown, short, for a table cell (`1/8 files · 2/11 cols · 3/8 RGs`).
export function readShort(read: Read): string {
  const parts = [`${read.files_read}/${read.files_planned} files`, `${read.row_format ? read.columns_total : read.columns_read}/${read.columns_total} cols`];
  if (read.row_groups && read.row_groups.total > 0) parts.push(`${read.row_groups.read}/${read.row_groups.total} RGs`);
  return parts.join(" · ");
}
