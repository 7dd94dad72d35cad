// drive.js -- the browser half of test_dashboard.py: opens the dashboard in Debian's chromium
// through playwright-core, logs in with the admin token, reads what the page shows for two
// resources, searches the stop list and removes one address through the page's button, and
// saves a screenshot. Prints what it saw as one JSON object; the Python test judges it.
//
// Usage: node drive.js PLAYWRIGHT_CORE_FOLDER URL TOKEN EMPTY_RESOURCE RESOURCE SEARCH REMOVE SHOT
"use strict";

const [playwrightFolder, url, token, emptyResource, resource, search, remove, screenshot] =
  process.argv.slice(2);
const { chromium } = require(playwrightFolder);

async function totals(page) {
  return page.$$eval("#totals tbody tr", (rows) =>
    Object.fromEntries(
      rows.map((row) => [
        row.dataset.counter,
        Array.from(row.cells).slice(1).map((cell) => Number(cell.textContent)),
      ]),
    ),
  );
}

async function bounceReasons(page) {
  return page.$$eval("#bounce-reasons tbody tr", (rows) =>
    rows.map((row) => Array.from(row.cells).map((cell) => cell.textContent)),
  );
}

async function stopList(page) {
  return page.$$eval("#stop-list tbody tr[data-address]", (rows) =>
    rows.map((row) => row.dataset.address),
  );
}

async function show(page, name) {
  await page.selectOption("#resource", name);
  await page.waitForSelector(`body[data-loaded="${name}"]`, { state: "attached", timeout: 10000 });
}

(async () => {
  // The tests run as root, and chromium's sandbox refuses to start as root: --no-sandbox. The
  // page is our own, served on loopback.
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const seen = { problems: [] };
  let page;
  try {
    page = await browser.newPage({ viewport: { width: 1700, height: 1300 } });
    page.on("console", (message) => {
      if (message.type() === "error") {
        seen.problems.push(message.text());
      }
    });
    page.on("pageerror", (error) => seen.problems.push(String(error)));
    page.on("response", (response) => {
      if (response.status() >= 400) {
        seen.problems.push(response.status() + " " + response.url());
      }
    });
    page.on("dialog", (dialog) => dialog.accept());

    const response = await page.goto(url);
    seen.headers = response.headers();
    seen.loginShown = await page.isVisible("#login");
    await page.fill("#token", token);
    await page.click("#login-form button[type=submit]");
    await page.waitForSelector("body[data-loaded]", { state: "attached", timeout: 10000 });
    seen.tokenStored = await page.evaluate(() => sessionStorage.getItem("relay-admin-token"));
    seen.resources = await page.$$eval("#resource option", (options) =>
      options.map((option) => option.value),
    );

    await show(page, emptyResource);
    seen.emptyTotals = await totals(page);
    seen.emptyBounceReasons = await bounceReasons(page);
    await show(page, resource);
    seen.totals = await totals(page);
    seen.bounceReasons = await bounceReasons(page);
    seen.charts = await page.$$eval(".chart canvas", (canvases) => canvases.length);
    seen.queue = await page.$$eval("#queue tbody tr", (rows) =>
      rows.map((row) => Array.from(row.cells).map((cell) => cell.textContent)),
    );
    seen.stopListBefore = await stopList(page);

    await page.fill("#stop-search", search);
    await page.click("#stop-search-form button[type=submit]");
    await page.waitForFunction(
      (text) =>
        Array.from(document.querySelectorAll("#stop-list tbody tr[data-address]")).every((row) =>
          row.dataset.address.includes(text),
        ),
      search,
      { timeout: 10000 },
    );
    seen.stopListSearched = await stopList(page);

    await page.click(`#stop-list tr[data-address="${remove}"] button`);
    await page.waitForSelector(`#stop-list tr[data-address="${remove}"]`, {
      state: "detached",
      timeout: 10000,
    });
    await page.fill("#stop-search", "");
    await page.click("#stop-search-form button[type=submit]");
    await page.waitForFunction(
      (count) => document.querySelectorAll("#stop-list tbody tr[data-address]").length === count,
      seen.stopListBefore.length - 1,
      { timeout: 10000 },
    );
    seen.stopListAfter = await stopList(page);
    seen.status = await page.textContent("#status");
    await page.screenshot({ path: screenshot, fullPage: true });
  } catch (error) {
    // What the page said helps more than the timeout alone.
    seen.status = page ? await page.textContent("#status").catch(() => null) : null;
    seen.loginError = page ? await page.textContent("#login-error").catch(() => null) : null;
    process.stderr.write("seen: " + JSON.stringify(seen) + "\n");
    throw error;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen) + "\n");
})().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
