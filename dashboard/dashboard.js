// dashboard.js -- the admin plane's dashboard page (docs/admin-api.md#dashboard).
//
// Everything shown comes from the admin API, fetched with the admin token the page asks for
// once and keeps in sessionStorage (this tab only). Text from the API (addresses, reasons,
// errors of remote servers) is untrusted: it reaches the page through textContent only, never
// as markup.
"use strict";

(function () {
  const tokenKey = "relay-admin-token";
  const stopListPageItems = 50;
  // What the charts and totals show: [label, how to read it from a counter set].
  const shown = [
    ["accepted", (c, i) => at(c.accepted, i)],
    ["delivered", (c, i) => at(c.delivered, i)],
    ["bounced", (c, i) => at(c.bounced_hard, i) + at(c.bounced_soft, i)],
    ["deferred", (c, i) => at(c.deferred, i)],
    ["refused", (c, i) => refusedAt(c, i)],
  ];
  const colors = ["#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#7f7f7f"];
  const charts = {};
  // Loads run one after another, so the page ends showing the resource selected last.
  let loading = Promise.resolve();

  function at(value, index) {
    if (Array.isArray(value)) {
      return value[index] || 0;
    }
    return value || 0;
  }

  // The series carry `refused` ready-made; the sums carry each refused_* counter.
  function refusedAt(counts, index) {
    if ("refused" in counts) {
      return at(counts.refused, index);
    }
    let sum = 0;
    for (const name of Object.keys(counts)) {
      if (name.startsWith("refused_")) {
        sum += counts[name];
      }
    }
    return sum;
  }

  function element(id) {
    return document.getElementById(id);
  }

  // A table cell with `text` as text, never as markup.
  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (className) {
      td.className = className;
    }
    row.appendChild(td);
    return td;
  }

  function emptyRow(body, columns, text) {
    const row = body.insertRow();
    const td = cell(row, text, "empty");
    td.colSpan = columns;
  }

  class Unauthorized extends Error {}

  async function api(path, options) {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(tokenKey) };
    const response = await fetch("/api/v1/" + path, Object.assign({ headers }, options || {}));
    if (response.status === 401) {
      throw new Unauthorized("the admin token was refused");
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(path.split("?")[0] + ": " + (body.error || response.status));
    }
    return body;
  }

  function query(parameters) {
    return new URLSearchParams(parameters).toString();
  }

  function selectedResource() {
    return element("resource").value;
  }

  async function loadResources() {
    const page = await api("resources?" + query({ limit: 1000 }));
    const select = element("resource");
    const previous = sessionStorage.getItem("relay-resource") || select.value;
    select.replaceChildren();
    for (const resource of page.items) {
      const option = document.createElement("option");
      option.value = resource.username;
      option.textContent = resource.username;
      select.appendChild(option);
    }
    if (page.items.some((resource) => resource.username === previous)) {
      select.value = previous;
    }
  }

  async function loadTotals(resource) {
    const periods = ["1h", "24h", "30d"];
    const sums = await Promise.all(
      periods.map((since) => api("stats?" + query({ resource, since }))),
    );
    const body = element("totals").tBodies[0];
    body.replaceChildren();
    for (const [label, read] of shown) {
      const row = body.insertRow();
      row.dataset.counter = label;
      cell(row, label);
      for (const sum of sums) {
        const counts = sum.columns.length > 0 ? sum.columns[0].counts : {};
        cell(row, read(counts, 0), "number");
      }
    }
    showBounceReasons(sums);
  }

  // The bounce reasons of the three periods, most frequent over the longest one first.
  function showBounceReasons(sums) {
    const periods = sums.map((sum) =>
      sum.columns.length > 0 ? sum.columns[0].counts.bounce_reasons || {} : {},
    );
    const longest = periods[periods.length - 1];
    const reasons = Object.keys(longest).sort(
      (left, right) => longest[right] - longest[left] || left.localeCompare(right),
    );
    const body = element("bounce-reasons").tBodies[0];
    body.replaceChildren();
    if (reasons.length === 0) {
      emptyRow(body, 4, "no bounces");
    }
    for (const reason of reasons) {
      const row = body.insertRow();
      row.dataset.reason = reason;
      cell(row, reason);
      for (const counts of periods) {
        cell(row, counts[reason] || 0, "number");
      }
    }
  }

  function chartWidth() {
    return Math.max(320, Math.min(560, Math.floor(window.innerWidth / 3) - 40));
  }

  async function loadChart(id, resource, grain, since) {
    const series = await api("stats/series?" + query({ resource, grain, since }));
    const data = [series.time];
    for (const [, read] of shown) {
      data.push(series.time.map((_, index) => read(series.series, index)));
    }
    const target = element(id);
    if (charts[id]) {
      charts[id].destroy();
    }
    target.replaceChildren();
    const options = {
      width: chartWidth(),
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(
        shown.map(([label], index) => ({ label, stroke: colors[index], width: 1.5 })),
      ),
      axes: [{}, { size: 50 }],
    };
    charts[id] = new uPlot(options, data, target);
  }

  function shortTime(text) {
    return text ? text.replace("T", " ").replace("Z", " UTC") : "never";
  }

  async function loadStopList(resource) {
    const search = element("stop-search").value.trim();
    const page = await api("stop-list?" + query({ resource, search, limit: stopListPageItems }));
    const body = element("stop-list").tBodies[0];
    body.replaceChildren();
    element("stop-total").textContent =
      page.total > page.items.length
        ? "showing " + page.items.length + " of " + page.total
        : page.total + (page.total === 1 ? " entry" : " entries");
    if (page.items.length === 0) {
      emptyRow(body, 5, "no entries");
    }
    for (const entry of page.items) {
      const row = body.insertRow();
      row.dataset.address = entry.address;
      cell(row, entry.address);
      cell(row, entry.reason);
      cell(row, shortTime(entry.added));
      cell(row, entry.expires ? shortTime(entry.expires) : "never");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Remove";
      button.addEventListener("click", () => removeStop(resource, entry.address, button));
      cell(row, "").appendChild(button);
    }
  }

  async function removeStop(resource, address, button) {
    if (!window.confirm("Remove " + address + " from the stop list of " + resource + "?")) {
      return;
    }
    button.disabled = true;
    await guarded(async () => {
      await api("stop-list/" + encodeURIComponent(address) + "?" + query({ resource }), {
        method: "DELETE",
      });
      await loadStopList(resource);
    });
  }

  async function loadQueue() {
    const rows = await api("queue/summary");
    const body = element("queue").tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      emptyRow(body, 4, "the queue is empty");
    }
    for (const row of rows) {
      const tr = body.insertRow();
      cell(tr, row.destination);
      cell(tr, row.messages, "number");
      cell(tr, shortTime(row.oldest) + " (" + row.oldest_age_s + " s ago)");
      cell(tr, row.last_error);
    }
  }

  function reload() {
    loading = loading.then(() => guarded(loadResource));
    return loading;
  }

  async function loadResource() {
    const resource = selectedResource();
    delete document.body.dataset.loaded;
    element("status").textContent = "";
    if (!resource) {
      element("status").textContent = "no resource yet: add one with relayctl resource add";
      return;
    }
    sessionStorage.setItem("relay-resource", resource);
    await Promise.all([
      loadTotals(resource),
      loadChart("chart-hour", resource, "minute", "1h"),
      loadChart("chart-day", resource, "hour", "24h"),
      loadChart("chart-month", resource, "hour", "30d"),
      loadStopList(resource),
      loadQueue(),
    ]);
    document.body.dataset.loaded = resource;
  }

  // Runs `work`; a refused token leads back to the login, any other error is shown.
  async function guarded(work) {
    try {
      await work();
    } catch (error) {
      if (error instanceof Unauthorized) {
        logout(error.message);
      } else {
        element("status").textContent = error.message;
      }
    }
  }

  function showMain(visible) {
    element("login").hidden = visible;
    element("main").hidden = !visible;
    for (const id of ["resource-label", "refresh", "logout"]) {
      element(id).hidden = !visible;
    }
  }

  function logout(message) {
    sessionStorage.removeItem(tokenKey);
    delete document.body.dataset.loaded;
    showMain(false);
    element("login-error").textContent = message || "";
  }

  async function open() {
    showMain(true);
    await guarded(loadResources);
    await reload();
  }

  element("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(tokenKey, element("token").value.trim());
    element("token").value = "";
    element("login-error").textContent = "";
    open();
  });
  element("logout").addEventListener("click", () => logout(""));
  element("refresh").addEventListener("click", reload);
  element("resource").addEventListener("change", reload);
  element("stop-search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => loadStopList(selectedResource()));
  });

  if (sessionStorage.getItem(tokenKey)) {
    open();
  }
})();
