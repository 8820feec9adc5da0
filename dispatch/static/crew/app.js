// The crew's phone. State comes from /ws/unit/ (snapshot, then events) and /api/v1/crew/current/;
// every tap goes through the outbox, so it is shown at once and sent when the network lets it.
// All text reaches the page through textContent: nothing from the server is parsed as HTML.

import { Alarm, audioReady, unlockAudio } from "./alarm.js";
import { JobMap } from "./map.js";
import { Outbox, newClientId } from "./outbox.js";
import { PositionReporter } from "./positions.js";
import { pushSubscribe, pushUnsubscribe } from "./push.js";
import { UnitStream } from "./stream.js";

// Every string has the context "crew", so the control room's words for the same English never replace ours.
const pgettext = window.pgettext || ((context, text) => text);
const npgettext = window.npgettext || ((context, one, many, n) => (n === 1 ? one : many));
const interpolate = window.interpolate
  || ((text, values) => text.replace(/%\((\w+)\)s/g, (_, name) => String(values[name])));
const format = (text, values) => interpolate(text, values, true);

const body = document.body;
const config = {
  username: body.dataset.username,
  unit: Number(body.dataset.unit),
  api: body.dataset.api,
  ws: body.dataset.ws,
  sw: body.dataset.sw,
  pushKey: body.dataset.pushKey,
  scope: body.dataset.scope,
  positionIntervalMs: Number(body.dataset.positionInterval) * 1000,
  maxAccuracy: Number(body.dataset.maxAccuracy),
  retryMs: Number(body.dataset.retryInterval) * 1000,
  ackTimeoutMs: Number(body.dataset.ackTimeout) * 1000,
  tileUrl: body.dataset.tileUrl,
  tileAttribution: body.dataset.tileAttribution,
};
const STORAGE_KEY = `psc119-crew:${config.username}`;
const $ = (id) => document.getElementById(id);

// --- Words -------------------------------------------------------------------------------------

const STEP_LABELS = {
  acknowledged: pgettext("crew", "Acknowledge"),
  en_route: pgettext("crew", "Depart"),
  on_scene: pgettext("crew", "Arrived on scene"),
  transporting: pgettext("crew", "Transporting patient"),
  at_hospital: pgettext("crew", "Arrived at hospital"),
  cleared: pgettext("crew", "Done"),
  declined: pgettext("crew", "Decline"),
  available: pgettext("crew", "Available"),
  out_of_service: pgettext("crew", "Out of service"),
};
const UNIT_LABELS = {
  available: pgettext("crew", "Available"),
  assigned: pgettext("crew", "Assigned"),
  en_route: pgettext("crew", "On the way"),
  on_scene: pgettext("crew", "On scene"),
  transporting: pgettext("crew", "Transporting"),
  at_hospital: pgettext("crew", "At hospital"),
  returning: pgettext("crew", "Returning"),
  out_of_service: pgettext("crew", "Out of service"),
};
const PRIORITY_LABELS = { 1: pgettext("crew", "Red"), 2: pgettext("crew", "Yellow"), 3: pgettext("crew", "Green") };
const ENDED_NOTICES = {
  cleared: pgettext("crew", "Job closed. Thank you."),
  declined: pgettext("crew", "You declined the assignment."),
  expired: pgettext("crew", "Not acknowledged in time: the control room was alerted."),
  cancelled: pgettext("crew", "The control room cancelled the assignment."),
};
// An assignment cancelled because a priority-1 call took this unit (dispatch/preemption.py).
const PREEMPTED = "pre-empted";

// --- The rules of the job ----------------------------------------------------------------------

const RANK = {
  assigned: 0, acknowledged: 1, en_route: 2, on_scene: 3, transporting: 4, at_hospital: 5,
  cleared: 9, declined: 9, expired: 9, cancelled: 9,
};
const ENDED = new Set(["cleared", "declined", "expired", "cancelled"]);
const UNIT_FOR = {
  assigned: "assigned", acknowledged: "assigned", en_route: "en_route", on_scene: "on_scene",
  transporting: "transporting", at_hospital: "at_hospital", cleared: "returning", declined: "available",
};
// The next allowed steps (dispatch/models.py TRANSITIONS, for a crew): [primary, secondary?].
const NEXT_STEPS = {
  assigned: ["acknowledged", "declined"],
  acknowledged: ["en_route"],
  en_route: ["on_scene"],
  on_scene: ["transporting", "cleared"],
  transporting: ["at_hospital"],
  at_hospital: ["cleared"],
};
const FREE_STEPS = {
  available: ["out_of_service"],
  returning: ["available", "out_of_service"],
  out_of_service: ["available"],
};

// --- State -------------------------------------------------------------------------------------

const state = {
  unit: null,
  assignment: null,
  details: null,
  hospitals: {}, // case → answer of /api/v1/crew/hospitals/
  destination: null, // {id, name, location} chosen on this phone
  ended: null,
  clockOffset: 0, // server clock minus phone clock, ms
  link: "connecting",
  fix: null,
  fixAccepted: false,
  gpsProblem: "",
  lastSent: null,
  notice: null,
  sheetCase: null,
  diverted: null, // {assignment, from}: this job took the unit off another one (pre-emption)
};
let pending = [];
const endedIds = new Set();

function save() {
  const kept = {
    unit: state.unit, assignment: state.assignment, details: state.details, hospitals: state.hospitals,
    destination: state.destination, diverted: state.diverted,
  };
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(kept));
  } catch (error) {
    // storage full or refused: the live state still works
  }
}

function restore() {
  try {
    Object.assign(state, JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}"));
  } catch (error) {
    localStorage.removeItem(STORAGE_KEY);
  }
}

// A phone whose clock is more than 2 s off has its tap times corrected by what the server's clock says.
function serverNow(phoneMs = Date.now()) {
  return Math.abs(state.clockOffset) > 2000 ? phoneMs + state.clockOffset : phoneMs;
}

function pendingSteps(assignmentId) {
  return pending.filter((item) => item.kind === "assignment" && item.assignment === assignmentId);
}

// What the crew sees: the server's status with the taps not yet confirmed laid on top.
function effectiveStatus() {
  const assignment = state.assignment;
  if (!assignment) return null;
  let status = assignment.status;
  for (const item of pendingSteps(assignment.id)) {
    if (RANK[item.body.status] > RANK[status]) status = item.body.status;
  }
  return status;
}

function effectiveUnitStatus() {
  const status = effectiveStatus();
  if (status) return UNIT_FOR[status] || (state.unit && state.unit.status);
  const unitTaps = pending.filter((item) => item.kind === "unit");
  if (unitTaps.length) return unitTaps[unitTaps.length - 1].body.status;
  return state.unit ? state.unit.status : "";
}

function applyAssignment(data) {
  const current = state.assignment;
  if (current && current.id === data.id) {
    if (RANK[data.status] < RANK[current.status]) return; // an older view of the same job
    state.assignment = { ...current, ...data, route: data.route || current.route };
  } else if (ENDED.has(data.status) || endedIds.has(data.id)) {
    return; // the end of a job this phone no longer shows, or a late answer about a job already over
  } else {
    // The job this unit was taken off for this priority-1 call, said on the new job's screen: named on the
    // assignment itself, so a phone that opens afresh (a fresh snapshot) says it too.
    const diverted = data.diverted_from ? data.diverted_from.number : null;
    state.assignment = data;
    state.details = null;
    state.hospitals = {};
    state.destination = null;
    state.ended = null;
    state.diverted = diverted ? { assignment: data.id, from: diverted } : null;
  }
  if (ENDED.has(state.assignment.status)) {
    endedIds.add(state.assignment.id);
    state.ended = {
      status: state.assignment.status, number: state.assignment.incident.number, reason: state.assignment.ended_reason,
    };
    state.assignment = null;
    state.details = null;
    state.hospitals = {};
    state.destination = null;
  }
}

// --- Talking to the server ---------------------------------------------------------------------

async function getJson(path) {
  const response = await fetch(`${config.api}${path}`, {
    credentials: "same-origin", headers: { Accept: "application/json" },
  });
  if (response.status === 401) {
    signedOut();
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`${response.status}`);
  return response.json();
}

let fetchingCurrent = null;
function refreshCurrent() {
  if (fetchingCurrent) return fetchingCurrent;
  const asked = Date.now();
  fetchingCurrent = getJson("crew/current/")
    .then((answer) => {
      // The server's clock against the middle of the round trip; a slow answer says too little to use.
      const received = Date.now();
      if (received - asked < 3000) state.clockOffset = Date.parse(answer.server_time) - (asked + received) / 2;
      state.unit = answer.unit;
      if (answer.assignment) {
        applyAssignment(answer.assignment);
        if (state.assignment && state.assignment.id === answer.assignment.id) state.details = answer.details;
      } else if (state.assignment && (state.assignment.receivedAt || 0) < asked) {
        state.assignment = null; // ended while this phone was away
        state.details = null;
      }
      update();
    })
    .catch(() => {})
    .finally(() => { fetchingCurrent = null; });
  return fetchingCurrent;
}

function loadHospitals(caseName) {
  const assignment = state.assignment;
  if (!assignment) return Promise.resolve();
  const query = `crew/hospitals/?assignment=${assignment.id}${caseName ? `&case=${caseName}` : ""}`;
  return getJson(query)
    .then((answer) => {
      if (!state.assignment || state.assignment.id !== answer.assignment) return;
      state.hospitals[answer.case] = answer;
      if (!caseName) state.hospitals.default = answer.case;
      save();
      renderSheet();
    })
    .catch(() => renderSheet());
}

function signedOut() {
  window.location.assign(`/login/?next=${encodeURIComponent(config.scope)}`);
}

const outbox = new Outbox({
  owner: config.username,
  onChange: (items) => {
    pending = items;
    update();
  },
  onSent: (item, answer) => {
    state.lastSent = Date.now();
    if (item.kind === "assignment" && answer) applyAssignment(answer);
    if (item.kind === "unit" && answer) state.unit = answer;
  },
  onRejected: (item, status, message) => {
    const what = STEP_LABELS[item.body && item.body.status] || pgettext("crew", "Positions");
    state.notice = {
      text: format(pgettext("crew", "Not applied: %(what)s. %(why)s"), { what, why: message || status }),
      until: Date.now() + 10000,
    };
    refreshCurrent();
  },
  onSignedOut: signedOut,
  onNetwork: (reachable) => {
    if (!reachable) stream.check();
  },
  viaStream: (item) => stream.request("positions", item.body),
});

function tapStep(status, extra = {}) {
  const assignment = state.assignment;
  if (!assignment) return;
  const entry = {
    kind: "assignment",
    assignment: assignment.id,
    url: `${config.api}assignments/${assignment.id}/status/`,
    body: { status, at: new Date(serverNow()).toISOString(), client_id: newClientId(), ...extra },
  };
  outbox.add(entry).then(() => outbox.flush());
}

function tapUnit(status) {
  outbox.add({ kind: "unit", url: `${config.api}units/${config.unit}/status/`, body: { status } })
    .then(() => outbox.flush());
}

// --- The stream --------------------------------------------------------------------------------

function onMessage(message) {
  const data = message.data || {};
  switch (message.type) {
    case "snapshot":
      state.unit = data.unit;
      if (data.assignment) {
        applyAssignment(data.assignment);
      } else if (state.assignment) {
        state.assignment = null;
        state.details = null;
      }
      refreshCurrent();
      break;
    case "assignment.created":
      applyAssignment({ ...data, receivedAt: Date.now() });
      refreshCurrent();
      break;
    case "assignment.updated":
      applyAssignment(data);
      break;
    case "unit.updated":
      if (data.id === config.unit) state.unit = data;
      break;
    case "unit.moved":
      if (state.unit && data.id === config.unit) {
        state.unit = { ...state.unit, location: data.location, location_at: data.location_at };
      }
      break;
    case "incident.updated":
      if (state.assignment && state.assignment.incident.id === data.id) {
        const incident = { ...state.assignment.incident };
        for (const key of Object.keys(incident)) if (key in data) incident[key] = data[key];
        state.assignment = { ...state.assignment, incident };
      }
      break;
    default:
      return;
  }
  update();
}

const stream = new UnitStream({
  path: config.ws,
  onMessage,
  onState: (linkState) => {
    setLink(linkState);
    if (linkState === "online") outbox.flush();
  },
});

function setLink(linkState) {
  state.link = navigator.onLine === false ? "offline" : linkState;
  renderLink();
  renderBanner();
}

// --- Drawing -----------------------------------------------------------------------------------

const alarm = new Alarm();
const jobMap = new JobMap($("map"), { tileUrl: config.tileUrl, attribution: config.tileAttribution, api: config.api });
let actionsKey = "";

function minutes(seconds) {
  return Math.max(1, Math.round(seconds / 60));
}

function kilometres(metres) {
  return new Intl.NumberFormat(document.documentElement.lang || "id", { maximumFractionDigits: 1 })
    .format(metres / 1000);
}

function clock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function ackRemainingMs() {
  const assignment = state.assignment;
  if (!assignment) return null;
  return Date.parse(assignment.assigned_at) + config.ackTimeoutMs - (Date.now() + state.clockOffset);
}

function setText(id, text) {
  const element = $(id);
  element.textContent = text || "";
  return element;
}

function renderLink() {
  const element = $("link");
  element.dataset.state = state.link;
  element.title = element.textContent = {
    online: pgettext("crew", "Online"),
    connecting: pgettext("crew", "Connecting…"),
    offline: pgettext("crew", "No signal"),
    denied: pgettext("crew", "Not allowed"),
  }[state.link];
}

function renderBanner() {
  const { taps, positions } = outbox.counts();
  const banner = $("banner");
  const badge = $("outbox-badge");
  badge.dataset.count = String(taps);
  badge.textContent = String(taps);
  badge.hidden = taps === 0;
  const parts = [];
  if (state.notice && state.notice.until > Date.now()) {
    banner.dataset.kind = "error";
    setText("banner-text", state.notice.text);
    banner.hidden = false;
    return;
  }
  delete banner.dataset.kind;
  if (taps) parts.push(format(npgettext("crew", "%(n)s tap", "%(n)s taps", taps), { n: taps }));
  if (positions) parts.push(format(npgettext("crew", "%(n)s position", "%(n)s positions", positions), { n: positions }));
  let text = "";
  if (parts.length) {
    const waiting = parts.join(" · ");
    text = state.link === "online"
      ? format(pgettext("crew", "Sending: %(waiting)s"), { waiting })
      : format(pgettext("crew", "No signal. Waiting to send: %(waiting)s"), { waiting });
  } else if (state.link === "offline") {
    text = pgettext("crew", "No signal. Your taps are kept and sent when it returns.");
  }
  setText("banner-text", text);
  banner.hidden = !text;
}

function renderGps() {
  let text = pgettext("crew", "Waiting for GPS…");
  if (state.gpsProblem === "denied") text = pgettext("crew", "Location is off: allow it for this app.");
  else if (state.gpsProblem === "unsupported") text = pgettext("crew", "This phone cannot share its location.");
  else if (state.fix) {
    const accuracy = Math.round(state.fix.accuracy);
    text = state.fixAccepted
      ? format(pgettext("crew", "GPS ±%(m)s m"), { m: accuracy })
      : format(pgettext("crew", "GPS too weak (±%(m)s m): not sent"), { m: accuracy });
    if (state.lastSent) {
      const time = new Date(state.lastSent).toLocaleTimeString(document.documentElement.lang || "id");
      text += ` · ${format(pgettext("crew", "last sent %(time)s"), { time })}`;
    }
  }
  setText("gps", text);
}

function button(action, role, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = `btn btn-${role}`;
  element.dataset.action = action;
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = STEP_LABELS[action];
  element.append(label);
  if (action === "acknowledged") {
    const small = document.createElement("small");
    small.className = "ack-clock";
    element.append(small);
  }
  element.addEventListener("click", onClick);
  return element;
}

function renderActions(status, unitStatus) {
  let steps = [];
  if (status) steps = NEXT_STEPS[status] || [];
  else steps = FREE_STEPS[unitStatus] || [];
  const key = `${status || "free"}:${steps.join(",")}`;
  if (key === actionsKey) return;
  actionsKey = key;
  const buttons = steps.map((action, i) => {
    // Going off duty is never the big button: a stray tap there would hide the unit from dispatch.
    const role = i === 0 && action !== "out_of_service" ? "primary" : "secondary";
    if (!status) return button(action, role, () => tapUnit(action));
    if (action === "transporting") return button(action, role, openSheet);
    if (action === "declined") {
      return button(action, role, () => {
        if (window.confirm(pgettext("crew", "Decline this assignment? The control room will send another unit."))) {
          tapStep("declined");
        }
      });
    }
    return button(action, role, () => tapStep(action));
  });
  // The primary step goes on the right, under the thumb; the secondary one on the left.
  $("actions").replaceChildren(...buttons.reverse());
}

function renderCountdown(status) {
  const line = $("countdown");
  const clockLabel = document.querySelector(".ack-clock");
  if (status !== "assigned") {
    line.hidden = true;
    return;
  }
  const remaining = ackRemainingMs();
  line.hidden = false;
  if (remaining > 0) {
    line.dataset.late = "false";
    line.textContent = format(pgettext("crew", "Acknowledge within %(time)s"), { time: clock(remaining) });
  } else {
    line.dataset.late = "true";
    line.textContent = pgettext("crew", "Time is up: acknowledge now");
  }
  if (clockLabel) clockLabel.textContent = clock(remaining);
}

function renderJob(status) {
  const assignment = state.assignment;
  const incident = assignment.incident;
  const priority = $("priority");
  priority.dataset.priority = String(incident.priority);
  setText("priority-label", `${PRIORITY_LABELS[incident.priority] || ""} · P${incident.priority}`);
  setText("incident-number", incident.number || "");
  const diverted = state.diverted && state.diverted.assignment === assignment.id ? state.diverted : null;
  const divertedNotice = setText("diverted-notice", diverted
    ? format(pgettext("crew", "Diverted: your job %(number)s (priority 3) is cancelled for this priority-1 call. The control room sends another unit there."), { number: diverted.from || "" })
    : "");
  divertedNotice.hidden = !diverted;
  setText("complaint", incident.complaint);
  setText("address", incident.address || pgettext("crew", "No address: see the map."));
  const details = state.details && state.details.assignment === assignment.id ? state.details : null;
  const place = [incident.kelurahan, incident.kecamatan].filter(Boolean).join(", ");
  const landmark = details && details.landmark
    ? format(pgettext("crew", "near %(name)s (%(m)s m)"), { name: details.landmark.name, m: details.landmark.distance_m })
    : "";
  setText("place", [place, landmark].filter(Boolean).join(" · "));
  const n = incident.patient_count;
  setText("patients", format(npgettext("crew", "%(n)s patient", "%(n)s patients", n), { n }));
  const notes = setText("notes", details ? details.notes : "");
  notes.hidden = !(details && details.notes);
  const caller = details && details.callers.length ? details.callers[0] : null;
  const call = $("call-link");
  call.hidden = !caller;
  if (caller) {
    call.href = `tel:${caller.caller_phone}`;
    call.textContent = format(pgettext("crew", "Call the caller %(phone)s"), { phone: caller.caller_phone });
  }
  const eta = assignment.eta_seconds
    ? format(pgettext("crew", "ETA about %(min)s min · %(km)s km"), {
      min: minutes(assignment.eta_seconds), km: kilometres(assignment.distance_m || 0),
    })
    : "";
  setText("eta", RANK[status] < RANK.on_scene ? eta : "");
  const hospital = assignment.hospital || state.destination;
  let toward = hospital ? format(pgettext("crew", "To: %(name)s"), { name: hospital.name }) : "";
  if (hospital && status === "transporting" && state.destination && state.destination.id === hospital.id) {
    toward += ` · ${format(pgettext("crew", "about %(min)s min"), { min: minutes(state.destination.eta_seconds) })}`;
  }
  const destination = setText("destination", toward);
  destination.hidden = !hospital;
  const hospitalPlace = state.destination && (!assignment.hospital || assignment.hospital.id === state.destination.id)
    ? state.destination.location : null;
  jobMap.show({
    key: `${assignment.id}:${Boolean(assignment.route)}:${hospitalPlace ? state.destination.id : ""}`,
    scene: incident.location,
    route: assignment.route,
    hospital: hospitalPlace,
    priority: incident.priority,
  });
  if (state.fix) jobMap.setUnit(state.fix);
  else if (state.unit && state.unit.location) jobMap.setUnit(state.unit.location);
}

function renderIdle(unitStatus) {
  setText("idle-status", UNIT_LABELS[unitStatus] || unitStatus || "…");
  const station = state.unit && state.unit.station ? state.unit.station.name : "";
  setText("idle-station", station ? format(pgettext("crew", "Post: %(name)s"), { name: station }) : "");
  setText("idle-hint", {
    available: pgettext("crew", "Waiting for an assignment. This phone rings when one comes."),
    returning: pgettext("crew", "Returning: you can take a new assignment."),
    out_of_service: pgettext("crew", "Not taking assignments."),
  }[unitStatus] || "");
  const notice = $("ended-notice");
  notice.hidden = !state.ended;
  if (state.ended) {
    const text = state.ended.reason === PREEMPTED
      ? pgettext("crew", "Taken off this job for a priority-1 call: the new job follows.")
      : ENDED_NOTICES[state.ended.status] || "";
    notice.textContent = `${state.ended.number ? `${state.ended.number}: ` : ""}${text}`;
  }
}

let wakeLock = null;
function keepScreenOn(wanted) {
  if (!("wakeLock" in navigator)) return;
  if (wanted && !wakeLock && document.visibilityState === "visible") {
    navigator.wakeLock.request("screen").then((lock) => {
      wakeLock = lock;
      lock.addEventListener("release", () => { wakeLock = null; });
    }).catch(() => {});
  } else if (!wanted && wakeLock) {
    wakeLock.release().catch(() => {});
  }
}

function update() {
  const status = effectiveStatus();
  const active = Boolean(status && !ENDED.has(status));
  const unitStatus = effectiveUnitStatus();
  const pill = setText("unit-status", UNIT_LABELS[unitStatus] || "");
  pill.dataset.status = unitStatus || "";
  $("job").hidden = !active;
  $("idle").hidden = active;
  if (active) renderJob(status);
  else renderIdle(unitStatus);
  renderActions(active ? status : null, unitStatus);
  renderCountdown(active ? status : null);
  renderBanner();
  renderGps();
  body.dataset.status = active ? status : `unit-${unitStatus}`;
  body.dataset.assignment = active ? String(state.assignment.id) : "";
  if (active && status === "assigned") {
    const isNew = !alarm.ringing;
    alarm.start();
    if (isNew) notifyInBackground();
  } else {
    alarm.stop();
  }
  $("sound-prompt").hidden = audioReady();
  keepScreenOn(active);
  if (active && RANK[status] >= RANK.on_scene && !state.hospitals.default) prefetchHospitals();
  positions.paused = unitStatus === "out_of_service";
  save();
}

let prefetching = false;
function prefetchHospitals() {
  if (prefetching || state.link !== "online") return;
  prefetching = true;
  loadHospitals(null).finally(() => { prefetching = false; });
}

// A new job while the phone shows something else: a system notification, where the crew allowed them. Like the
// pushed one (same tag: one notification per job), it says where, never what ails the caller: a lock screen is
// seen by anyone near the phone.
function notifyInBackground() {
  if (document.visibilityState === "visible" || !("Notification" in window)) return;
  if (Notification.permission !== "granted" || !navigator.serviceWorker) return;
  const incident = state.assignment.incident;
  navigator.serviceWorker.ready.then((registration) => registration.showNotification(pgettext("crew", "New assignment"), {
    body: [incident.number, [incident.kelurahan, incident.kecamatan].filter(Boolean).join(", ")].filter(Boolean).join(" · "),
    tag: `assignment-${state.assignment.id}`,
    requireInteraction: true,
    vibrate: [400, 150, 400, 150, 400],
  })).catch(() => {});
}

// --- The destination sheet ---------------------------------------------------------------------

function openSheet() {
  const details = state.details;
  state.sheetCase = state.hospitals.default || (details && details.case) || "general";
  $("hospitals").hidden = false;
  renderSheet();
  if (state.link === "online") loadHospitals(state.sheetCase);
}

function closeSheet() {
  $("hospitals").hidden = true;
}

function chooseHospital(hospital) {
  closeSheet();
  if (hospital) {
    state.destination = {
      id: hospital.id, name: hospital.name, location: hospital.location, eta_seconds: hospital.eta_seconds,
    };
  }
  tapStep("transporting", hospital ? { hospital: hospital.id } : {});
}

function renderSheet() {
  if ($("hospitals").hidden) return;
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-pressed", String(tab.dataset.case === state.sheetCase));
  }
  const answer = state.hospitals[state.sheetCase];
  const list = $("hospital-list");
  if (!answer) {
    setText("hospitals-note", state.link === "online"
      ? pgettext("crew", "Finding the nearest emergency departments…")
      : pgettext("crew", "No signal and no list saved: choose “No destination yet” and tell the control room."));
    list.replaceChildren();
    return;
  }
  setText("hospitals-note", answer.hospitals.length ? "" : pgettext("crew", "No suitable emergency department found."));
  const rows = answer.hospitals.map((hospital) => {
    const item = document.createElement("li");
    const row = document.createElement("button");
    row.type = "button";
    row.className = "hospital";
    row.dataset.hospital = String(hospital.id);
    row.dataset.preferred = String(hospital.preferred);
    const name = document.createElement("span");
    name.className = "hospital-name";
    name.textContent = hospital.name;
    const facts = document.createElement("span");
    facts.className = "hospital-facts";
    facts.textContent = format(pgettext("crew", "%(min)s min · %(km)s km · %(category)s"), {
      min: minutes(hospital.eta_seconds), km: kilometres(hospital.distance_m), category: hospital.category || "RS",
    });
    if (hospital.ed_status !== "open") {
      const flag = document.createElement("span");
      flag.className = "hospital-flag";
      flag.textContent = hospital.ed_status === "diversion" ? pgettext("crew", "Diversion") : pgettext("crew", "Closed");
      facts.append(flag);
    }
    row.append(name, facts);
    row.addEventListener("click", () => chooseHospital(hospital));
    item.append(row);
    return item;
  });
  list.replaceChildren(...rows);
}

// --- Wiring ------------------------------------------------------------------------------------

const positions = new PositionReporter({
  maxAccuracy: config.maxAccuracy,
  intervalMs: config.positionIntervalMs,
  clock: (phoneMs) => serverNow(phoneMs),
  onFix: (fix, accepted) => {
    state.fix = fix;
    state.fixAccepted = accepted;
    state.gpsProblem = "";
    if (state.assignment) jobMap.setUnit(fix);
    renderGps();
  },
  onBatch: (batch) => {
    outbox.addPositions(`${config.api}units/${config.unit}/positions/`, batch).then(() => outbox.flush());
  },
  onError: (problem) => {
    state.gpsProblem = problem;
    renderGps();
  },
});

function wire() {
  $("hospital-cancel").addEventListener("click", closeSheet);
  $("hospital-none").addEventListener("click", () => chooseHospital(null));
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      state.sheetCase = tab.dataset.case;
      renderSheet();
      if (state.link === "online") loadHospitals(state.sheetCase);
    });
  }
  $("sound-prompt").addEventListener("click", () => {
    unlockAudio();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission()
        .then((answer) => { if (answer === "granted") pushSubscribe({ api: config.api, key: config.pushKey }); })
        .catch(() => {});
    }
    setTimeout(update, 300);
  });
  // Any tap on the page may unlock the sound for the next alarm.
  document.addEventListener("pointerdown", () => {
    if (!audioReady() && unlockAudio()) setTimeout(update, 300);
  }, { capture: true });
  $("logout-form").addEventListener("submit", (event) => {
    const { taps } = outbox.counts();
    if (taps && !window.confirm(pgettext("crew", "Some taps are not sent yet. Log out anyway? They stay on this phone."))) {
      event.preventDefault();
      return;
    }
    localStorage.removeItem(STORAGE_KEY);
    // A phone put down must ring no more: the push subscription is withdrawn before the session ends.
    if (config.pushKey && !event.target.dataset.pushWithdrawn) {
      event.preventDefault();
      const form = event.target;
      // Never held up for long: a service worker that never came up leaves nothing to withdraw.
      const patience = new Promise((resolve) => { setTimeout(resolve, 3000); });
      Promise.race([pushUnsubscribe({ api: config.api, key: config.pushKey }), patience]).finally(() => {
        form.dataset.pushWithdrawn = "1";
        form.submit();
      });
    }
  });
  window.addEventListener("online", () => {
    setLink(stream.open ? "online" : "connecting");
    stream.reconnectNow();
    outbox.flush();
  });
  window.addEventListener("offline", () => {
    stream.drop();
    setLink("offline");
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      stream.reconnectNow();
      outbox.flush();
      update();
    }
  });
  setInterval(() => {
    const status = effectiveStatus();
    renderCountdown(status && !ENDED.has(status) ? status : null);
    if (state.notice && state.notice.until <= Date.now()) {
      state.notice = null;
      renderBanner();
    }
  }, 1000);
  setInterval(() => {
    if (pending.length) outbox.flush();
    if (!stream.open) stream.reconnectNow();
  }, config.retryMs);
}

async function main() {
  restore();
  wire();
  update();
  if ("serviceWorker" in navigator && config.sw) {
    navigator.serviceWorker.register(config.sw, { scope: config.scope })
      .then(() => pushSubscribe({ api: config.api, key: config.pushKey }))
      .catch(() => {});
  }
  try {
    await outbox.open();
  } catch (error) {
    state.notice = { text: pgettext("crew", "This phone cannot keep taps offline (storage blocked)."), until: Date.now() + 15000 };
  }
  stream.start();
  positions.start();
  outbox.flush();
}

main();
