// Blocktime's customer portal (SPEC §11): plain JavaScript, no build step.
// It talks to /graphql on this origin with the user's token. The token lives in this
// tab's sessionStorage only: never in the page, never in a URL the server sees, never logged.
"use strict";

(function () {
  const TOKEN_KEY = "blocktime.portal.token";
  const FORECAST_DAYS = 30;
  const EXPIRING_WITHIN_DAYS = 30;

  const $ = (id) => document.getElementById(id);
  const state = { viewer: null, companyId: null };

  // --- the token -------------------------------------------------------------------

  function takeTokenFromFragment() {
    // /portal#token=... : the fragment never reaches the server. Remove it at once so it
    // is neither in the address bar, nor in the history, nor in a bookmark.
    const params = new URLSearchParams(window.location.hash.slice(1));
    const token = params.get("token");
    if (window.location.hash) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    if (token && token.trim()) {
      sessionStorage.setItem(TOKEN_KEY, token.trim());
    }
  }

  const currentToken = () => sessionStorage.getItem(TOKEN_KEY);

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.viewer = null;
    state.companyId = null;
    $("agreements").replaceChildren();
    $("company").replaceChildren();
    $("who").textContent = "";
    $("sign-out").hidden = true;
    $("portal").hidden = true;
    $("sign-in").hidden = false;
    $("token").value = "";
    if (message) {
      showMessage(message, "error");
    } else {
      showMessage("You are signed out. The token was removed from this tab.", "info");
    }
    $("token").focus();
  }

  // --- talking to the API --------------------------------------------------------

  class ApiError extends Error {
    constructor(message, kind) {
      super(message);
      this.kind = kind;
    }
  }

  async function graphql(query, variables) {
    const token = currentToken();
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify({ query: query, variables: variables || {} }),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (_error) {
      throw new ApiError("Blocktime could not be reached. Check your connection and try again.", "network");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_error) {
      body = null;
    }
    const errors = (body && body.errors) || [];
    const codes = errors.map((e) => (e.extensions || {}).code);
    if (response.status === 401 || codes.includes("UNAUTHENTICATED")) {
      throw new ApiError(
        "This token is not valid: it may have been revoked, or mistyped. Ask your service provider for a new sign-in link.",
        "unauthenticated",
      );
    }
    if (!response.ok || body === null) {
      throw new ApiError(`The request failed (HTTP ${response.status}). Please try again in a moment.`, "failed");
    }
    if (errors.length) {
      const first = errors[0];
      const code = (first.extensions || {}).code || "ERROR";
      const requestId = (first.extensions || {}).requestId;
      const suffix = requestId ? ` (request ${requestId})` : "";
      throw new ApiError(`The request failed: ${first.message} [${code}]${suffix}`, "failed");
    }
    return body.data;
  }

  // --- messages --------------------------------------------------------------------

  function showMessage(text, kind, retry) {
    const box = $("message");
    box.className = "message " + (kind || "info");
    $("message-text").textContent = text;
    $("retry").hidden = !retry;
    $("retry").onclick = retry || null;
    box.hidden = false;
  }

  function clearMessage() {
    $("message").hidden = true;
  }

  function fail(error, retry) {
    if (error instanceof ApiError && error.kind === "unauthenticated") {
      signOut(error.message);
      return;
    }
    showMessage(error.message || String(error), "error", retry);
  }

  // --- formatting ------------------------------------------------------------------

  const number = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  // Decimals arrive as strings; Number is only used for display and the chart.
  const fmt = (value) => (value === null || value === undefined ? "–" : number.format(Number(value)));
  const unitName = (units) => (units === "HOURS" ? "hours" : "credit");

  function isoToday() {
    const now = new Date();
    const month = String(now.getMonth() + 1).padStart(2, "0");
    const day = String(now.getDate()).padStart(2, "0");
    return `${now.getFullYear()}-${month}-${day}`;
  }

  function addDays(iso, days) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  // --- loading ---------------------------------------------------------------------

  const VIEWER = `query PortalViewer { me { role name company { id identifier name } } }`;
  const COMPANIES = `query PortalCompanies { companies { id identifier name } }`;
  const AGREEMENTS = `query PortalAgreements($companyId: ID, $days: Int) {
    agreements(companyId: $companyId, first: 100) {
      edges { node {
        id name status startDate endDate applicationUnits lowBalanceThreshold
        company { identifier name }
        balance {
          unitsPurchased unitsApplied unitsExpired unitsRemaining deferredRevenue percentRemaining isLow
          unitsScheduled nextExpiresOn unitsExpiringNext
        }
        forecast(days: $days) { days usagePerDay daysOfCover runsOutOn }
        invoices { id number kind date total }
      } }
    }
  }`;

  async function start() {
    clearMessage();
    if (!currentToken()) {
      signOut(null);
      clearMessage();
      return;
    }
    $("sign-in").hidden = true;
    $("portal").hidden = false;
    $("sign-out").hidden = false;
    $("loading").hidden = false;
    try {
      const data = await graphql(VIEWER);
      state.viewer = data.me;
      const company = data.me.company;
      $("who").textContent = company ? `${company.name} (${data.me.name})` : `${data.me.name} · ${data.me.role}`;
      if (data.me.role !== "CUSTOMER") {
        await loadCompanies();
      } else {
        $("company-picker").hidden = true;
        state.companyId = null;
      }
      await loadAgreements();
    } catch (error) {
      fail(error, start);
    } finally {
      $("loading").hidden = true;
    }
  }

  async function loadCompanies() {
    const data = await graphql(COMPANIES);
    const select = $("company");
    select.replaceChildren(
      ...data.companies.map((c) => {
        const option = document.createElement("option");
        option.value = c.id;
        option.textContent = `${c.name} (${c.identifier})`;
        return option;
      }),
    );
    if (!state.companyId && data.companies.length) {
      state.companyId = data.companies[0].id;
    }
    select.value = state.companyId || "";
    $("company-picker").hidden = false;
  }

  async function loadAgreements() {
    $("loading").hidden = false;
    try {
      const data = await graphql(AGREEMENTS, { companyId: state.companyId, days: FORECAST_DAYS });
      const agreements = data.agreements.edges.map((edge) => edge.node);
      const list = $("agreements");
      list.replaceChildren(...agreements.map(renderAgreement));
      if (!agreements.length) {
        const empty = document.createElement("p");
        empty.className = "empty";
        empty.textContent = "No agreements yet.";
        list.append(empty);
      }
      clearMessage();
    } catch (error) {
      fail(error, loadAgreements);
    } finally {
      $("loading").hidden = true;
    }
  }

  // --- one agreement ---------------------------------------------------------------

  function badge(list, text, kind) {
    const item = document.createElement("li");
    item.className = "badge " + kind;
    item.textContent = text;
    list.append(item);
  }

  function statusOf(agreement) {
    const balance = agreement.balance;
    const horizon = addDays(isoToday(), EXPIRING_WITHIN_DAYS);
    return {
      depleted: Number(balance.unitsRemaining) <= 0,
      low: balance.isLow,
      scheduled: Number(balance.unitsScheduled),
      expiringOn: balance.nextExpiresOn,
      expiringUnits: balance.unitsExpiringNext,
      expiringSoon: balance.nextExpiresOn !== null && balance.nextExpiresOn <= horizon,
    };
  }

  function renderAgreement(agreement) {
    const node = $("agreement-template").content.firstElementChild.cloneNode(true);
    const q = (selector) => node.querySelector(selector);
    const unit = unitName(agreement.applicationUnits);
    const balance = agreement.balance;
    const status = statusOf(agreement);

    node.dataset.agreementId = agreement.id;
    q(".agreement-name").textContent = agreement.name;
    const badges = q(".badges");
    if (agreement.status !== "ACTIVE") badge(badges, agreement.status.toLowerCase(), "muted");
    if (status.depleted) badge(badges, "Depleted", "danger");
    else if (status.low) badge(badges, "Low balance", "warning");
    else badge(badges, "OK", "ok");
    if (status.expiringSoon) badge(badges, `Expiring ${status.expiringOn}`, "warning");
    if (status.scheduled > 0) badge(badges, `${fmt(status.scheduled)} ${unit} scheduled`, "info");

    q(".remaining").textContent = fmt(balance.unitsRemaining);
    q(".unit").textContent = unit;
    q(".value").textContent = fmt(balance.deferredRevenue);
    q(".purchased").textContent = `${fmt(balance.unitsPurchased)} ${unit}`;
    q(".applied").textContent = `${fmt(balance.unitsApplied)} ${unit}`;
    q(".expired").textContent = `${fmt(balance.unitsExpired)} ${unit}`;
    q(".scheduled").textContent = `${fmt(balance.unitsScheduled)} ${unit}`;
    q(".expiry").textContent = status.expiringOn
      ? `${fmt(status.expiringUnits)} ${unit} expire on ${status.expiringOn}.`
      : "No units are due to expire.";

    q(".forecast-text").textContent = forecastText(agreement.forecast, unit);
    renderInvoices(q, agreement.invoices);
    setUpStatement(node, agreement, unit);
    return node;
  }

  function forecastText(forecast, unit) {
    if (forecast.daysOfCover === null) {
      return `Nothing was used in the last ${forecast.days} days, so there is no run-out date.`;
    }
    const pace = `At ${fmt(forecast.usagePerDay)} ${unit} a day (the last ${forecast.days} days)`;
    if (forecast.runsOutOn === null) {
      return `${pace} the balance covers ${fmt(forecast.daysOfCover)} days, but some units expire before then.`;
    }
    return `${pace} the balance covers ${fmt(forecast.daysOfCover)} days: it runs out on ${forecast.runsOutOn}.`;
  }

  function renderInvoices(q, invoices) {
    const rows = invoices.map((invoice) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of [
        [invoice.number, ""],
        [invoice.date, ""],
        [invoice.kind.replaceAll("_", " ").toLowerCase(), "wrap"],
        [fmt(invoice.total), "num"],
      ]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    q(".invoices tbody").replaceChildren(...rows);
    q(".invoices").hidden = !rows.length;
    q(".invoices-empty").hidden = rows.length > 0;
  }

  // --- the statement, its chart and its CSV ---------------------------------------

  const STATEMENT = `query PortalStatement($id: ID!, $from: Date!, $to: Date!) {
    agreement(id: $id) {
      statement(from: $from, to: $to) {
        from to openingUnits openingValue closingUnits closingValue
        lines { date kind description units value unitsAfter carriedUnits }
      }
    }
  }`;
  const MAX_RANGE_DAYS = 5 * 365; // the API refuses a range over 5 years

  function defaultRange(agreement) {
    const to = isoToday();
    const earliest = addDays(to, -MAX_RANGE_DAYS);
    const from = agreement.startDate > earliest ? agreement.startDate : earliest;
    return { from: from > to ? to : from, to: to };
  }

  async function fetchStatement(agreementId, from, to) {
    const data = await graphql(STATEMENT, { id: agreementId, from: from, to: to });
    return data.agreement.statement;
  }

  function setUpStatement(node, agreement, unit) {
    const q = (selector) => node.querySelector(selector);
    const range = defaultRange(agreement);
    const view = { statement: null };
    q(".from").value = range.from;
    q(".to").value = range.to;

    async function show(from, to, withChart) {
      try {
        const statement = await fetchStatement(agreement.id, from, to);
        view.statement = statement;
        renderStatement(q, statement);
        if (withChart) drawChart(q(".chart"), q(".chart-legend"), statement, unit);
      } catch (error) {
        fail(error, () => show(from, to, withChart));
      }
    }

    q(".range").addEventListener("submit", (event) => {
      event.preventDefault();
      const from = q(".from").value;
      const to = q(".to").value;
      if (!from || !to || from > to) {
        showMessage("Choose a range whose start is on or before its end.", "error");
        return;
      }
      show(from, to, false);
    });
    q(".csv").addEventListener("click", () => {
      if (view.statement) downloadCsv(agreement, view.statement);
    });
    show(range.from, range.to, true);
  }

  const KIND_NAMES = {
    PURCHASE: "Purchase",
    ALLOWANCE: "Allowance",
    ADJUSTMENT: "Adjustment",
    USAGE: "Time used",
    REVERSAL: "Reversal",
    ROLLOVER: "Rollover",
    EXPIRY: "Expired",
    REFUND: "Refund",
  };

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function renderStatement(q, statement) {
    const opening = document.createElement("tr");
    opening.append(cell(statement.from), cell("Opening"), cell(""), cell(""), cell(fmt(statement.openingValue), "num"),
      cell(fmt(statement.openingUnits), "num"));
    const rows = statement.lines.map((line) => {
      const tr = document.createElement("tr");
      tr.className = "kind-" + line.kind.toLowerCase();
      tr.append(
        cell(line.date),
        cell(KIND_NAMES[line.kind] || line.kind),
        cell(line.description, "wrap"),
        cell(fmt(line.units), "num"),
        cell(fmt(line.value), "num"),
        cell(fmt(line.unitsAfter), "num"),
      );
      return tr;
    });
    q(".statement tbody").replaceChildren(opening, ...rows);
    const closing = document.createElement("tr");
    closing.append(cell(statement.to), cell("Closing"), cell(""), cell(""), cell(fmt(statement.closingValue), "num"),
      cell(fmt(statement.closingUnits), "num"));
    q(".statement tfoot").replaceChildren(closing);
  }

  // A cell a spreadsheet would run as a formula (=, +, -, @) is prefixed with ' : CSV
  // injection. Numbers are written as the API sends them, so they stay numbers.
  function csvText(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replaceAll('"', '""') + '"' : text;
  }

  function statementCsv(statement) {
    const rows = [["date", "kind", "description", "units", "value", "unitsAfter"]];
    for (const line of statement.lines) {
      rows.push([line.date, line.kind, csvText(line.description), line.units, line.value, line.unitsAfter]);
    }
    return rows.map((row) => row.join(",")).join("\r\n") + "\r\n";
  }

  function downloadCsv(agreement, statement) {
    const blob = new Blob([statementCsv(statement)], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    const slug = agreement.name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
    link.href = url;
    link.download = `statement-${slug || agreement.id}-${statement.from}-${statement.to}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  const seconds = (iso) => Date.parse(iso + "T00:00:00Z") / 1000;

  // One point per day: the balance after that day's last line, with that day's purchases and expiries marked.
  function chartData(statement) {
    const days = [statement.from];
    const balance = [Number(statement.openingUnits)];
    const purchases = [null];
    const expiries = [null];
    for (const line of statement.lines) {
      if (days[days.length - 1] !== line.date) {
        days.push(line.date);
        balance.push(null);
        purchases.push(null);
        expiries.push(null);
      }
      const i = days.length - 1;
      balance[i] = Number(line.unitsAfter);
      if (line.kind === "PURCHASE" || line.kind === "ALLOWANCE") purchases[i] = Number(line.unitsAfter);
      if (line.kind === "EXPIRY") expiries[i] = Number(line.unitsAfter);
    }
    if (days[days.length - 1] !== statement.to) {
      days.push(statement.to);
      balance.push(Number(statement.closingUnits));
      purchases.push(null);
      expiries.push(null);
    }
    return [days.map(seconds), balance, purchases, expiries];
  }

  function drawChart(container, legend, statement, unit) {
    const data = chartData(statement);
    const bought = data[2].filter((v) => v !== null).length;
    const expired = data[3].filter((v) => v !== null).length;
    const summary =
      `Balance from ${fmt(statement.openingUnits)} ${unit} on ${statement.from} to ` +
      `${fmt(statement.closingUnits)} ${unit} on ${statement.to}; ${bought} purchase(s), ${expired} expiry(ies).`;
    container.setAttribute("aria-label", summary);
    legend.textContent = summary;
    container.replaceChildren();
    if (typeof uPlot === "undefined") {
      legend.textContent = "The chart could not be drawn. " + summary;
      return;
    }
    const width = () => Math.max(280, container.clientWidth);
    const chart = new uPlot(
      {
        width: width(),
        height: 220,
        scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{}, { label: unit, size: 60 }],
        series: [
          {},
          { label: "Balance", stroke: "#1d4ed8", fill: "rgba(29, 78, 216, 0.08)", width: 2, spanGaps: true,
            paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
          { label: "Purchase", stroke: "#166534", width: 0, paths: () => null,
            points: { show: true, size: 10, fill: "#166534" } },
          { label: "Expiry", stroke: "#991b1b", width: 0, paths: () => null,
            points: { show: true, size: 10, fill: "#991b1b" } },
        ],
      },
      data,
      container,
    );
    new ResizeObserver(() => chart.setSize({ width: width(), height: 220 })).observe(container);
  }

  // --- wiring ----------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    takeTokenFromFragment();
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("token").value.trim();
      $("token").value = "";
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      start();
    });
    $("sign-out").addEventListener("click", () => signOut(null));
    $("company").addEventListener("change", (event) => {
      state.companyId = event.target.value;
      loadAgreements();
    });
    start();
  });
})();
