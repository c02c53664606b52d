// Follows `labctl serve`'s live room page in Debian's chromium (driven by
// playwright-core; no browser is downloaded) for tests/room.rs:
//
//   node follow-room.js URL BENCHES SCREENSHOT.png
//
// Prints `ready` once the page follows the server's events (the test then
// starts `run --all`), then, once every bench passed (or after 170 s), one
// JSON line: every distinct state of the page's matrix it saw, polled every
// 100 ms, and the last. `marker` is set once after the load: a reload would
// lose it.
"use strict";
const { chromium } = require("playwright-core");

(async () => {
  const [url, benches, shot] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector("#live.on", { timeout: 60000 });
  await page.evaluate(() => { window.__labctlLoaded = "once"; });
  const seen = [];
  let last = null;
  let said = false;
  const deadline = Date.now() + 170000;
  while (Date.now() < deadline) {
    last = await page.evaluate(() => ({
      marker: window.__labctlLoaded || null,
      room: document.body.dataset.room,
      outcome: document.body.dataset.outcome,
      verdict: document.getElementById("verdict").textContent,
      rows: [...document.querySelectorAll("#matrix tbody tr")].map((r) => ({
        bench: r.dataset.bench,
        outcome: r.dataset.outcome,
        cells: [...r.querySelectorAll("td.cell")].map((c) => c.className.replace("cell ", "")),
        report: r.querySelector("td.bench a").getAttribute("href"),
      })),
    }));
    const key = JSON.stringify(last);
    if (!seen.length || JSON.stringify(seen[seen.length - 1]) !== key) {
      seen.push(last);
    }
    if (!said) {
      // The page as it was before the room ran is the first state seen.
      console.log("ready");
      said = true;
    }
    if (last.outcome === "passed" && last.rows.length === benches
        && last.rows.every((r) => r.outcome === "passed")) {
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ seen, last }));
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
