// The dispatcher console: the incident queue, the unit board, the live map, the selected incident with
// the system's recommendations (road ETAs), one-click assign / reassign / cancel, and alerts that stay
// until a dispatcher acknowledges them; move-up recommendations, emergency departments' status, and pre-emptions.

import { api, query } from "./api.js";
import { $, h, replace, safeWebUrl } from "./dom.js";
import {
  ACTIVE_ASSIGNMENT, ALERT_TITLE, ASSIGNMENT_SHORT, ASSIGNMENT_STATUS, ENDED_REASON, CRITICAL_ALERTS, INCIDENT_STATUS, KIND, PRIORITY, UNIT_STATUS,
  UNIT_STATUS_ORDER, ago, alertText, shortNumber, stacked, unitOnMap, clockTime, dateTime, duration, fmt, kilometres, minutes, place, secondsSince,
} from "./labels.js";
import { LiveStream, showLinkStatus } from "./live.js";
import { HospitalBoard } from "./hospitals.js";
import { MarkerSet, createMap, unitLabel } from "./map.js";
import { MoveUpPanel } from "./moveup.js";
import { config, everySecond } from "./shell.js";
import { alarm, armSound, chime, onSoundChange, soundStats } from "./sound.js";
import { Store } from "./store.js";

const store = new Store();
const state = {
  selected: null,
  recommendations: { incident: null, units: null, error: null, loading: false },
  nearestCameras: { incident: null, cameras: [] },
  cameras: [],
  alerts: new Map(), // key → {key, seq, code, data, at, local}
  cancelOpen: false,
  actionError: "",
  busy: false,
};
const LATE_GRACE_SECONDS = 120;
// Sections are rebuilt only when what they show has changed, so a click is never lost to a redraw.
const signatures = {};
function changed(name, value) {
  const signature = JSON.stringify(value);
  if (signatures[name] === signature) return false;
  signatures[name] = signature;
  return true;
}
const LOCAL_ACKS_KEY = "psc119.console.acknowledged";
const localAcks = new Set(JSON.parse(window.localStorage.getItem(LOCAL_ACKS_KEY) || "[]"));

// --- Map --------------------------------------------------------------------------------------------

const { map } = createMap($("#map"), config);
const cameraMarkers = new MarkerSet(map, {
  signature: (camera) => [camera.name, camera.near],
  icon: (camera) => h("div", { class: ["mk-camera", camera.near && "is-near"], title: camera.name }, "CCTV"),
  onClick: (id) => openCamera(state.cameras.find((c) => c.id === id)),
});
const unitMarkers = new MarkerSet(map, {
  zIndexOffset: 500,
  signature: (unit) => [unit.call_sign, unit.status, unit.atPost || isStale(unit), unit.stack],
  icon: (unit) => unitLabel(unit, [(unit.atPost || isStale(unit)) && "is-stale"]),
  onClick: (id) => focusUnit(id),
});
const incidentMarkers = new MarkerSet(map, {
  zIndexOffset: 1000,
  signature: (incident) => [incident.priority, incident.status, incident.number, incident.complaint, incident.id === state.selected],
  icon: (incident) => h("div", {
    class: ["mk-incident", "p" + incident.priority, "st-" + incident.status, incident.id === state.selected && "is-selected"],
    title: (incident.number || "") + " · " + incident.complaint,
  }, String(incident.priority)),
  onClick: (id) => select(id),
});

const moveUp = new MoveUpPanel({ map, store, canApply: config.canDispatch });
const hospitals = new HospitalBoard({ map, canChange: config.canDispatch });

// A position older than the ranking trusts (a unit that never reported one is simply at its post).
function isStale(unit) {
  const age = secondsSince(unit.location_at);
  return age !== null && age > config.positionStaleSeconds;
}

// --- Queue ------------------------------------------------------------------------------------------

function queueOrder(a, b) {
  return a.priority - b.priority || Date.parse(a.received_at) - Date.parse(b.received_at) || a.id - b.id;
}

function unitLine(incident) {
  return store.activeAssignments(incident).map((a) =>
    h("span", { class: ["chip", "as-" + a.status] }, a.unit.call_sign + " · " + (ASSIGNMENT_SHORT[a.status] || a.status)));
}

function queueItem(incident) {
  const selected = incident.id === state.selected;
  return h("button", {
    type: "button",
    class: ["inc", "p" + incident.priority, "st-" + incident.status, selected && "is-selected"],
    "aria-pressed": selected ? "true" : "false",
    dataset: { id: incident.id },
    onclick: () => select(incident.id),
  },
  h("span", { class: ["prio", "p" + incident.priority], title: PRIORITY[incident.priority] }, String(incident.priority)),
  h("span", { class: "line1" },
    h("span", { class: "number", title: incident.number }, shortNumber(incident)),
    h("span", { class: "complaint" }, incident.complaint)),
  h("span", { class: "age", dataset: { since: incident.received_at } }, duration(secondsSince(incident.received_at))),
  h("span", { class: "line2" },
    store.activeAssignments(incident).length
      ? unitLine(incident)
      : wasPreempted(incident)
        ? h("span", { class: "chip preempted", title: INCIDENT_STATUS.pending }, gettext("Unit taken for P1"))
        : h("span", { class: ["chip", "st-" + incident.status] }, INCIDENT_STATUS[incident.status] || incident.status),
    incident.outside_service_area && h("span", { class: "chip warn" }, gettext("Outside area")),
    incident.kelurahan || incident.kecamatan || ""));
}

// Waiting again because its unit was taken for a priority-1 incident.
function wasPreempted(incident) {
  return incident.status === "pending" && (incident.assignments || []).some((a) => a.ended_reason === "pre-empted");
}

function renderQueue() {
  const incidents = store.openIncidents();
  if (!changed("queue", [state.selected, incidents])) return;
  const waiting = incidents.filter((i) => i.status === "pending").sort(queueOrder);
  const handled = incidents.filter((i) => i.status !== "pending").sort(queueOrder);
  const focused = document.activeElement && document.activeElement.closest(".inc");
  const focusedId = focused ? focused.dataset.id : null;
  replace($("#queue"),
    waiting.length ? h("h3", null, fmt(gettext("Waiting for a unit (%(n)s)"), { n: waiting.length })) : null,
    waiting.map(queueItem),
    handled.length ? h("h3", null, fmt(gettext("In progress (%(n)s)"), { n: handled.length })) : null,
    handled.map(queueItem),
    incidents.length ? null : h("p", { class: "empty" }, gettext("No open incidents.")));
  $("#queue-count").textContent = String(incidents.length);
  if (focusedId) $('#queue .inc[data-id="' + focusedId + '"]')?.focus();
}

// --- Units ------------------------------------------------------------------------------------------

function renderUnits() {
  const units = [...store.units.values()].sort((a, b) =>
    UNIT_STATUS_ORDER.indexOf(a.status) - UNIT_STATUS_ORDER.indexOf(b.status) || a.call_sign.localeCompare(b.call_sign));
  const free = units.filter((u) => u.status === "available" || u.status === "returning").length;
  $("#units-count").textContent = fmt(gettext("%(free)s of %(all)s free"), { free, all: units.length });
  const shown = units.map((u) => [u.id, u.call_sign, u.kind, u.status, u.active_assignment, u.station, isStale(u)]);
  if (!changed("units", shown)) {
    updatePositionAges();
    return;
  }
  replace($("#units"), units.map((unit) => {
    const active = unit.active_assignment;
    return h("div", { class: ["unit", "us-" + unit.status], dataset: { id: unit.id } },
      h("button", { type: "button", class: "call-sign", title: gettext("Show on the map"), onclick: () => focusUnit(unit.id) }, unit.call_sign),
      h("span", { class: "kind" }, KIND[unit.kind] || unit.kind),
      h("span", { class: ["unit-status", "us-" + unit.status] },
        (UNIT_STATUS[unit.status] || unit.status) + (active && active.incident ? " · " + shortNumber(active.incident) : "")),
      h("span", { class: "post" }, unit.station ? unit.station.name : "–"),
      h("span", { class: ["pos", isStale(unit) && "stale", !unit.location_at && "none"], dataset: { positionAt: unit.location_at || "" } }, ago(unit.location_at)),
      config.canDispatch && unit.status === "out_of_service"
        ? h("button", { type: "button", class: "button button-small unit-action", dataset: { action: "available" },
          title: unit.status_reason === "ack_timeout" ? gettext("Out of service after an unanswered alert") : null,
          onclick: () => setUnitAvailable(unit) }, gettext("Set available"))
        : null);
  }));
  if (!units.length) replace($("#units"), h("p", { class: "empty" }, gettext("No units.")));
}

async function setUnitAvailable(unit) {
  try {
    await api("/api/v1/units/" + unit.id + "/status/", { method: "POST", body: { status: "available" } });
  } catch (error) {
    const count = $("#units-count");
    count.textContent = error.message;
    count.classList.add("action-error");
    setTimeout(() => { count.classList.remove("action-error"); signatures.units = null; renderUnits(); }, 6000);
  }
}

function updatePositionAges() {
  for (const unit of store.units.values()) {
    const el = document.querySelector('#units .unit[data-id="' + unit.id + '"] .pos');
    if (!el) continue;
    el.dataset.positionAt = unit.location_at || "";
    el.textContent = ago(unit.location_at);
    el.classList.toggle("stale", isStale(unit));
    el.classList.toggle("none", !unit.location_at);
  }
}

function focusUnit(id) {
  const unit = store.units.get(id);
  const shown = unit ? unitOnMap(unit) : null;
  if (shown && shown.location) map.panTo([shown.location.lat, shown.location.lon]);
}

// --- The selected incident ---------------------------------------------------------------------------

function select(id) {
  if (state.selected !== id) {
    state.cancelOpen = false;
    state.actionError = "";
    state.recommendations = { incident: id, units: null, error: null, loading: false };
    state.nearestCameras = { incident: id, cameras: [] };
  }
  state.selected = id;
  const incident = store.incidents.get(id);
  if (incident && incident.location && incident.location.lat !== null) {
    const point = L.latLng(incident.location.lat, incident.location.lon);
    if (!map.getBounds().pad(-0.1).contains(point)) map.panTo(point);
  }
  render();
  loadRecommendations();
  loadNearestCameras();
}

let recommendationTimer = null;
function loadRecommendationsSoon() {
  clearTimeout(recommendationTimer);
  recommendationTimer = setTimeout(loadRecommendations, 800);
}

async function loadRecommendations() {
  const id = state.selected;
  if (!id || !store.incidents.has(id)) return;
  state.recommendations.loading = true;
  try {
    const answer = await api("/api/v1/incidents/" + id + "/recommendations/");
    if (state.selected !== id) return;
    state.recommendations = { incident: id, units: answer.units, error: null, loading: false };
  } catch (error) {
    if (state.selected !== id) return;
    state.recommendations = { incident: id, units: null, error: error.message, loading: false };
  }
  renderDetail();
}

async function loadNearestCameras() {
  const id = state.selected;
  const incident = store.incidents.get(id);
  if (!incident || !incident.location || incident.location.lat === null) return;
  try {
    const cameras = await api("/api/v1/cameras/?" + query({ lat: incident.location.lat, lon: incident.location.lon, limit: 3 }));
    if (state.selected !== id) return;
    state.nearestCameras = { incident: id, cameras };
  } catch {
    state.nearestCameras = { incident: id, cameras: [] };
  }
  renderDetail();
  renderCameras();
}

function openCamera(camera) {
  if (!camera) return;
  const url = safeWebUrl(camera.stream_url) || safeWebUrl(camera.snapshot_url);
  if (url) window.open(url, "_blank", "noopener,noreferrer");
}

const CONFLICT_TEXT = {
  unit_not_free: gettext("That unit is no longer free: choose another."),
  incident_closed: gettext("The incident is already closed."),
  same_unit: gettext("That unit already has this incident."),
  assignment_ended: gettext("That assignment has already ended."),
  network: gettext("No connection to the server: try again."),
};

async function act(path, body) {
  if (state.busy) return;
  state.busy = true;
  state.actionError = "";
  renderDetail();
  try {
    await api(path, { method: "POST", body });
    state.cancelOpen = false;
  } catch (error) {
    state.actionError = CONFLICT_TEXT[error.code] || error.message;
  } finally {
    state.busy = false;
    renderDetail();
    loadRecommendationsSoon();
  }
}

function assign(incident, unit, replaceId) {
  return act("/api/v1/incidents/" + incident.id + "/assignments/", replaceId ? { unit, replace: replaceId } : { unit });
}

function recommendationList(incident) {
  const rec = state.recommendations;
  if (rec.incident !== incident.id || (rec.units === null && !rec.error)) return h("p", { class: "empty" }, gettext("Looking for units…"));
  if (rec.error) return h("p", { class: "action-error" }, rec.error);
  if (!rec.units.length) return h("p", { class: "notice" }, gettext("No free unit can go."));
  const active = store.activeAssignments(incident);
  // Reassigning replaces the unit that has not reached the scene yet (or the first one).
  const replaceable = active.find((a) => ["assigned", "acknowledged", "en_route"].includes(a.status)) || active[0];
  return h("ol", { class: "reco-list" }, rec.units.slice(0, 6).map((r, index) => {
    const unit = r.unit;
    const actions = [];
    if (config.canDispatch) {
      if (replaceable) {
        actions.push(h("button", {
          type: "button", class: "button-primary button-small", disabled: state.busy,
          title: fmt(gettext("Send %(new)s instead of %(old)s"), { new: unit.call_sign, old: replaceable.unit.call_sign }),
          dataset: { action: "reassign", unit: unit.id },
          onclick: () => assign(incident, unit.id, replaceable.id),
        }, gettext("Reassign")));
        actions.push(h("button", {
          type: "button", class: "button button-small", disabled: state.busy, title: gettext("Send as an additional unit"),
          dataset: { action: "add", unit: unit.id }, onclick: () => assign(incident, unit.id, null),
        }, "+"));
      } else {
        actions.push(h("button", {
          type: "button", class: "button-primary button-small", disabled: state.busy,
          dataset: { action: "assign", unit: unit.id }, onclick: () => assign(incident, unit.id, null),
        }, gettext("Assign")));
      }
    }
    const source = r.source === "road" ? gettext("by road") : gettext("straight-line estimate");
    const why = [KIND[unit.kind] || unit.kind, kilometres(r.distance_m), source, unit.status === "returning" ? UNIT_STATUS.returning : "",
      unit.station ? unit.station.name : ""];
    return h("li", { class: ["reco", index === 0 && "best"], dataset: { unit: unit.id } },
      h("span", { class: "rank" }, String(index + 1)),
      h("span", { class: "main" },
        h("span", { class: "call-sign" }, unit.call_sign), " ",
        h("span", { class: "eta" }, minutes(r.eta_seconds))),
      h("span", { class: "actions" }, actions),
      h("span", { class: "why", title: why.filter(Boolean).join(" · ") }, why.filter(Boolean).join(" · ")));
  }));
}

function assignmentRow(a) {
  const ended = !ACTIVE_ASSIGNMENT.has(a.status);
  const times = [
    [gettext("alerted"), a.assigned_at], [gettext("acknowledged"), a.acknowledged_at], [gettext("departed"), a.en_route_at],
    [gettext("arrived"), a.on_scene_at],
  ].filter(([, at]) => at).map(([label, at]) => label + " " + clockTime(at)).join(" · ");
  return h("div", { class: ["assignment", ended && "ended"], dataset: { assignment: a.id, status: a.status } },
    h("span", { class: "call-sign" }, a.unit.call_sign),
    h("span", { class: ["unit-status", "us-" + (a.status === "acknowledged" ? "assigned" : a.status)] }, ASSIGNMENT_STATUS[a.status] || a.status),
    a.eta_seconds !== null && !ended ? h("span", null, fmt(gettext("ETA %(eta)s"), { eta: minutes(a.eta_seconds) })) : null,
    ended && a.ended_reason ? h("span", { class: "empty" }, ENDED_REASON[a.ended_reason] || a.ended_reason) : null,
    h("span", { class: "times" }, times));
}

function cancelControls(incident) {
  if (!config.canDispatch) return null;
  if (!state.cancelOpen) {
    return h("button", { type: "button", class: "button-danger button-small", id: "cancel-open", onclick: () => {
      state.cancelOpen = true;
      renderDetail();
      $("#cancel-reason")?.focus();
    } }, gettext("Cancel incident…"));
  }
  const reason = h("input", {
    id: "cancel-reason", maxlength: 500, placeholder: gettext("Reason (required), e.g. duplicate, hoax call"),
    "aria-label": gettext("Reason for cancelling"),
  });
  const confirm = () => {
    const text = reason.value.trim();
    if (!text) {
      state.actionError = gettext("Give a reason to cancel.");
      renderDetail();
      $("#cancel-reason")?.focus();
      return;
    }
    act("/api/v1/incidents/" + incident.id + "/cancel/", { reason: text });
  };
  reason.addEventListener("keydown", (event) => { if (event.key === "Enter") confirm(); });
  return h("div", { class: "cancel-box" }, reason,
    h("button", { type: "button", class: "button-danger button-small", id: "cancel-confirm", onclick: confirm }, gettext("Cancel incident")),
    h("button", { type: "button", class: "button-quiet button-small", onclick: () => { state.cancelOpen = false; state.actionError = ""; renderDetail(); } }, gettext("Keep")));
}

function renderDetail() {
  const incident = store.incidents.get(state.selected);
  $("#detail-empty").hidden = Boolean(incident);
  $(".right-stack").classList.toggle("is-idle", !incident);
  const body = $("#detail-body");
  body.hidden = !incident;
  if (!incident) {
    signatures.detail = null;
    replace(body);
    return;
  }
  const shown = [incident, state.recommendations, state.nearestCameras, state.cancelOpen, state.actionError, state.busy];
  if (!changed("detail", shown)) return;
  const keepReason = $("#cancel-reason")?.value || "";
  const hadFocus = document.activeElement && document.activeElement.id === "cancel-reason";
  const calls = incident.calls || [];
  const assignments = [...(incident.assignments || [])].sort((a, b) =>
    Number(ACTIVE_ASSIGNMENT.has(b.status)) - Number(ACTIVE_ASSIGNMENT.has(a.status)) || b.id - a.id);
  const cameras = state.nearestCameras.incident === incident.id ? state.nearestCameras.cameras : [];
  replace(body,
    h("div", { class: "detail-head" },
      h("span", { class: ["prio", "p" + incident.priority] }, incident.priority + " " + PRIORITY[incident.priority]),
      h("span", { class: "number", title: incident.number }, shortNumber(incident)),
      h("span", { class: ["chip", "st-" + incident.status] }, INCIDENT_STATUS[incident.status] || incident.status),
      h("span", { class: "age", dataset: { since: incident.received_at } }, duration(secondsSince(incident.received_at)))),
    h("p", { class: "detail-complaint" }, incident.complaint),
    h("p", { class: "detail-place" }, place(incident)),
    incident.outside_service_area ? h("p", { class: "notice" }, gettext("Outside the service area: not dispatched automatically.")) : null,
    incident.geocoding === "pending" ? h("p", { class: "notice" }, gettext("Looking up the address…")) : null,
    incident.geocoding === "not_found" ? h("p", { class: "notice" }, gettext("Address not found: the call-taker must set the place.")) : null,
    h("dl", { class: "kv" },
      h("dt", null, gettext("Patients")), h("dd", null, String(incident.patient_count)),
      h("dt", null, gettext("Received")), h("dd", null, dateTime(incident.received_at)),
      h("dt", null, gettext("Calls")), h("dd", null, calls.map((c, i) => h("div", null,
        clockTime(c.received_at) + " · " + (c.caller_phone || "–") + (c.caller_name ? " (" + c.caller_name + ")" : "") +
        (i > 0 && c.complaint !== incident.complaint ? " · " + c.complaint : "")))),
      incident.notes ? [h("dt", null, gettext("Notes")), h("dd", null, incident.notes)] : null),
    h("section", { class: "detail-section" },
      h("h3", null, gettext("Units on this incident")),
      assignments.length ? assignments.map(assignmentRow) : h("p", { class: "empty" }, gettext("No unit yet."))),
    h("section", { class: "detail-section", id: "recommendations" },
      h("h3", null, gettext("Recommended units (travel time)")),
      recommendationList(incident)),
    state.actionError ? h("p", { class: "action-error", role: "alert" }, state.actionError) : null,
    cancelControls(incident),
    h("section", { class: "detail-section" },
      h("h3", null, gettext("Nearest cameras")),
      cameras.length
        ? h("ul", { class: "camera-list" }, cameras.map((camera) => h("li", null,
          h("span", { class: "name", title: camera.place }, camera.name),
          h("span", { class: "dist" }, kilometres(camera.distance_m)),
          h("button", { type: "button", class: "button button-small", dataset: { camera: camera.id }, onclick: () => openCamera(camera) }, gettext("Open")))))
        : h("p", { class: "empty" }, gettext("No camera nearby."))));
  const reasonInput = $("#cancel-reason");
  if (reasonInput) {
    reasonInput.value = keepReason;
    if (hadFocus) reasonInput.focus();
  }
}

function renderCameras() {
  const near = new Set(state.nearestCameras.cameras.map((c) => c.id));
  cameraMarkers.sync(state.cameras.map((c) => ({ ...c, near: near.has(c.id) })));
}

function renderMap() {
  incidentMarkers.sync(store.openIncidents().map((i) => ({ ...i, zIndex: (4 - i.priority) * 10 + (i.id === state.selected ? 100 : 0) })));
  unitMarkers.sync(stacked([...store.units.values()].map(unitOnMap)));
  moveUp.drawMap();
}

// --- Alerts -----------------------------------------------------------------------------------------

function addAlert(alert) {
  if (state.alerts.has(alert.key)) return false;
  if (alert.local && localAcks.has(alert.key)) return false;
  state.alerts.set(alert.key, alert);
  return true;
}

// A pre-emption raises two alerts (one on each incident): the console shows them as one notice.
function alertGroups(alerts) {
  const groups = new Map();
  for (const alert of alerts) {
    const key = alert.code === "preempted" ? "preempted:" + (alert.data.to_assignment ?? alert.data.assignment ?? alert.key) : alert.key;
    const group = groups.get(key);
    if (group) {
      group.members.push(alert);
      if (Date.parse(alert.at) > Date.parse(group.at)) group.at = alert.at;
    } else {
      groups.set(key, { key, code: alert.code, at: alert.at, data: alert.data, local: alert.local, members: [alert] });
    }
  }
  return [...groups.values()];
}

// Both incidents of a pre-emption: the priority-1 one that took the unit, the priority-3 one back in the queue.
function preemptionOf(group) {
  const red = {};
  const green = {};
  let unit = "?";
  for (const { data } of group.members) {
    unit = data.call_sign || unit;
    if (data.to_incident !== undefined) {
      Object.assign(green, { id: data.incident, number: data.incident_number });
      red.id = red.id ?? data.to_incident;
    } else {
      Object.assign(red, { id: data.incident, number: data.incident_number });
      green.id = green.id ?? data.from_incident;
    }
  }
  for (const side of [red, green]) {
    const known = store.incidents.get(side.id);
    if (!side.number) side.number = known && known.number ? known.number : "#" + side.id;
  }
  return { red, green, unit };
}

function preemptionText(group) {
  const { red, green, unit } = preemptionOf(group);
  return fmt(gettext("Unit %(unit)s was taken from priority-3 incident %(from)s for priority-1 incident %(to)s; %(from)s is back in the queue."),
    { unit, from: green.number, to: red.number });
}

async function acknowledgeGroup(group) {
  for (const alert of group.members) await acknowledge(alert);
}

async function acknowledge(alert) {
  if (alert.local) {
    localAcks.add(alert.key);
    window.localStorage.setItem(LOCAL_ACKS_KEY, JSON.stringify([...localAcks].slice(-500)));
  } else {
    try {
      await api("/api/v1/alerts/" + alert.seq + "/acknowledge/", { method: "POST" });
    } catch (error) {
      if (error.status !== 404) return;
    }
  }
  state.alerts.delete(alert.key);
  renderAlerts();
}

function renderAlerts() {
  const alerts = alertGroups([...state.alerts.values()]).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  if (!changed("alerts", [alerts, [...store.incidents.values()].map((i) => [i.id, i.number])])) return;
  $("#alerts").hidden = !alerts.length;
  replace($("#alert-list"), alerts.map((alert) => {
    const preempted = alert.code === "preempted" ? preemptionOf(alert) : null;
    const show = (id, label) => (id && store.incidents.has(id)
      ? h("button", { type: "button", class: "button button-small", dataset: { show: id }, onclick: () => select(id) }, label)
      : null);
    return h("li", {
      class: ["alert", CRITICAL_ALERTS.has(alert.code) && "critical", preempted && "alert-preempted"],
      dataset: { code: alert.code, key: alert.key },
    },
    h("span", { class: "alert-code" }, ALERT_TITLE[alert.code] || alert.code),
    h("span", { class: "alert-text" }, preempted ? preemptionText(alert) : alertText(alert.data)),
    h("time", { datetime: alert.at }, clockTime(alert.at)),
    preempted
      ? [show(preempted.red.id, gettext("Show P1")), show(preempted.green.id, gettext("Show P3"))]
      : show(alert.data.incident, gettext("Show")),
    config.canDispatch || alert.local
      ? h("button", { type: "button", class: "button-primary button-small", dataset: { acknowledge: alert.key }, onclick: () => acknowledgeGroup(alert) }, gettext("Acknowledge"))
      : null);
  }));
}

async function syncServerAlerts() {
  const seqAtStart = stream.seq ?? 0;
  let open;
  try {
    open = await api("/api/v1/alerts/");
  } catch {
    return;
  }
  const keys = new Set(open.map((e) => "s:" + e.seq));
  for (const [key, alert] of state.alerts) {
    if (!alert.local && alert.seq <= seqAtStart && !keys.has(key)) state.alerts.delete(key);
  }
  for (const envelope of open) {
    addAlert({ key: "s:" + envelope.seq, seq: envelope.seq, code: envelope.data.code, data: envelope.data, at: envelope.at, local: false });
  }
  renderAlerts();
}

// A unit en route well past its ETA: raised here, from the assignment's own times.
function checkLate() {
  const now = Date.now();
  let added = false;
  for (const incident of store.openIncidents()) {
    for (const a of store.activeAssignments(incident)) {
      if (a.status !== "en_route" || !a.en_route_at || a.eta_seconds === null) continue;
      const late = secondsSince(a.en_route_at, now) - (a.eta_seconds * 1.5 + LATE_GRACE_SECONDS);
      if (late <= 0) continue;
      added = addAlert({
        key: "late:" + a.id, code: "late", local: true, at: new Date(now).toISOString(),
        data: { code: "late", incident: incident.id, incident_number: incident.number, call_sign: a.unit.call_sign },
      }) || added;
    }
  }
  if (added) {
    chime();
    renderAlerts();
  }
}

// --- Wiring -----------------------------------------------------------------------------------------

let frame = null;
function render() {
  if (frame) return;
  frame = window.requestAnimationFrame(() => {
    frame = null;
    renderQueue();
    renderUnits();
    renderMap();
    renderDetail();
    renderAlerts();
  });
}

function isFresh(at) {
  return at && Date.now() - Date.parse(at) < 120000;
}

store.subscribe((change) => {
  moveUp.onChange(change);
  hospitals.onChange(change);
  if (change.type === "alert") {
    const data = change.data;
    if (addAlert({ key: "s:" + change.seq, seq: change.seq, code: data.code, data, at: change.at, local: false })) {
      if (isFresh(change.at)) chime();
      renderAlerts();
    }
    return;
  }
  const becameRed = (change.type === "incident.created" || change.type === "incident.updated") &&
    change.data.priority === 1 && (!change.before || change.before.priority !== 1) && OPEN(change.data);
  if (becameRed && isFresh(change.at)) alarm();
  if (state.selected && state.selected === (change.data && (change.data.incident?.id ?? change.data.incident ?? change.data.id))) {
    loadRecommendationsSoon();
  } else if (state.selected && (change.type === "unit.updated")) {
    loadRecommendationsSoon();
  }
  if (change.type === "snapshot" && state.selected) loadRecommendationsSoon();
  render();
});

function OPEN(incident) {
  return ["pending", "dispatched", "on_scene", "transporting"].includes(incident.status);
}

const stream = new LiveStream({
  onSnapshot: (data) => store.snapshot(data),
  onEvent: (envelope) => store.apply(envelope),
  onStatus: (status, live) => {
    showLinkStatus(status, live);
    if (status === "online") syncServerAlerts();
  },
});
stream.start();

everySecond((now) => {
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = duration(secondsSince(el.dataset.since, now));
  }
});
setInterval(() => {
  for (const el of document.querySelectorAll("[data-position-at]")) el.textContent = ago(el.dataset.positionAt || null);
  checkLate();
}, 5000);
setInterval(syncServerAlerts, 20000);

async function loadCameras() {
  try {
    state.cameras = await api("/api/v1/cameras/");
  } catch {
    return;
  }
  renderCameras();
}
loadCameras();
setInterval(loadCameras, 300000);

const soundButton = $("#sound-toggle");
onSoundChange((ready) => {
  soundButton.dataset.state = ready ? "on" : "off";
  soundButton.setAttribute("aria-pressed", ready ? "true" : "false");
  soundButton.textContent = ready ? gettext("Sound on") : gettext("Sound off: click to enable");
});
soundButton.addEventListener("click", async () => {
  await armSound();
  chime();
});

// For drills and the browser tests: drop the live link and bring it back; what happened is counted.
window.pscConsole = { stream, store, state, sound: soundStats, select, moveUp, hospitals };
