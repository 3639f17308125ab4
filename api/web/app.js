// shiptrack Track & Trace: looks a shipment up with POST /shipment/ and
// shows its status, route, contents and the weather at the receiver.
// No dependencies, no build step; every text from the API goes into the
// page as text (never as HTML).
(function () {
  "use strict";

  const DEFAULT_TIMEOUT_MS = 8000;
  const OTHER = "__other";
  const CURRENCY = "€"; // the API sends plain decimal strings

  const MSG = {
    notFound: "We could not find a shipment with this tracking number and carrier.",
    generic: "Something went wrong on our side. Please try again.",
    slow: "This is taking longer than usual. Please try again.",
    needTN: "Enter your tracking number.",
    needCarrier: "Choose your carrier.",
    needOther: "Enter the name of your carrier.",
    noWeather: "Weather not available yet",
  };

  // The steps of a parcel's journey, and the API statuses that mean each.
  const STEPS = ["Registered", "In transit", "Out for delivery", "Delivered"];
  const STEP_TEXT = [
    "The carrier has registered your parcel and will send it on its way soon.",
    "Your parcel is on its way.",
    "Your parcel is out for delivery.",
    "Your parcel has been delivered.",
  ];
  const STATUS_STEP = {
    pending: 0, registered: 0, created: 0, "label-created": 0, "pre-transit": 0, "info-received": 0,
    scanned: 0, accepted: 0,
    "inbound-scan": 1, "picked-up": 1, "in-transit": 1, transit: 1, departed: 1,
    arrived: 1, "at-hub": 1, "outbound-scan": 1, processing: 1,
    delivery: 2, "out-for-delivery": 2, "on-delivery": 2, "with-courier": 2,
    delivered: 3,
  };

  const $ = (id) => document.getElementById(id);
  const form = $("track-form");
  const tnInput = $("tracking-number");
  const carrierSelect = $("carrier");
  const otherField = $("carrier-other-field");
  const otherInput = $("carrier-other");
  const button = $("track-button");
  const result = $("result");

  let inflight = null; // AbortController of the lookup in progress

  // h builds an element: h("p", {class: "x"}, "text", child, ...).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // ---- formatting -------------------------------------------------------

  function pretty(raw) {
    const s = String(raw || "").replace(/[-_]+/g, " ").replace(/\s+/g, " ").trim();
    if (!s) return "Unknown";
    return s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
  }

  function statusStep(status) {
    const key = String(status || "").trim().toLowerCase().replace(/[\s_]+/g, "-");
    return Object.prototype.hasOwnProperty.call(STATUS_STEP, key) ? STATUS_STEP[key] : -1;
  }

  // "Street 1, 10115 Berlin, Germany" -> "Berlin, Germany".
  function cityOf(address) {
    const parts = String(address || "").split(",").map((p) => p.trim()).filter(Boolean);
    if (parts.length === 0) return "";
    const tail = parts.slice(-2);
    if (tail.length === 2) {
      // Drop a leading postal code such as "10115", "1000" or "D-10115".
      tail[0] = tail[0].replace(/^(?:[A-Z]{1,2}-)?\d[\dA-Z-]*\s+/i, "") || tail[0];
    }
    return tail.join(", ");
  }

  function receiverCity(s) {
    const l = s.receiver_location;
    if (l && (l.city || l.country)) return [l.city, l.country].filter(Boolean).join(", ");
    return cityOf(s.receiver_address);
  }

  // Money stays in integer cents: "800.00" -> 80000. null when unparseable.
  function toCents(price) {
    const m = /^\s*(-?)(\d+)(?:\.(\d{1,2}))?\s*$/.exec(String(price));
    if (!m) return null;
    const cents = Number(m[2]) * 100 + Number((m[3] || "0").padEnd(2, "0"));
    if (!Number.isSafeInteger(cents)) return null;
    return m[1] === "-" ? -cents : cents;
  }

  function formatCents(cents) {
    const neg = cents < 0;
    const abs = Math.abs(cents);
    const units = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const frac = String(abs % 100).padStart(2, "0");
    return (neg ? "−" : "") + CURRENCY + units + "." + frac;
  }

  function formatPrice(price) {
    const c = toCents(price);
    return c === null ? String(price) : formatCents(c);
  }

  function ago(iso, now) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "";
    const s = Math.max(0, Math.floor((now - t) / 1000));
    if (s < 60) return "just now";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min ago";
    const hrs = Math.floor(m / 60);
    if (hrs < 24) return hrs + (hrs === 1 ? " hour ago" : " hours ago");
    const d = Math.floor(hrs / 24);
    return d + (d === 1 ? " day ago" : " days ago");
  }

  function formatDateTime(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "";
    return new Intl.DateTimeFormat("en-GB", {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    }).format(new Date(t));
  }

  // An event's time in the reader's own locale and time zone, with the
  // zone named: a parcel's journey crosses zones.
  function formatLocalTime(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return "";
    return new Intl.DateTimeFormat(undefined, {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    }).format(new Date(t));
  }

  // ---- journey ----------------------------------------------------------

  // The tracking events as a timeline, newest first as the API sends them.
  function journeyCard(s) {
    const events = Array.isArray(s.events) ? s.events : [];
    if (events.length === 0) return null;
    const items = events.map((e, i) => {
      const label = pretty(e.status);
      const own = e.status_text && pretty(e.status_text) !== label ? e.status_text : "";
      return h("li", { class: "event" + (i === 0 ? " event-latest" : "") },
        h("time", { class: "event-time", datetime: e.occurred_at }, formatLocalTime(e.occurred_at)),
        h("p", { class: "event-status" }, label, own ? h("span", { class: "muted" }, " · " + own) : null),
        e.location ? h("p", { class: "event-location" }, e.location) : null,
        e.message ? h("p", { class: "event-message" }, e.message) : null);
    });
    const more = (s.event_count || 0) > events.length
      ? h("p", { class: "muted small" }, "Showing the latest " + events.length + " of " + s.event_count + " updates.")
      : null;
    return h("section", { class: "card journey", id: "journey", "aria-labelledby": "journey-title" },
      h("h3", { id: "journey-title" }, "Journey"),
      h("ol", { class: "timeline", id: "timeline" }, items),
      more);
  }

  // ---- weather ----------------------------------------------------------

  // Icon name from the condition text, else from the provider's code
  // (WeatherAPI.com codes are >= 1000, Open-Meteo's WMO codes < 100).
  function weatherIcon(condition, code) {
    const t = String(condition || "").toLowerCase();
    if (/thunder|storm|lightning/.test(t)) return "storm";
    if (/snow|sleet|blizzard|ice|hail|flurr/.test(t)) return "snow";
    if (/rain|drizzle|shower/.test(t)) return "rain";
    if (/fog|mist|haze|smoke/.test(t)) return "fog";
    if (/partly|partial|mainly|broken|scattered|few clouds|intervals/.test(t)) return "partly-cloudy";
    if (/cloud|overcast/.test(t)) return "cloud";
    if (/sun|clear|fair/.test(t)) return "sun";
    const n = Number(code);
    if (!String(code || "").trim() || !Number.isInteger(n)) return "";
    if (n >= 1000) {
      if (n === 1000) return "sun";
      if (n === 1003) return "partly-cloudy";
      if (n === 1006 || n === 1009) return "cloud";
      if (n === 1030 || n === 1135 || n === 1147) return "fog";
      if ([1087, 1273, 1276, 1279, 1282].includes(n)) return "storm";
      if ([1066, 1069, 1072, 1114, 1117, 1204, 1207, 1237, 1249, 1252, 1261, 1264].includes(n) ||
          (n >= 1210 && n <= 1225) || (n >= 1255 && n <= 1258)) return "snow";
      return "rain";
    }
    if (n <= 1) return "sun";
    if (n === 2) return "partly-cloudy";
    if (n === 3) return "cloud";
    if (n === 45 || n === 48) return "fog";
    if ((n >= 71 && n <= 77) || n === 85 || n === 86) return "snow";
    if (n >= 95) return "storm";
    if (n >= 51) return "rain";
    return "";
  }

  function weatherCard(s) {
    const place = (s.receiver_location && s.receiver_location.city) || receiverCity(s) || "the destination";
    const title = h("h3", { id: "weather-title" }, "Weather in " + place);
    const w = s.weather;
    if (!w) {
      return h("section", { class: "card weather", id: "weather", "aria-labelledby": "weather-title" },
        title,
        h("p", { class: "weather-empty" }, MSG.noWeather),
        h("p", { class: "muted small" }, "We show the weather at the destination once it has been fetched."));
    }
    const icon = weatherIcon(w.condition, w.condition_code);
    const temp = Math.round(Number(w.temperature_c)) || 0; // || 0 turns -0 into 0
    const when = w.observed_at || w.fetched_at;
    const updated = h("time", { datetime: when, title: formatDateTime(when), "data-ago": when }, ago(when, Date.now()));
    return h("section", { class: "card weather", id: "weather", "aria-labelledby": "weather-title" },
      title,
      h("div", { class: "weather-now" },
        icon ? h("img", { class: "weather-icon", src: "/assets/icons/" + icon + ".svg", alt: "", width: 64, height: 64 }) : null,
        h("div", {},
          h("p", { class: "temp" }, h("span", { class: "temp-value" }, String(temp)), h("span", { class: "temp-unit" }, "°C")),
          h("p", { class: "condition" }, w.condition || "Conditions unknown"))),
      h("dl", { class: "weather-facts" },
        h("div", {}, h("dt", {}, "Humidity"), h("dd", {}, Math.round(Number(w.humidity) || 0) + "%")),
        h("div", {}, h("dt", {}, "Wind"), h("dd", {}, Math.round(Number(w.wind_kph) || 0) + " km/h"))),
      h("p", { class: "weather-updated muted small" }, "Updated ", updated),
      w.stale ? h("p", { class: "notice notice-warn small", id: "weather-stale" },
        "This weather report may be out of date.") : null);
  }

  // ---- rendering --------------------------------------------------------

  function progress(step) {
    return h("ol", { class: "steps", "aria-label": "Shipment progress" },
      STEPS.map((label, i) => {
        const state = i < step ? "done" : i === step ? "current" : "todo";
        const sr = i < step ? " (completed)" : i === step ? " (current step)" : "";
        return h("li", { class: "step step-" + state, "aria-current": i === step ? "step" : null },
          h("span", { class: "step-dot", "aria-hidden": "true" }),
          h("span", { class: "step-label" }, label, sr ? h("span", { class: "visually-hidden" }, sr) : null));
      }));
  }

  function articlesCard(s) {
    const articles = Array.isArray(s.articles) ? s.articles : [];
    let total = 0;
    let exact = true;
    const rows = articles.map((a) => {
      const unit = toCents(a.price);
      const qty = Number.isInteger(a.quantity) ? a.quantity : 0;
      const line = unit === null ? null : unit * qty;
      if (line === null || !Number.isSafeInteger(total + line)) exact = false;
      else total += line;
      return h("tr", {},
        h("th", { scope: "row" }, h("span", { class: "article-name" }, a.name || "Article"),
          a.sku ? h("span", { class: "sku" }, "SKU " + a.sku) : null),
        h("td", { class: "num" }, String(qty)),
        h("td", { class: "num" }, formatPrice(a.price)),
        h("td", { class: "num" }, line === null ? "—" : formatCents(line)));
    });
    const count = articles.reduce((n, a) => n + (Number.isInteger(a.quantity) ? a.quantity : 0), 0);
    return h("section", { class: "card articles", "aria-labelledby": "articles-title" },
      h("h3", { id: "articles-title" }, "Contents", h("span", { class: "count" }, count + (count === 1 ? " item" : " items"))),
      articles.length === 0 ? h("p", { class: "muted" }, "No articles listed for this shipment.") :
        h("div", { class: "table-scroll" },
          h("table", { id: "articles" },
            h("caption", { class: "visually-hidden" }, "Articles in this shipment"),
            h("thead", {}, h("tr", {},
              h("th", { scope: "col" }, "Article"),
              h("th", { scope: "col", class: "num" }, "Qty"),
              h("th", { scope: "col", class: "num" }, "Price"),
              h("th", { scope: "col", class: "num" }, "Amount"))),
            h("tbody", {}, rows),
            h("tfoot", {}, h("tr", {},
              h("th", { scope: "row", colspan: 3 }, "Total"),
              h("td", { class: "num", id: "articles-total" }, exact ? formatCents(total) : "—"))))));
  }

  function shipmentCard(s) {
    const step = statusStep(s.status);
    const label = step >= 0 ? STEPS[step] : pretty(s.status);
    const from = cityOf(s.sender_address);
    const to = receiverCity(s);
    return h("article", { class: "card shipment", id: "shipment", "aria-labelledby": "shipment-title" },
      h("div", { class: "shipment-head" },
        h("div", {},
          h("p", { class: "eyebrow" }, h("span", { id: "shipment-carrier" }, s.carrier), " · Tracking number"),
          h("h2", { id: "shipment-title" }, s.tracking_number)),
        h("span", { class: "badge badge-" + (step >= 0 ? "step" + step : "neutral"), id: "shipment-status" }, label)),
      h("p", { class: "status-text" }, step >= 0 ? STEP_TEXT[step] : "Latest status from the carrier: " + label + "."),
      step >= 0 ? progress(step) : null,
      h("dl", { class: "route" },
        h("div", { class: "route-from" }, h("dt", {}, "From"), h("dd", { id: "sender-city" }, from || "—")),
        h("div", { class: "route-arrow", "aria-hidden": "true" }, "→"),
        h("div", { class: "route-to" }, h("dt", {}, "To"), h("dd", { id: "receiver-city" }, to || "—"))),
      s.updated_at ? h("p", { class: "muted small" }, "Last status update: ",
        h("time", { datetime: s.updated_at }, formatDateTime(s.updated_at))) : null);
  }

  function render(s) {
    result.replaceChildren(...[
      shipmentCard(s),
      journeyCard(s),
      h("div", { class: "details" }, articlesCard(s), weatherCard(s)),
    ].filter(Boolean));
  }

  function showError(text, kind) {
    result.replaceChildren(
      h("div", { class: "notice notice-" + (kind || "error"), id: "lookup-error" },
        h("p", {}, text)));
  }

  function showLoading() {
    result.replaceChildren(
      h("p", { class: "loading", id: "loading" },
        h("span", { class: "spinner", "aria-hidden": "true" }), "Looking up your shipment…"));
  }

  function setBusy(busy) {
    result.setAttribute("aria-busy", busy ? "true" : "false");
    form.classList.toggle("is-busy", busy);
    button.querySelector(".button-label").textContent = busy ? "Looking up…" : "Track parcel";
  }

  // ---- form -------------------------------------------------------------

  function fieldError(input, errorEl, text) {
    if (text) {
      errorEl.textContent = text;
      errorEl.hidden = false;
      input.setAttribute("aria-invalid", "true");
    } else {
      errorEl.textContent = "";
      errorEl.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  }

  function clearErrors() {
    fieldError(tnInput, $("tracking-number-error"), "");
    fieldError(carrierSelect, $("carrier-error"), "");
    fieldError(otherInput, $("carrier-other-error"), "");
  }

  function syncOther() {
    const other = carrierSelect.value === OTHER;
    otherField.hidden = !other;
    otherInput.required = other;
  }

  function carrierValue() {
    return carrierSelect.value === OTHER ? otherInput.value.trim() : carrierSelect.value.trim();
  }

  function setCarrier(name) {
    const known = Array.from(carrierSelect.options).find(
      (o) => o.value && o.value !== OTHER && o.value.toLowerCase() === name.trim().toLowerCase());
    if (known) {
      carrierSelect.value = known.value;
      otherInput.value = "";
    } else if (name.trim()) {
      carrierSelect.value = OTHER;
      otherInput.value = name.trim();
    }
    syncOther();
  }

  // validate shows inline messages and returns the first bad input.
  function validate() {
    clearErrors();
    let first = null;
    if (!tnInput.value.trim()) {
      fieldError(tnInput, $("tracking-number-error"), MSG.needTN);
      first = first || tnInput;
    }
    if (!carrierSelect.value) {
      fieldError(carrierSelect, $("carrier-error"), MSG.needCarrier);
      first = first || carrierSelect;
    } else if (carrierSelect.value === OTHER && !otherInput.value.trim()) {
      fieldError(otherInput, $("carrier-other-error"), MSG.needOther);
      first = first || otherInput;
    }
    return first;
  }

  // The API's 400 problem: mark the fields it names, and say what is wrong.
  function badRequest(problem) {
    const names = { tracking_number: "Tracking number", carrier: "Carrier" };
    const params = problem && Array.isArray(problem.invalid_params) ? problem.invalid_params : [];
    const parts = [];
    for (const p of params) {
      const label = names[p.name];
      if (!label) continue;
      const text = label + " " + String(p.reason || "is not valid") + ".";
      parts.push(text);
      if (p.name === "tracking_number") fieldError(tnInput, $("tracking-number-error"), text);
      else if (carrierSelect.value === OTHER) fieldError(otherInput, $("carrier-other-error"), text);
      else fieldError(carrierSelect, $("carrier-error"), text);
    }
    if (parts.length === 0 && problem && problem.detail) parts.push(String(problem.detail));
    return parts.length ? "Please check your input. " + parts.join(" ") : MSG.generic;
  }

  function timeoutMs() {
    // data-timeout-ms on <html> lets tests shorten the wait.
    const v = Number(document.documentElement.dataset.timeoutMs);
    return v > 0 ? v : DEFAULT_TIMEOUT_MS;
  }

  function shareURL(carrier, tn) {
    const q = new URLSearchParams();
    q.set("carrier", carrier);
    q.set("tracking_number", tn);
    history.replaceState(null, "", location.pathname + "?" + q.toString());
  }

  async function lookup(carrier, tn) {
    if (inflight) inflight.abort();
    const ctrl = new AbortController();
    inflight = ctrl;
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, timeoutMs());
    setBusy(true);
    showLoading();
    shareURL(carrier, tn);
    try {
      const res = await fetch("/shipment/", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json, application/problem+json" },
        body: JSON.stringify({ tracking_number: tn, carrier: carrier }),
        signal: ctrl.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      let body = null;
      try {
        body = await res.json();
      } catch (e) {
        if (ctrl.signal.aborted) throw e;
        body = null;
      }
      if (ctrl !== inflight) return;
      if (res.ok && body && typeof body === "object" && typeof body.tracking_number === "string") {
        render(body);
      } else if (res.status === 404) {
        showError(MSG.notFound, "info");
      } else if (res.status === 400 || res.status === 422) {
        showError(badRequest(body));
      } else {
        showError(MSG.generic);
      }
    } catch (e) {
      if (ctrl !== inflight) return;
      showError(timedOut ? MSG.slow : MSG.generic);
    } finally {
      clearTimeout(timer);
      if (ctrl === inflight) {
        inflight = null;
        setBusy(false);
      }
    }
  }

  function submit() {
    const bad = validate();
    if (bad) {
      bad.focus();
      return;
    }
    lookup(carrierValue(), tnInput.value.trim());
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  carrierSelect.addEventListener("change", () => {
    syncOther();
    fieldError(carrierSelect, $("carrier-error"), "");
    if (carrierSelect.value === OTHER) otherInput.focus();
  });
  tnInput.addEventListener("input", () => fieldError(tnInput, $("tracking-number-error"), ""));
  otherInput.addEventListener("input", () => fieldError(otherInput, $("carrier-other-error"), ""));

  // Keep "updated N min ago" true while the page stays open.
  setInterval(() => {
    for (const el of result.querySelectorAll("time[data-ago]")) {
      el.textContent = ago(el.dataset.ago, Date.now());
    }
  }, 30000);

  // Deep link: /?carrier=DHL&tracking_number=TN12345678 opens the shipment.
  const q = new URLSearchParams(location.search);
  const qCarrier = (q.get("carrier") || "").trim();
  const qTN = (q.get("tracking_number") || "").trim();
  syncOther();
  if (qTN) tnInput.value = qTN;
  if (qCarrier) setCarrier(qCarrier);
  if (qTN && qCarrier) lookup(carrierValue(), qTN);
})();
