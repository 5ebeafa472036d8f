// The console's speed in Chromium (benches/console.rs runs it against a running `owl serve`): first
// contentful paint of the page (a fresh load, the bundle not cached), and the time from Ctrl+Enter to the
// first rows in the grid for a query (Chromium's performance clock in the page). Prints one JSON object.

import { chromium } from "playwright-core";

const cfg = JSON.parse(process.env.OWL_MEASURE);
const browser = await chromium.launch({
  executablePath: cfg.chromium ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = { paint: [], runToRows: [] };
try {
  for (let i = 0; i < cfg.loads; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    await page.goto(cfg.url);
    await page.getByTestId("login").waitFor();
    out.paint.push(
      await page.evaluate(() => performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint")?.startTime),
    );
    if (i === 0) {
      out.transferred = await page.evaluate(() =>
        performance.getEntriesByType("resource").reduce((a, r) => a + r.transferSize, 0) +
        performance.getEntriesByType("navigation").reduce((a, r) => a + r.transferSize, 0),
      );
    }
    await context.close();
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(cfg.url);
  await page.getByTestId("login-key").fill(cfg.key);
  await page.getByTestId("login-secret").fill(cfg.secret);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("user").waitFor();
  await page.locator(".cm-content").click();
  await page.keyboard.insertText(cfg.sql);
  // The clock starts at the key press, as the page sees it, and stops when the new result's first row is put
  // in the page (a MutationObserver: as the DOM changes, not at the next poll); the next frame paints it.
  await page.evaluate(() => {
    document.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.ctrlKey) {
        window.__runAt = performance.now();
        window.__rowsAt = null;
      }
    }, true);
    window.__last = "";
    new MutationObserver(() => {
      const g = document.querySelector("[data-testid=grid]");
      if (window.__rowsAt === null && g?.dataset.id && g.dataset.id !== window.__last && g.querySelector(".grid-row")) {
        window.__rowsAt = performance.now();
        window.__last = g.dataset.id;
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-id"] });
  });
  for (let i = 0; i < cfg.warmup + cfg.runs; i++) {
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction(() => window.__rowsAt !== null);
    await page.waitForFunction(() => !document.querySelector("[data-testid=run]")?.disabled);
    const ms = await page.evaluate(() => window.__rowsAt - window.__runAt);
    if (i >= cfg.warmup) out.runToRows.push(ms);
  }
  // The requests of the last run, for where its time went.
  out.lastRun = await page.evaluate(() =>
    performance.getEntriesByType("resource").slice(-3).map((r) => [Math.round(r.startTime), Math.round(r.duration)]),
  );
  out.paintMedian = median(out.paint);
  out.runToRowsMedian = median(out.runToRows);
  out.runToRowsMax = Math.max(...out.runToRows);
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = e.message;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
