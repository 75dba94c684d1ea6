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
        balance { unitsPurchased unitsApplied unitsExpired unitsRemaining deferredRevenue percentRemaining isLow }
        forecast(days: $days) { days usagePerDay daysOfCover runsOutOn }
        lots { unitsRemaining effectiveDate expiresOn }
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
    const today = isoToday();
    const horizon = addDays(today, EXPIRING_WITHIN_DAYS);
    let scheduled = 0;
    let expiringUnits = 0;
    let expiringOn = null;
    for (const lot of agreement.lots) {
      if (lot.effectiveDate > today) {
        scheduled += Number(lot.unitsRemaining);
      } else if (lot.expiresOn && Number(lot.unitsRemaining) > 0 && lot.expiresOn > today) {
        if (expiringOn === null || lot.expiresOn < expiringOn) {
          expiringOn = lot.expiresOn;
          expiringUnits = 0;
        }
        if (lot.expiresOn === expiringOn) expiringUnits += Number(lot.unitsRemaining);
      }
    }
    return {
      depleted: Number(agreement.balance.unitsRemaining) <= 0,
      low: agreement.balance.isLow,
      scheduled: scheduled,
      expiringOn: expiringOn,
      expiringUnits: expiringUnits,
      expiringSoon: expiringOn !== null && expiringOn <= horizon,
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
    q(".scheduled").textContent = `${fmt(status.scheduled)} ${unit}`;
    q(".expiry").textContent = status.expiringOn
      ? `${fmt(status.expiringUnits)} ${unit} expire on ${status.expiringOn}.`
      : "No units are due to expire.";

    q(".forecast-text").textContent = forecastText(agreement.forecast, unit);
    renderInvoices(q, agreement.invoices);
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
        [invoice.kind.replaceAll("_", " ").toLowerCase(), ""],
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
