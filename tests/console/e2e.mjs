// The console in a real browser: Debian's Chromium, headless, driven by playwright-core against a real
// `owl serve`. tests/console.rs starts the server, runs this script with OWL_E2E (a JSON object: url, key,
// secret, shots, queries) and checks what it prints (one JSON object of what the page showed) against the CLI.
// Any step that does not happen in time fails the script with the step's name.

import { chromium } from "playwright-core";
import fs from "node:fs";

const cfg = JSON.parse(process.env.OWL_E2E);
const seen = { steps: [] };
const step = (name) => seen.steps.push(name);

const browser = await chromium.launch({
  executablePath: cfg.chromium ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let current = null;

async function main() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
  const page = await context.newPage();
  current = page;
  page.setDefaultTimeout(30_000);
  const dialogs = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const shot = (name) => page.screenshot({ path: `${cfg.shots}/${name}.png` });

  // ------------------------------------------------------------------ login
  step("open");
  await page.goto(cfg.url);
  await page.getByTestId("login").waitFor();
  seen.paint = await page.evaluate(() => {
    const p = performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
    return p ? p.startTime : null;
  });
  await shot("login");
  step("wrong secret");
  await page.getByTestId("login-key").fill(cfg.key);
  await page.getByTestId("login-secret").fill("not-the-secret");
  await page.getByTestId("login-submit").click();
  await page.getByTestId("login-error").filter({ hasText: /./ }).waitFor();
  seen.wrongSecret = await page.getByTestId("login-error").textContent();
  step("login");
  await page.getByTestId("login-secret").fill(cfg.secret);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("user").waitFor();
  seen.user = await page.getByTestId("user").textContent();
  const cookies = await context.cookies();
  seen.cookie = cookies.find((c) => c.name === "owl_console") ?? null;
  if (seen.cookie) seen.cookie.value = seen.cookie.value.length; // the length, never the token

  // ------------------------------------------------------------------ catalog
  step("catalog");
  await page.locator(`[data-testid=catalog] [data-db="default"] [data-table]`).first().waitFor();
  seen.catalog = await page
    .locator(`[data-testid=catalog] [data-db="default"] [data-table]`)
    .evaluateAll((els) => els.map((e) => e.dataset.table));
  const first = page.locator(`[data-testid=catalog] [data-table="${cfg.table}"] > summary`);
  await first.click();
  seen.catalogColumns = await page
    .locator(`[data-testid=catalog] [data-table="${cfg.table}"] li`)
    .evaluateAll((els) => els.map((e) => e.dataset.column));
  await first.click();

  // ------------------------------------------------------------------ completion
  const editor = page.locator(".cm-content");
  const setSql = async (sql) => {
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    await page.keyboard.insertText(sql);
    if (sql) await page.keyboard.press("Escape"); // no completion left open
  };
  // Run the editor's statement (Ctrl+Enter) and wait for it to end: a new query id in the status line, in a
  // final state, and (when it succeeded) its rows in the grid.
  const runAndWait = async () => {
    const before = await page.getByTestId("status").evaluate((e) => e.dataset.id ?? "");
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction((before) => {
      const s = document.querySelector("[data-testid=status]");
      if (!s || !s.dataset.id || s.dataset.id === before) return false;
      if (s.dataset.state === "SUCCEEDED") {
        const g = document.querySelector("[data-testid=grid]");
        return g?.dataset.id === s.dataset.id && (g.dataset.rows === "0" || g.querySelector(".grid-row"));
      }
      return ["FAILED", "CANCELLED"].includes(s.dataset.state);
    }, before);
  };
  const completions = async () => {
    await page.locator(".cm-tooltip-autocomplete li").first().waitFor();
    const labels = await page.locator(".cm-tooltip-autocomplete .cm-completionLabel").allTextContents();
    await page.keyboard.press("Escape");
    return labels;
  };
  step("complete a table");
  await setSql("");
  await page.keyboard.type(`SELECT * FROM ${cfg.table.slice(0, 9)}`);
  seen.tableCompletions = await completions();
  step("complete a column");
  await setSql("");
  await page.keyboard.type(`SELECT ${cfg.table}.${cfg.column.slice(0, 3)}`);
  seen.columnCompletions = await completions();
  step("complete a column of the FROM table");
  await setSql(`SELECT  FROM ${cfg.table}`);
  await page.keyboard.press("Home");
  for (let i = 0; i < "SELECT ".length; i++) await page.keyboard.press("ArrowRight");
  await page.waitForTimeout(500); // the FROM table is read with the estimate, debounced
  await page.keyboard.type(cfg.column.slice(0, 3));
  seen.bareColumnCompletions = await completions();

  // ------------------------------------------------------------------ the estimate, then the run
  step("estimate");
  await setSql(cfg.queries.day);
  await page.waitForFunction(
    (sql) => document.querySelector("[data-testid=estimate]")?.dataset.sql === sql,
    cfg.queries.day,
  );
  seen.estimate = await page.getByTestId("estimate").evaluate((e) => ({ text: e.textContent, ...e.dataset }));
  await shot("estimate");

  step("run");
  const runStarted = await page.evaluate(() => performance.now());
  await runAndWait();
  seen.runToRows = (await page.evaluate(() => performance.now())) - runStarted;
  seen.status = await page.getByTestId("status").evaluate((e) => ({ text: e.textContent, ...e.dataset }));
  seen.whyLine = await page.getByTestId("why-line").evaluate((e) => ({ text: e.textContent, ...e.dataset }));
  seen.grid = await readGrid(page);
  await shot("results");

  step("sort");
  await page.locator("[data-testid=grid] .grid-header .col").nth(cfg.sortColumn).click();
  await page.locator("[data-testid=grid] .grid-header .col").nth(cfg.sortColumn).click();
  seen.sortedDescending = (await readGrid(page)).rows;

  // ------------------------------------------------------------------ many rows: the grid stays virtual
  step("many rows");
  await setSql(cfg.queries.many);
  await runAndWait();
  await page.waitForFunction(
    (n) => document.querySelector("[data-testid=grid]")?.dataset.rows === String(n),
    cfg.manyRows,
  );
  seen.manyRowsInDom = await page.locator("[data-testid=grid] .grid-row").count();
  await page.locator("[data-testid=grid] .grid-viewport").evaluate((v) => (v.scrollTop = v.scrollHeight));
  await page.waitForTimeout(100);
  seen.lastRowShown = await page
    .locator("[data-testid=grid] .grid-row")
    .last()
    .evaluate((r) => r.querySelector(".rownum").textContent);

  // ------------------------------------------------------------------ data is text, never HTML
  step("xss");
  await setSql(cfg.queries.xss);
  await runAndWait();
  seen.xss = await readGrid(page);
  seen.xssImages = await page.locator("[data-testid=pane] img, [data-testid=catalog] img").count();
  await shot("xss");

  // ------------------------------------------------------------------ a chart
  step("chart");
  await setSql(cfg.queries.chart);
  await runAndWait();
  await page.getByTestId("pane-chart").click();
  const canvas = page.getByTestId("chart-canvas");
  await canvas.waitFor();
  seen.chartInked = await canvas.evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
    return inked;
  });
  const download = page.waitForEvent("download");
  await page.getByTestId("chart-png").click();
  seen.chartDownload = (await download).suggestedFilename();
  const svgDownload = page.waitForEvent("download");
  await page.getByTestId("chart-svg").click();
  const svgFile = await svgDownload;
  seen.svgName = svgFile.suggestedFilename();
  seen.svg = fs.readFileSync(await svgFile.path(), "utf8");
  fs.writeFileSync(`${cfg.shots}/chart.svg`, seen.svg);
  await shot("chart");
  await page.getByTestId("pane-results").click();

  // ------------------------------------------------------------------ cancel
  step("cancel");
  await setSql(cfg.queries.slow);
  await page.getByTestId("run").click();
  await page.waitForFunction(() => {
    const s = document.querySelector("[data-testid=status]");
    return s?.dataset.state === "RUNNING" && /scanned [1-9]/.test(s.textContent);
  });
  seen.live = await page.getByTestId("status").textContent();
  await page.getByTestId("cancel").click();
  await page.waitForFunction(() => document.querySelector("[data-testid=status]")?.dataset.state === "CANCELLED");
  seen.cancelled = await page.getByTestId("status").evaluate((e) => ({ text: e.textContent, ...e.dataset }));

  // ------------------------------------------------------------------ history
  step("history");
  await page.getByTestId("pane-history").click();
  await page.locator("[data-testid=history] tbody tr").first().waitFor();
  seen.history = await page
    .locator("[data-testid=history] tbody tr")
    .evaluateAll((rows) => rows.map((r) => ({ id: r.dataset.id, state: r.dataset.state, sql: r.querySelector(".sql").textContent })));
  await shot("history");
  seen.historyRead = await page.locator(`[data-testid=history] tbody tr[data-id="${seen.status.id}"] td.read`).textContent();
  seen.historyTotals = await page.getByTestId("history-totals").evaluate((e) => ({ text: e.textContent, ...e.dataset }));
  seen.historyChart = await page.locator("[data-testid=history-chart] canvas").count();
  const allRows = await page.locator("[data-testid=history] tbody tr").count();
  const rowsAre = (want, count) =>
    page.waitForFunction(
      ([want, count]) => {
        const rows = [...document.querySelectorAll("[data-testid=history] tbody tr")];
        return rows.length > 0 && (count === null || rows.length === count) && rows.every((r) => want === "" || r.dataset.state === want);
      },
      [want, count],
    );
  await page.getByTestId("history-state").selectOption("CANCELLED");
  await rowsAre("CANCELLED", null);
  seen.historyCancelled = await page.locator("[data-testid=history] tbody tr").count();
  await page.getByTestId("history-state").selectOption("");
  await rowsAre("", allRows);
  await page.getByTestId("history-text").fill(cfg.historyText);
  await page.waitForFunction(
    (t) => {
      const rows = [...document.querySelectorAll("[data-testid=history] tbody tr .sql")];
      return rows.length > 0 && rows.every((r) => r.textContent.toLowerCase().includes(t.toLowerCase()));
    },
    cfg.historyText,
  );
  seen.historyByText = await page.locator("[data-testid=history] tbody tr .sql").allTextContents();
  await page.getByTestId("history-text").fill("");
  await rowsAre("", allRows);
  step("reopen from history");
  const tabsBefore = await page.getByTestId("tab").count();
  await page.locator("[data-testid=history] tbody tr").first().getByRole("button", { name: "Open" }).click();
  seen.tabsAfterReopen = (await page.getByTestId("tab").count()) - tabsBefore;
  seen.reopened = await editor.textContent();

  // ------------------------------------------------------------------ saved queries
  step("save");
  await page.getByTestId("new-tab").click();
  await setSql(cfg.queries.day);
  await page.getByTestId("save-name").fill("status of day 2");
  await page.getByTestId("save").click();
  await page.locator('[data-testid=saved] tr[data-name="status of day 2"]').waitFor();
  seen.saved = await page.locator("[data-testid=saved] tbody tr").evaluateAll((rows) => rows.map((r) => [r.dataset.name, r.querySelector(".sql").textContent]));

  // ------------------------------------------------------------------ a crawler run from the console
  step("crawl");
  await page.getByTestId("crawl-path").fill(cfg.crawlPath);
  await page.getByTestId("crawl").click();
  await page.waitForFunction(() => {
    const e = document.querySelector("[data-testid=crawl-status]");
    return e?.dataset.status || e?.classList.contains("error");
  });
  seen.crawl = await page.getByTestId("crawl-status").evaluate((e) => ({ text: e.textContent, ...e.dataset }));
  if (seen.crawl.status !== "SUCCEEDED") throw new Error(`the crawl: ${seen.crawl.text}`);
  await page.locator(`[data-testid=catalog] [data-table="${cfg.crawledTable}"]`).waitFor();
  seen.crawledTableShown = true;

  // ------------------------------------------------------------------ the plan as it ran, and why it cost that
  step("plan");
  await page.getByTestId("pane-results").click();
  await setSql(cfg.queries.day);
  await page.getByTestId("explain").click();
  await page.locator("[data-testid=why] li").first().waitFor();
  seen.why = await page.locator("[data-testid=why] li").allTextContents();
  seen.planOperators = await page.locator("[data-testid=plan] [data-operator]").evaluateAll((ns) => ns.map((n) => n.dataset.operator));
  await shot("plan");

  // ------------------------------------------------------------------ why it cost that: every format
  step("compare");
  await page.getByTestId("pane-compare").click();
  await page.getByTestId("compare-table").selectOption(cfg.compareTable);
  await page.getByTestId("compare-queries").fill(cfg.compareQuery);
  await page.getByTestId("compare-run").click();
  await page.locator("[data-testid=compare-query-0] tbody tr").first().waitFor({ timeout: 120_000 });
  seen.compare = {
    sizes: JSON.parse(await page.getByTestId("compare-copies").getAttribute("data-sizes")),
    runs: await page
      .locator("[data-testid=compare-query-0] tbody tr")
      .evaluateAll((rows) => rows.map((r) => [r.dataset.format, Number(r.dataset.bytes), r.cells[4].textContent])),
    chart: await page.locator("[data-testid=compare-chart] canvas").count(),
  };
  await shot("compare");

  // ------------------------------------------------------------------ tabs survive a reload
  step("reload");
  await page.reload();
  await page.getByTestId("user").waitFor();
  seen.tabsAfterReload = await page.getByTestId("tab").count();
  seen.editorAfterReload = await page.locator(".cm-content").textContent();

  // ------------------------------------------------------------------ dark theme
  step("dark");
  await page.getByTestId("theme").click();
  await page.getByTestId("pane-history").click();
  await page.locator("[data-testid=history] tbody tr").first().waitFor();
  await shot("dark");

  // ------------------------------------------------------------------ a request without the cookie
  step("no cookie");
  seen.noCookie = await page.evaluate(async () => {
    const r = await fetch("/console/api", {
      method: "POST",
      credentials: "omit",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Target: "AmazonAthena.ListWorkGroups", Input: {} }),
    });
    return r.status;
  });
  seen.noCsrf = await page.evaluate(async () => {
    const r = await fetch("/console/api", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ Target: "AmazonAthena.ListWorkGroups", Input: {} }),
    });
    return r.status;
  });

  step("sign out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByTestId("login").waitFor();
  seen.dialogs = dialogs;
  seen.pageErrors = errors;
}

async function readGrid(page) {
  return page.getByTestId("grid").evaluate((g) => ({
    columns: [...g.querySelectorAll(".grid-header .col")].map((c) => [
      c.querySelector(".col-name").textContent.replace(/ [▲▼]$/, ""),
      c.querySelector(".col-type").textContent,
    ]),
    rows: [...g.querySelectorAll(".grid-row")].map((r) =>
      [...r.querySelectorAll(".cell")].map((c) => (c.classList.contains("null") ? null : c.textContent)),
    ),
  }));
}

try {
  await main();
  seen.ok = true;
} catch (e) {
  seen.ok = false;
  seen.error = `${seen.steps.at(-1)}: ${e.message}`;
  await current?.screenshot({ path: `${cfg.shots}/failure.png` }).catch(() => {});
  seen.failurePage = await current?.locator("body").innerText().catch(() => null);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
