// The owl console: Athena's query editor, with the bill before and after every query.

import "./style.css";
import type { EditorView } from "@codemirror/view";
import type { SQLNamespace } from "@codemirror/lang-sql";
import * as api from "./api";
import { $, bytes, clear, dollars, h, seconds } from "./dom";
// The editor (CodeMirror) loads after the page paints: the login form needs none of it.
type EditorModule = typeof import("./editor");
let ed: EditorModule;
const loadEditor = (): Promise<EditorModule> => import("./editor");
import { Grid, toJson, type Cell, type Column } from "./grid";
import { chartable, drawChart, svgOf } from "./chart";
import { planView, readParts, readShort, type Read } from "./plan";

interface Tab {
  id: string;
  title: string;
  sql: string;
}

interface Result {
  id: string;
  columns: Column[];
  rows: Cell[][];
  /// Rows of the result file (the grid gets the first million).
  total: number;
}

const store = {
  get<T>(key: string, fallback: T): T {
    try {
      const v = localStorage.getItem(`owl.${key}`);
      return v === null ? fallback : (JSON.parse(v) as T);
    } catch {
      return fallback;
    }
  },
  set(key: string, v: unknown): void {
    localStorage.setItem(`owl.${key}`, JSON.stringify(v));
  },
};

const state = {
  user: "",
  workgroup: "primary",
  database: store.get("database", "default"),
  tabs: store.get<Tab[]>("tabs", []),
  active: store.get("active", 0),
  dark: store.get("dark", window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false),
  result: null as Result | null,
  running: null as { id: string; started: number } | null,
  pane: "results" as "results" | "chart" | "history" | "saved" | "compare" | "plan",
  chartKind: "bar" as "bar" | "line",
};

let editor: EditorView;
// Completion's view of the registry, and the table the statement at the cursor reads (its columns complete
// bare).
let schemaNow: SQLNamespace = {};
let defaultTableNow: string | undefined;
// The tables of the current database, for the comparison's table list.
let tablesNow: string[] = [];
let grid: Grid;
let estimateSeq = 0;
let estimateTimer = 0;

const app = $("#app");

function newTab(sql = ""): Tab {
  const n = state.tabs.length + 1;
  return { id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`, title: `Query ${n}`, sql };
}

function saveTabs(): void {
  store.set("tabs", state.tabs);
  store.set("active", state.active);
}

function applyTheme(): void {
  document.documentElement.dataset.theme = state.dark ? "dark" : "light";
  store.set("dark", state.dark);
}

// ------------------------------------------------------------------------------------------------- login

function showLogin(message = ""): void {
  clear(app);
  const key = h("input", { id: "login-key", "data-testid": "login-key", autocomplete: "username", required: true });
  const secret = h("input", {
    id: "login-secret",
    "data-testid": "login-secret",
    type: "password",
    autocomplete: "current-password",
  });
  const error = h("p", { class: "error", "data-testid": "login-error", role: "alert" }, message);
  const form = h(
    "form",
    { class: "login", "data-testid": "login" },
    h("h1", {}, "owl console"),
    h("label", { for: "login-key" }, "Access key ID"),
    key,
    h("label", { for: "login-secret" }, "Secret access key"),
    secret,
    h("button", { type: "submit", "data-testid": "login-submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const s = await api.login(key.value.trim(), secret.value);
      api.setCsrf(s.CsrfToken);
      await boot();
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  });
  app.appendChild(form);
  key.focus();
  // Fetched while the user types.
  void loadEditor();
}

// ---------------------------------------------------------------------------------------------- the app

async function boot(): Promise<void> {
  applyTheme();
  const editorModule = loadEditor();
  const s = await api.session();
  if (!s) return showLogin();
  ed = await editorModule;
  api.setCsrf(s.CsrfToken);
  state.user = s.User;
  state.workgroup = store.get("workgroup", s.WorkGroup);
  ed.setFunctions(s.Functions ?? []);
  if (state.tabs.length === 0) state.tabs.push(newTab());
  state.active = Math.min(state.active, state.tabs.length - 1);
  showApp();
}

function showApp(): void {
  clear(app);
  const workgroups = h("select", { id: "workgroup", "data-testid": "workgroup", "aria-label": "Work group" });
  workgroups.addEventListener("change", () => {
    state.workgroup = workgroups.value;
    store.set("workgroup", state.workgroup);
    scheduleEstimate(0);
    if (state.pane === "history") void showHistory();
  });
  const databases = h("select", { id: "database", "data-testid": "database", "aria-label": "Database" });
  databases.addEventListener("change", () => {
    state.database = databases.value;
    store.set("database", state.database);
    void loadCatalog();
    scheduleEstimate(0);
  });
  const header = h(
    "header",
    {},
    h("strong", { class: "brand" }, "owl"),
    h("label", {}, "Work group ", workgroups),
    h("label", {}, "Database ", databases),
    h("span", { class: "spacer" }),
    h("button", {
      "data-testid": "theme",
      onclick: () => {
        state.dark = !state.dark;
        applyTheme();
        ed.setDark(editor, state.dark);
        if (state.pane === "chart") void showChart();
      },
    }, "Theme"),
    h("span", { class: "user", "data-testid": "user" }, state.user),
    h("button", {
      onclick: async () => {
        await api.logout();
        showLogin("Signed out.");
      },
    }, "Sign out"),
  );
  const catalog = h("nav", { class: "catalog", "data-testid": "catalog", "aria-label": "Catalog" });
  const tabs = h("div", { class: "tabs", role: "tablist", "data-testid": "tabs" });
  const editorBox = h("div", { class: "editor", "data-testid": "editor" });
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("button", { class: "primary", "data-testid": "run", title: "Run (Ctrl+Enter)", onclick: () => void run() }, "Run"),
    h("button", { "data-testid": "cancel", disabled: true, onclick: () => void cancel() }, "Cancel"),
    h("button", { "data-testid": "format", title: "Format the SQL", onclick: () => void format() }, "Format"),
    h("button", { "data-testid": "explain", title: "EXPLAIN ANALYZE the statement", onclick: () => void explain() }, "Plan"),
    h("button", { "data-testid": "save", title: "Save as a named query", onclick: () => void save() }, "Save"),
    h("input", { class: "save-name", "data-testid": "save-name", placeholder: "name to save as", "aria-label": "Name to save the query as" }),
    h("span", { class: "estimate", "data-testid": "estimate", role: "status" }),
  );
  const status = h("div", { class: "status", "data-testid": "status", role: "status" });
  const why = h("div", { class: "why-line", "data-testid": "why-line" });
  const panes = h(
    "div",
    { class: "pane-tabs", role: "tablist" },
    ...(["results", "chart", "history", "saved", "compare", "plan"] as const).map((p) =>
      h("button", { role: "tab", "data-pane": p, "data-testid": `pane-${p}`, onclick: () => void showPane(p) }, p[0].toUpperCase() + p.slice(1)),
    ),
  );
  const pane = h("section", { class: "pane", "data-testid": "pane" });
  const main = h("main", {}, tabs, editorBox, toolbar, status, why, panes, pane);
  app.appendChild(h("div", { class: "layout" }, header, h("div", { class: "body" }, catalog, main)));

  editor = ed.createEditor(
    editorBox,
    state.tabs[state.active].sql,
    {
      onRun: () => void run(),
      onChange: (text) => {
        state.tabs[state.active].sql = text;
        saveTabs();
      },
      onCursor: () => scheduleEstimate(),
    },
    state.dark,
  );
  grid = new Grid(h("div"));
  renderTabs();
  void showPane(state.pane);
  void loadWorkgroups(workgroups);
  void loadDatabases(databases);
  void loadCatalog();
  scheduleEstimate(0);
  editor.focus();
}

async function loadWorkgroups(select: HTMLSelectElement): Promise<void> {
  try {
    const r = await api.call("AmazonAthena.ListWorkGroups", {});
    const names: string[] = r.WorkGroups.map((w: any) => w.Name);
    if (!names.includes(state.workgroup)) state.workgroup = names.includes("primary") ? "primary" : names[0];
    clear(select);
    for (const n of names) select.appendChild(h("option", { value: n, selected: n === state.workgroup }, n));
  } catch (e) {
    select.appendChild(h("option", { value: state.workgroup }, state.workgroup));
    showError(e);
  }
}

async function loadDatabases(select: HTMLSelectElement): Promise<void> {
  try {
    const r = await api.call("AWSGlue.GetDatabases", {});
    const names: string[] = r.DatabaseList.map((d: any) => d.Name);
    if (!names.includes(state.database) && names.length) state.database = names.includes("default") ? "default" : names[0];
    clear(select);
    for (const n of names) select.appendChild(h("option", { value: n, selected: n === state.database }, n));
  } catch (e) {
    showError(e);
  }
}

// --------------------------------------------------------------------------------------------- tabs

function renderTabs(): void {
  const bar = $(".tabs");
  clear(bar);
  state.tabs.forEach((t, i) => {
    const tab = h(
      "button",
      {
        role: "tab",
        class: i === state.active ? "tab active" : "tab",
        "aria-selected": String(i === state.active),
        "data-testid": "tab",
        onclick: () => switchTab(i),
      },
      t.title,
    );
    const close = h("button", {
      class: "tab-close",
      "aria-label": `Close ${t.title}`,
      onclick: (ev: Event) => {
        ev.stopPropagation();
        closeTab(i);
      },
    }, "×");
    bar.appendChild(h("span", { class: "tab-wrap" }, tab, state.tabs.length > 1 ? close : null));
  });
  bar.appendChild(h("button", { class: "tab-new", "data-testid": "new-tab", "aria-label": "New query tab", onclick: () => openTab("") }, "+"));
}

function switchTab(i: number): void {
  state.active = i;
  saveTabs();
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: state.tabs[i].sql } });
  renderTabs();
  editor.focus();
}

export function openTab(sql: string): void {
  state.tabs.push(newTab(sql));
  switchTab(state.tabs.length - 1);
}

function closeTab(i: number): void {
  state.tabs.splice(i, 1);
  if (state.tabs.length === 0) state.tabs.push(newTab());
  switchTab(Math.min(state.active, state.tabs.length - 1));
}

// ------------------------------------------------------------------------------------------- catalog

async function loadCatalog(): Promise<void> {
  const nav = $(".catalog");
  try {
    const dbs: any[] = (await api.call("AWSGlue.GetDatabases", {})).DatabaseList;
    const tables = await Promise.all(
      dbs.map(async (d) => {
        const list: any[] = [];
        let token: string | undefined;
        do {
          const r = await api.call("AWSGlue.GetTables", { DatabaseName: d.Name, NextToken: token });
          list.push(...r.TableList);
          token = r.NextToken;
        } while (token);
        return list;
      }),
    );
    clear(nav);
    nav.appendChild(h("h2", {}, "Catalog"));
    const schema: Record<string, any> = {};
    dbs.forEach((d, i) => {
      const db = h("details", { class: "db", open: d.Name === state.database, "data-db": d.Name });
      db.appendChild(h("summary", {}, d.Name, h("span", { class: "count" }, ` ${tables[i].length}`)));
      const qualified: Record<string, string[]> = {};
      for (const t of tables[i]) {
        const cols: any[] = t.StorageDescriptor?.Columns ?? [];
        const keys: any[] = t.PartitionKeys ?? [];
        const names = [...cols, ...keys].map((c) => c.Name as string);
        qualified[t.Name] = names;
        if (d.Name === state.database) schema[t.Name] = names;
        const p = t.Parameters ?? {};
        const facts = [
          p.classification,
          p.sizeKey ? bytes(Number(p.sizeKey)) : null,
          p.recordCount ? `${Number(p.recordCount).toLocaleString()} rows` : null,
          t.VersionId ? `v${t.VersionId}` : null,
        ].filter(Boolean);
        const table = h(
          "details",
          { class: "table", "data-table": t.Name },
          h(
            "summary",
            { title: t.StorageDescriptor?.Location ?? "" },
            h("span", { class: "name" }, t.Name),
            h("span", { class: "facts" }, ` ${facts.join(" · ")}`),
          ),
        );
        const list = h("ul", { class: "columns" });
        for (const c of cols) list.appendChild(h("li", { "data-column": c.Name }, h("span", {}, c.Name), h("span", { class: "type" }, c.Type)));
        for (const c of keys)
          list.appendChild(h("li", { class: "partition-key", "data-column": c.Name, title: "partition key" }, h("span", {}, c.Name), h("span", { class: "type" }, `${c.Type} · partition`)));
        table.appendChild(list);
        table.addEventListener("dblclick", (ev) => {
          ev.preventDefault();
          insertAtCursor(d.Name === state.database ? t.Name : `${d.Name}.${t.Name}`);
        });
        db.appendChild(table);
      }
      schema[d.Name] = qualified;
      nav.appendChild(db);
    });
    schemaNow = schema as SQLNamespace;
    tablesNow = tables[dbs.findIndex((d) => d.Name === state.database)]?.map((t: any) => t.Name as string) ?? [];
    ed.setSchema(editor, schemaNow, defaultTableNow);
  } catch (e) {
    clear(nav);
    nav.appendChild(h("p", { class: "error" }, (e as Error).message));
  }
  crawlBox ??= crawlForm();
  const button = crawlBox.querySelector("button");
  if (button) button.textContent = `Crawl into ${state.database}`;
  nav.appendChild(crawlBox);
}

/// The crawl form, kept across the catalog's redraws (its status line outlives the crawl it reports).
let crawlBox: HTMLElement | null = null;

/// Crawl a path into the current database with a Glue crawler (the one already crawling that path there, or a
/// new one), and watch it finish.
function crawlForm(): HTMLElement {
  const path = h("input", { placeholder: "s3://bucket/prefix/ or /data/…", "aria-label": "Path to crawl", "data-testid": "crawl-path" });
  const out = h("p", { class: "hint", "data-testid": "crawl-status", role: "status" });
  const form = h(
    "form",
    { class: "crawl" },
    h("h2", {}, "Crawl"),
    path,
    h("button", { type: "submit", "data-testid": "crawl" }, "Crawl into " + state.database),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const target = path.value.trim();
    if (!target) return;
    out.className = "hint";
    try {
      const all: any[] = (await api.call("AWSGlue.GetCrawlers", {})).Crawlers ?? [];
      const same = all.find(
        (c) => c.DatabaseName === state.database && (c.Targets?.S3Targets ?? []).some((t: any) => t.Path === target),
      );
      const name = same?.Name ?? `console-${state.database}-${Date.now()}`;
      if (!same) {
        await api.call("AWSGlue.CreateCrawler", {
          Name: name,
          Role: "owl-console",
          DatabaseName: state.database,
          Targets: { S3Targets: [{ Path: target }] },
        });
      }
      await api.call("AWSGlue.StartCrawler", { Name: name });
      out.dataset.crawler = name;
      for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
        const c = (await api.call("AWSGlue.GetCrawler", { Name: name })).Crawler;
        out.textContent = `${name}: ${c.State}`;
        if (c.State === "READY" && c.LastCrawl) {
          const last = c.LastCrawl;
          out.dataset.status = last.Status;
          out.textContent = `${name}: ${last.Status}${last.ErrorMessage ? ` · ${last.ErrorMessage}` : ""}`;
          if (last.Status !== "SUCCEEDED") out.className = "error";
          break;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
      await loadCatalog();
    } catch (e) {
      out.className = "error";
      out.textContent = (e as Error).message;
    }
  });
  return form;
}

function insertAtCursor(text: string): void {
  const at = editor.state.selection.main;
  editor.dispatch({ changes: { from: at.from, to: at.to, insert: text }, selection: { anchor: at.from + text.length } });
  editor.focus();
}

// ------------------------------------------------------------------------------------------- estimate

function scheduleEstimate(delay = 350): void {
  window.clearTimeout(estimateTimer);
  // Until the new estimate comes, the one shown is of another text: say so.
  document.querySelector(".estimate")?.classList.add("stale");
  estimateTimer = window.setTimeout(() => void estimate(), delay);
}

async function estimate(): Promise<void> {
  const box = $(".estimate");
  const sql = ed.statementAtCursor(editor);
  const seq = ++estimateSeq;
  const from = /\bfrom\s+"?([\w.]+)"?/i.exec(sql)?.[1];
  if (from !== defaultTableNow) {
    defaultTableNow = from;
    ed.setSchema(editor, schemaNow, from);
  }
  if (!sql) {
    box.textContent = "";
    box.className = "estimate";
    delete box.dataset.bytes;
    return;
  }
  try {
    const r = await api.call("Owl.Estimate", { QueryString: sql, WorkGroup: state.workgroup, Database: state.database });
    if (seq !== estimateSeq) return;
    const s = r.Statements[0];
    if (!s) return;
    box.dataset.bytes = String(s.bytes_scanned);
    box.dataset.billed = String(s.billed_bytes);
    box.dataset.cost = String(s.cost_usd);
    box.dataset.files = String(s.files);
    box.dataset.partitions = String(s.partitions);
    box.dataset.sql = sql;
    let text: string;
    if (s.statement_type !== "Dml" && s.statement_type !== "DML") {
      text = `estimate: free (${String(s.statement_type).toLowerCase()})`;
    } else {
      text = `estimate: scans ${bytes(s.bytes_scanned)} · billed ${bytes(s.billed_bytes)} · ${dollars(s.cost_usd)} · ${s.files} file${s.files === 1 ? "" : "s"}`;
      if (s.partitions > 0) text += ` in ${s.partitions} partition${s.partitions === 1 ? "" : "s"}`;
      if (s.columns_total > 0) text += ` · ${s.columns_read} of ${s.columns_total} columns`;
    }
    box.className = s.over_cutoff ? "estimate over" : "estimate";
    if (s.over_cutoff) {
      text += ` · over the work group's cutoff of ${bytes(r.CutoffBytes)}: it would be cancelled`;
    }
    box.textContent = text;
  } catch (e) {
    if (seq !== estimateSeq) return;
    box.className = "estimate error";
    delete box.dataset.bytes;
    box.textContent = (e as Error).message;
  }
}

// ------------------------------------------------------------------------------------------- run

function setRunning(running: boolean): void {
  ($('[data-testid="run"]') as HTMLButtonElement).disabled = running;
  ($('[data-testid="cancel"]') as HTMLButtonElement).disabled = !running;
}

async function run(): Promise<void> {
  const sql = ed.statementAtCursor(editor);
  if (!sql || state.running) return;
  const status = $(".status");
  status.className = "status";
  status.textContent = "Starting…";
  try {
    const started = performance.now();
    const r = await api.call("AmazonAthena.StartQueryExecution", {
      QueryString: sql,
      WorkGroup: state.workgroup,
      QueryExecutionContext: { Database: state.database },
    });
    state.running = { id: r.QueryExecutionId, started };
    setRunning(true);
    await follow(r.QueryExecutionId);
  } catch (e) {
    showError(e);
  } finally {
    state.running = null;
    setRunning(false);
  }
}

/// "Why it cost that", from what the server kept of the run (no second run): files, columns, row groups and
/// partitions read of what the tables hold, and a way to see what another format would have cost.
function showWhy(read: Read | null): void {
  const line = $(".why-line");
  clear(line);
  for (const k of Object.keys(line.dataset)) if (k !== "testid") delete line.dataset[k];
  if (!read) return;
  line.dataset.filesRead = String(read.files_read);
  line.dataset.filesPlanned = String(read.files_planned);
  line.dataset.filesSkipped = String(read.files_skipped);
  line.dataset.columnsRead = String(read.columns_read);
  line.dataset.columnsTotal = String(read.columns_total);
  if (read.row_groups) line.dataset.rowGroups = `${read.row_groups.read}/${read.row_groups.total}`;
  line.dataset.partitions = (read.partitions ?? []).join("\n");
  line.appendChild(h("strong", {}, "Why it cost that: "));
  line.appendChild(h("span", { "data-testid": "why-parts" }, readParts(read).join(" · ")));
  line.appendChild(
    h(
      "button",
      { class: "link", "data-testid": "why-compare", title: "What this query would scan and cost were the table in each format", onclick: () => void showPane("compare") },
      "What would another format cost?",
    ),
  );
}

async function follow(id: string): Promise<void> {
  showWhy(null);
  const status = $(".status");
  for (const k of ["bytes", "billed", "cost", "rows"]) delete status.dataset[k];
  status.dataset.state = "QUEUED";
  status.dataset.id = id;
  for (;;) {
    // A long poll: the server answers as the query ends, or after 250 ms with how far it got.
    const q = (await api.call("Owl.GetQueryExecution", { QueryExecutionId: id, WaitMs: 250 })).QueryExecution;
    const st: string = q.Status.State;
    const bill = q.Bill;
    const elapsed = performance.now() - (state.running?.started ?? performance.now());
    status.dataset.state = st;
    if (st === "QUEUED" || st === "RUNNING") {
      const files = q.Read ? ` · files ${q.Read.files_read}/${q.Read.files_planned}` : "";
      status.textContent = `${st} · ${seconds(elapsed)} · scanned ${bytes(bill.BytesScanned)}${files}`;
      continue;
    }
    showWhy(q.Read ?? null);
    const line = `${bill.Rows.toLocaleString()} rows in ${seconds(q.Statistics.TotalExecutionTimeInMillis)} · scanned ${bytes(bill.BytesScanned)} · billed ${bytes(bill.BilledBytes)} · ${dollars(bill.CostUsd)}`;
    status.className = st === "SUCCEEDED" ? "status ok" : st === "CANCELLED" ? "status cancelled" : "status error";
    status.dataset.bytes = String(bill.BytesScanned);
    status.dataset.billed = String(bill.BilledBytes);
    status.dataset.cost = String(bill.CostUsd);
    status.dataset.rows = String(bill.Rows);
    if (st === "SUCCEEDED") {
      status.textContent = `${st} · ${line}`;
      const r = await api.call("Owl.GetResults", { QueryExecutionId: id });
      state.result = { id, columns: r.Columns, rows: r.Rows, total: r.TotalRows };
      await showPane(state.pane === "history" || state.pane === "plan" ? "results" : state.pane);
    } else {
      const reason = q.Status.StateChangeReason ? ` · ${q.Status.StateChangeReason}` : "";
      status.textContent = `${st}${reason} · ${line}`;
    }
    return;
  }
}

async function cancel(): Promise<void> {
  if (!state.running) return;
  try {
    await api.call("AmazonAthena.StopQueryExecution", { QueryExecutionId: state.running.id });
  } catch (e) {
    showError(e);
  }
}

function showError(e: unknown): void {
  const status = document.querySelector<HTMLElement>(".status");
  if (!status) return;
  status.className = "status error";
  status.textContent = (e as Error).message;
}

async function format(): Promise<void> {
  const { format } = await import("sql-formatter");
  const text = editor.state.doc.toString();
  try {
    const pretty = format(text, { language: "trino", keywordCase: "upper" });
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: pretty } });
  } catch (e) {
    showError(e);
  }
}

async function explain(): Promise<void> {
  const sql = ed.statementAtCursor(editor);
  if (!sql) return;
  state.pane = "plan";
  document.querySelectorAll<HTMLElement>(".pane-tabs [role=tab]").forEach((b) => {
    b.setAttribute("aria-selected", String(b.dataset.pane === "plan"));
  });
  const pane = $(".pane");
  clear(pane);
  pane.appendChild(h("p", { class: "hint" }, "Running EXPLAIN ANALYZE…"));
  try {
    const r = await api.call("AmazonAthena.StartQueryExecution", {
      QueryString: `EXPLAIN ANALYZE ${sql}`,
      WorkGroup: state.workgroup,
      QueryExecutionContext: { Database: state.database },
    });
    let q: any;
    do {
      q = (await api.call("Owl.GetQueryExecution", { QueryExecutionId: r.QueryExecutionId, WaitMs: 1000 })).QueryExecution;
    } while (["QUEUED", "RUNNING"].includes(q.Status.State));
    clear(pane);
    if (q.Status.State !== "SUCCEEDED") {
      pane.appendChild(h("p", { class: "error" }, q.Status.StateChangeReason ?? q.Status.State));
      return;
    }
    const res = await api.call("Owl.GetResults", { QueryExecutionId: r.QueryExecutionId });
    const b = q.Bill;
    pane.appendChild(h("p", { class: "hint" }, `The plan as it ran: scanned ${bytes(b.BytesScanned)} · billed ${bytes(b.BilledBytes)} · ${dollars(b.CostUsd)}`));
    const sections = (res.Rows as Cell[][]).map((row) => [row[0] ?? "", row[row.length - 1] ?? ""] as [string, string]);
    const tree = planView(sections);
    tree.classList.add("plan");
    tree.dataset.testid = "plan";
    pane.appendChild(tree);
    const raw = h("details", {}, h("summary", {}, "The plan as text"));
    for (const [kind, text] of sections) raw.appendChild(h("pre", { class: "plan-text" }, `${kind}\n${text}`));
    pane.appendChild(raw);
  } catch (e) {
    clear(pane);
    pane.appendChild(h("p", { class: "error" }, (e as Error).message));
  }
}

// ------------------------------------------------------------------------------------------- panes

async function showPane(p: typeof state.pane): Promise<void> {
  state.pane = p;
  document.querySelectorAll<HTMLElement>(".pane-tabs [role=tab]").forEach((b) => {
    b.setAttribute("aria-selected", String(b.dataset.pane === p));
  });
  if (p === "results") showResults();
  else if (p === "chart") await showChart();
  else if (p === "history") await showHistory();
  else if (p === "saved") await showSaved();
  else if (p === "compare") showCompare();
  else if (p === "plan") {
    const pane = $(".pane");
    if (!pane.querySelector(".plan")) {
      clear(pane);
      pane.appendChild(h("p", { class: "hint" }, "Plan shows the statement's plan as it runs (EXPLAIN ANALYZE), with what each step read."));
    }
  }
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function showResults(): void {
  const pane = $(".pane");
  clear(pane);
  const r = state.result;
  if (!r) {
    pane.appendChild(h("p", { class: "hint" }, "Run a query (Ctrl+Enter) to see its rows here."));
    return;
  }
  pane.appendChild(
    h(
      "div",
      { class: "result-bar" },
      h(
        "span",
        { "data-testid": "row-count" },
        r.total > r.rows.length
          ? `the first ${r.rows.length.toLocaleString()} of ${r.total.toLocaleString()} rows (the result file has them all)`
          : `${r.rows.length.toLocaleString()} rows`,
      ),
      h("a", { href: `/console/results/${encodeURIComponent(r.id)}.csv`, download: `${r.id}.csv`, "data-testid": "download-csv" }, "Download CSV"),
      h("button", { onclick: () => download(`${r.id}.json`, "application/json", toJson(r.columns, grid.shown())) }, "Download JSON"),
    ),
  );
  pane.appendChild(grid.root);
  grid.set(r.columns, r.rows);
  grid.root.dataset.id = r.id;
}

async function showChart(): Promise<void> {
  const pane = $(".pane");
  clear(pane);
  const r = state.result;
  if (!r) {
    pane.appendChild(h("p", { class: "hint" }, "Run a query with a category and a number column to chart it."));
    return;
  }
  const kind = h(
    "select",
    { "data-testid": "chart-kind", "aria-label": "Chart type" },
    h("option", { value: "bar", selected: state.chartKind === "bar" }, "Bar"),
    h("option", { value: "line", selected: state.chartKind === "line" }, "Line"),
  );
  const box = h("div", { class: "chart", "data-testid": "chart" });
  const png = h("button", { "data-testid": "chart-png", disabled: !chartable(r.columns) }, "Export PNG");
  const svg = h("button", { "data-testid": "chart-svg", disabled: !chartable(r.columns) }, "Export SVG");
  svg.onclick = () => {
    const text = svgOf(state.dark);
    if (text) download(`${r.id}.svg`, "image/svg+xml", text);
  };
  pane.appendChild(h("div", { class: "result-bar" }, kind, png, svg));
  pane.appendChild(box);
  const draw = async () => {
    const canvas = await drawChart(box, r.columns, r.rows, state.chartKind, state.dark);
    png.onclick = () => {
      if (!canvas) return;
      const a = h("a", { href: canvas.toDataURL("image/png"), download: `${r.id}.png` });
      document.body.appendChild(a);
      a.click();
      a.remove();
    };
  };
  kind.addEventListener("change", () => {
    state.chartKind = kind.value as "bar" | "line";
    void draw();
  });
  await draw();
}

/// Why a query cost what it did, format by format: `owl compare` of a table (copied into each format in the
/// registry's work folder) with the queries, each copy's bytes, bill and what it read of what it has.
function showCompare(): void {
  const pane = $(".pane");
  clear(pane);
  const current = ed.statementAtCursor(editor);
  const from = /\bfrom\s+"?([\w]+)"?/i.exec(current)?.[1];
  const table = h(
    "select",
    { "data-testid": "compare-table", "aria-label": "Table to compare" },
    ...tablesNow.map((t) => h("option", { value: t, selected: t === from }, t)),
  );
  const queries = h(
    "textarea",
    { "data-testid": "compare-queries", "aria-label": "Queries, separated by ;", rows: 3, class: "compare-queries" },
    current,
  );
  const go = h("button", { class: "primary", "data-testid": "compare-run" }, "Compare formats");
  const out = h("div", { class: "compare-out", "data-testid": "compare-out" });
  pane.appendChild(
    h(
      "p",
      { class: "hint" },
      "What the queries would scan and cost if the table were stored in each format: the table is copied into each (in owl's work folder, once while it is unchanged) and the queries run on every copy.",
    ),
  );
  pane.appendChild(h("div", { class: "result-bar" }, h("label", {}, "Table ", table), go));
  pane.appendChild(queries);
  pane.appendChild(out);
  go.addEventListener("click", async () => {
    const text = queries.value;
    const list = ed
      .statements(text)
      .map(([a, b]) => text.slice(a, b).trim())
      .filter((q) => q);
    clear(out);
    out.appendChild(h("p", { class: "hint" }, "Copying the table and running the queries…"));
    go.disabled = true;
    try {
      const c = await api.call("Owl.Compare", {
        Table: table.value,
        Database: state.database,
        WorkGroup: state.workgroup,
        Queries: list,
      });
      clear(out);
      const copies = h("p", { class: "hint" }, `${c.table}: ${bytes(c.source_size_bytes)} as it is; copies: ${c.copies.map((x: any) => `${x.format} ${bytes(x.size_bytes)}`).join(" · ")}`);
      copies.dataset.sizes = JSON.stringify(Object.fromEntries(c.copies.map((x: any) => [x.format, x.size_bytes])));
      copies.dataset.testid = "compare-copies";
      out.appendChild(copies);
      for (const s of c.skipped ?? []) out.appendChild(h("p", { class: "hint" }, `${s.format} left out: ${s.reason}`));
      c.queries.forEach((q: any, qi: number) => {
        out.appendChild(h("h3", { class: "sql" }, q.sql));
        out.appendChild(
          h(
            "p",
            { class: q.identical ? "hint" : "error" },
            q.identical ? "Every format gave the same rows." : `Formats disagree: ${q.differences.join("; ")}`,
          ),
        );
        const t = h("table", { class: "history compare", "data-testid": `compare-query-${qi}` });
        t.appendChild(h("thead", {}, h("tr", {}, ...["Format", "Scanned", "Billed", "Cost", "Read", "vs CSV", "Time"].map((x) => h("th", {}, x)))));
        const body = h("tbody");
        for (const r of q.runs) {
          body.appendChild(
            h(
              "tr",
              { "data-format": r.format, "data-bytes": r.bytes_scanned, "data-billed": r.billed_bytes },
              h("td", {}, r.format),
              h("td", { class: "num" }, bytes(r.bytes_scanned)),
              h("td", { class: "num" }, bytes(r.billed_bytes)),
              h("td", { class: "num" }, dollars(r.cost_usd)),
              h("td", { class: r.error ? "error" : "" }, r.error ?? r.why),
              h("td", { class: "num" }, r.savings_vs_csv_pct == null ? "" : `${r.savings_vs_csv_pct.toFixed(1)}% less`),
              h("td", { class: "num" }, seconds(r.elapsed_ms)),
            ),
          );
        }
        t.appendChild(body);
        out.appendChild(t);
      });
      const first = c.queries[0];
      if (first) {
        const box = h("div", { class: "chart small", "data-testid": "compare-chart" });
        out.appendChild(box);
        await drawChart(
          box,
          [
            { Name: "format", Type: "varchar" },
            { Name: "bytes scanned", Type: "bigint" },
          ],
          first.runs.map((r: any) => [r.format, String(r.bytes_scanned)]),
          "bar",
          state.dark,
        );
      }
    } catch (e) {
      clear(out);
      out.appendChild(h("p", { class: "error" }, (e as Error).message));
    } finally {
      go.disabled = false;
    }
  });
}

async function save(): Promise<void> {
  const sql = ed.statementAtCursor(editor) || editor.state.doc.toString().trim();
  const input = document.querySelector<HTMLInputElement>(".save-name");
  const name = input?.value.trim() || state.tabs[state.active].title;
  if (!sql) return;
  try {
    await api.call("AmazonAthena.CreateNamedQuery", {
      Name: name,
      QueryString: sql,
      Database: state.database,
      WorkGroup: state.workgroup,
    });
    state.tabs[state.active].title = name;
    saveTabs();
    renderTabs();
    if (input) input.value = "";
    await showPane("saved");
  } catch (e) {
    showError(e);
  }
}

async function showSaved(): Promise<void> {
  const pane = $(".pane");
  clear(pane);
  const list = h("table", { class: "history", "data-testid": "saved" });
  pane.appendChild(list);
  try {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const r = await api.call("AmazonAthena.ListNamedQueries", { WorkGroup: state.workgroup, NextToken: token });
      ids.push(...r.NamedQueryIds);
      token = r.NextToken;
    } while (token && ids.length < 500);
    const queries: any[] = [];
    for (let i = 0; i < ids.length; i += 50) {
      const r = await api.call("AmazonAthena.BatchGetNamedQuery", { NamedQueryIds: ids.slice(i, i + 50) });
      queries.push(...r.NamedQueries);
    }
    list.appendChild(h("thead", {}, h("tr", {}, ...["Name", "Database", "Query", ""].map((c) => h("th", {}, c)))));
    const body = h("tbody");
    for (const q of queries) {
      body.appendChild(
        h(
          "tr",
          { "data-id": q.NamedQueryId, "data-name": q.Name },
          h("td", {}, q.Name),
          h("td", {}, q.Database),
          h("td", { class: "sql" }, q.QueryString),
          h(
            "td",
            {},
            h("button", {
              onclick: () => {
                openTab(q.QueryString);
                state.tabs[state.active].title = q.Name;
                saveTabs();
                renderTabs();
              },
            }, "Open"),
            h("button", {
              onclick: async () => {
                await api.call("AmazonAthena.DeleteNamedQuery", { NamedQueryId: q.NamedQueryId });
                await showSaved();
              },
            }, "Delete"),
          ),
        ),
      );
    }
    list.appendChild(body);
    if (!queries.length) pane.appendChild(h("p", { class: "hint" }, "No saved queries in this work group: Save keeps the statement at the cursor under a name."));
  } catch (e) {
    list.appendChild(h("caption", { class: "error" }, (e as Error).message));
  }
}

async function showHistory(): Promise<void> {
  const pane = $(".pane");
  clear(pane);
  const stateFilter = h(
    "select",
    { "data-testid": "history-state", "aria-label": "State" },
    ...["", "SUCCEEDED", "FAILED", "CANCELLED", "RUNNING", "QUEUED"].map((s) => h("option", { value: s }, s || "Any state")),
  );
  const text = h("input", { type: "search", placeholder: "Filter by text", "data-testid": "history-text", "aria-label": "Filter by text" });
  const totals = h("span", { class: "hint", "data-testid": "history-totals" });
  const table = h("table", { class: "history", "data-testid": "history" });
  const perDay = h("div", { class: "chart small", "data-testid": "history-chart" });
  pane.appendChild(h("div", { class: "result-bar" }, stateFilter, text, totals));
  pane.appendChild(perDay);
  pane.appendChild(table);
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    try {
      const r = await api.call("Owl.GetHistory", {
        WorkGroup: state.workgroup,
        State: stateFilter.value,
        Text: text.value,
        MaxResults: 500,
      });
      if (mine !== seq) return;
      render(r.Queries);
      const days: any[] = r.Days;
      const sum = (k: string) => days.reduce((a, d) => a + d[k], 0);
      totals.dataset.queries = String(sum("Queries"));
      totals.dataset.billed = String(sum("BilledBytes"));
      totals.dataset.bytes = String(sum("BytesScanned"));
      totals.textContent = `last 30 days: ${sum("Queries")} queries · scanned ${bytes(sum("BytesScanned"))} · billed ${bytes(sum("BilledBytes"))} · ${dollars(sum("CostUsd"))}`;
      await drawChart(
        perDay,
        [
          { Name: "day", Type: "varchar" },
          { Name: "dollars", Type: "double" },
        ],
        days.map((d) => [d.Day, String(d.CostUsd)]),
        "bar",
        state.dark,
      );
    } catch (e) {
      clear(table);
      table.appendChild(h("caption", { class: "error" }, (e as Error).message));
    }
  };
  const render = (queries: any[]) => {
    clear(table);
    table.appendChild(
      h("thead", {}, h("tr", {}, ...["State", "Submitted", "Query", "Scanned", "Billed", "Read", "Time", "User", ""].map((c) => h("th", {}, c)))),
    );
    const body = h("tbody");
    for (const q of queries) {
      const when = new Date(q.SubmissionDateTime * 1000);
      const open = h("button", { title: "Open in a new tab", onclick: () => openTab(q.Query) }, "Open");
      body.appendChild(
        h(
          "tr",
          { "data-id": q.QueryExecutionId, "data-state": q.State },
          h("td", { class: `state ${String(q.State).toLowerCase()}`, title: q.StateChangeReason ?? "" }, q.State),
          h("td", {}, when.toLocaleString()),
          h("td", { class: "sql", title: q.Query }, q.Query),
          h("td", { class: "num" }, bytes(q.BytesScanned)),
          h("td", { class: "num" }, `${bytes(q.BilledBytes)} · ${dollars(q.CostUsd)}`),
          h("td", { class: "num read", title: q.Read ? readParts(q.Read).join("\n") : "" }, q.Read ? readShort(q.Read) : ""),
          h("td", { class: "num" }, seconds(q.TotalExecutionTimeInMillis)),
          h("td", {}, q.User),
          h(
            "td",
            {},
            open,
            q.State === "SUCCEEDED"
              ? h("a", { href: `/console/results/${encodeURIComponent(q.QueryExecutionId)}.csv`, download: `${q.QueryExecutionId}.csv` }, "Result")
              : null,
          ),
        ),
      );
    }
    table.appendChild(body);
  };
  let timer = 0;
  stateFilter.addEventListener("change", () => void load());
  text.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 250);
  });
  await load();
}

api.whenLoggedOut(() => showLogin("Your session is over: sign in again."));
void boot();
