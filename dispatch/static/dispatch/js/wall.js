// The command-centre wall: read-only and readable across a room. The city map, open incidents, units by
// status and today's response figures. It shows no caller and no complaint: a wall is seen by everyone.

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import {
  INCIDENT_STATUS, PRIORITY, UNIT_STATUS, UNIT_STATUS_ORDER, duration, fmt, minutes, secondsSince, stacked, unitOnMap,
} from "./labels.js";
import { LiveStream, showLinkStatus } from "./live.js";
import { MarkerSet, createMap, unitLabel } from "./map.js";
import { config, everySecond } from "./shell.js";
import { Store } from "./store.js";

const store = new Store();
const { map } = createMap($("#map"), config, { dark: true, keyboard: false });
map.scrollWheelZoom.disable();
const unitMarkers = new MarkerSet(map, {
  zIndexOffset: 500,
  signature: (unit) => [unit.call_sign, unit.status, unit.atPost, unit.stack],
  icon: (unit) => unitLabel(unit, [unit.atPost && "is-stale"]),
});
const incidentMarkers = new MarkerSet(map, {
  zIndexOffset: 1000,
  signature: (incident) => [incident.priority, incident.status],
  icon: (incident) => h("div", { class: ["mk-incident", "p" + incident.priority, "st-" + incident.status] }, String(incident.priority)),
});

const ACTIVE = ["assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"];

function order(a, b) {
  const waiting = Number(b.status === "pending") - Number(a.status === "pending");
  return waiting || a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at);
}

function renderIncidents() {
  const incidents = store.openIncidents().sort(order);
  $("#incident-count").textContent = String(incidents.length);
  const list = $("#wall-incidents");
  fillIncidents(list, incidents, incidents.length);
  for (let shown = incidents.length; shown >= 1; shown -= 1) {
    fillIncidents(list, incidents, shown);
    if (list.scrollHeight <= list.clientHeight + 1) return;
  }
}

// As many as the wall can show, most urgent first; the rest are counted.
function fillIncidents(list, incidents, count) {
  const shown = incidents.slice(0, count);
  replace(list,
    shown.map((incident) => {
      const active = (incident.assignments || []).filter((a) => ACTIVE.includes(a.status));
      const units = active.map((a) => a.unit.call_sign + (a.status === "en_route" && a.eta_seconds !== null
        ? " (" + fmt(gettext("ETA %(eta)s"), { eta: minutes(a.eta_seconds) }) + ")" : "")).join(", ");
      return h("li", { class: ["p" + incident.priority, "st-" + incident.status], dataset: { incident: incident.id } },
        h("span", { class: ["prio", "p" + incident.priority] }, incident.priority + " " + PRIORITY[incident.priority]),
        h("span", { class: "where" }, [incident.kelurahan, incident.kecamatan].filter(Boolean).join(", ") || incident.number || "–"),
        h("span", { class: "age", dataset: { since: incident.received_at } }, duration(secondsSince(incident.received_at))),
        h("span", { class: "state" }, [INCIDENT_STATUS[incident.status], units].filter(Boolean).join(" · ")));
    }),
    incidents.length > shown.length ? h("li", { class: "more" }, fmt(gettext("and %(n)s more"), { n: incidents.length - shown.length })) : null,
    incidents.length ? null : h("li", { class: "more" }, gettext("No open incidents.")));
}

function renderUnits() {
  const units = [...store.units.values()];
  $("#unit-count").textContent = String(units.length);
  replace($("#wall-units"), UNIT_STATUS_ORDER.map((status) => {
    const these = units.filter((u) => u.status === status).sort((a, b) => a.call_sign.localeCompare(b.call_sign));
    if (!these.length && !["available", "en_route", "on_scene", "out_of_service"].includes(status)) return null;
    return h("li", { dataset: { status } },
      h("span", { class: "n" }, String(these.length)),
      h("span", { class: ["unit-status", "us-" + status] }, UNIT_STATUS[status]),
      h("span", { class: "signs" }, these.map((u) => h("span", { class: "sign" }, u.call_sign))));
  }));
}

function figure(value, label, extra) {
  return h("div", { class: "figure" }, h("span", { class: "value" }, value), h("span", { class: "label" }, extra || null, label));
}

const asTime = (seconds) => (seconds === null || seconds === undefined ? "–" : duration(seconds));

async function loadFigures() {
  let report;
  try {
    report = await api("/api/v1/reports/today/");
  } catch {
    return;
  }
  const overall = report.overall;
  const byPriority = report.by_priority || {};
  replace($("#figures"),
    figure(String(report.incidents), gettext("incidents today")),
    figure(asTime(overall.response.median), gettext("response time, median")),
    figure(asTime(overall.response.p90), gettext("response time, 90th percentile")),
    figure(asTime(overall.call_to_dispatch.median), gettext("call to dispatch, median")),
    h("div", { class: "figure-group" }, [1, 2, 3].map((p) => figure(
      asTime(byPriority[p] ? byPriority[p].response.median : null), gettext("median"),
      h("span", { class: ["prio", "p" + p] }, p + " " + PRIORITY[p])))));
}

let frame = null;
let figuresTimer = null;
store.subscribe((change) => {
  if (change.type === "incident.updated" && !["pending", "dispatched", "on_scene", "transporting"].includes(change.data.status)) {
    clearTimeout(figuresTimer);
    figuresTimer = setTimeout(loadFigures, 3000);
  }
  if (frame) return;
  frame = window.requestAnimationFrame(() => {
    frame = null;
    renderIncidents();
    renderUnits();
    incidentMarkers.sync(store.openIncidents());
    unitMarkers.sync(stacked([...store.units.values()].map(unitOnMap)));
  });
});

// The list shows as many incidents as fit: refit when the space changes (figures loaded, window resized).
new ResizeObserver(() => renderIncidents()).observe($("#wall-incidents").parentElement);

const stream = new LiveStream({
  onSnapshot: (data) => store.snapshot(data),
  onEvent: (envelope) => store.apply(envelope),
  onStatus: showLinkStatus,
});
stream.start();
loadFigures();
setInterval(loadFigures, 60000);
everySecond((now) => {
  for (const el of document.querySelectorAll("[data-since]")) el.textContent = duration(secondsSince(el.dataset.since, now));
});

window.pscWall = { stream, store };
