// The call-taker screen: keyboard first. The phone number comes first and brings up the caller's
// earlier calls; the place is found by search, a map click or coordinates; possible duplicates show
// before saving, with "attach to this incident". Ctrl+Enter saves; a client_id makes a double submit
// (or a retry after a lost answer) record one call.

import { api, query } from "./api.js";
import { $, h, replace } from "./dom.js";
import {
  ASSIGNMENT_SHORT as ASSIGNMENT_STATUS, INCIDENT_STATUS, PRIORITY, clockTime, dateTime, duration, fmt, minutes, place, secondsSince,
} from "./labels.js";
import { LiveStream, showLinkStatus } from "./live.js";
import { MarkerSet, createMap } from "./map.js";
import { config } from "./shell.js";
import { Store } from "./store.js";

const form = $("#call-form");
const phoneInput = $("#caller-phone");
const nameInput = $("#caller-name");
const placeInput = $("#place");
const results = $("#place-results");
const coordsInput = $("#coords");
const complaintInput = $("#complaint");
const patientsInput = $("#patients");
const notesInput = $("#notes");
const saveButton = $("#save");
const statusLine = $("#form-status");
const RECENT_KEY = "psc119.calltaker.recent";

const state = {
  clientId: newClientId(),
  location: null,
  attachTo: null,
  places: [],
  active: -1,
  saving: false,
  history: null,
};

// crypto.randomUUID needs a secure context; a control-room PC on plain http gets the same from random bytes.
function newClientId() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}

function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

// --- Map ----------------------------------------------------------------------------------------------

const { map } = createMap($("#map"), config, { keyboard: false });
let placeMarker = null;
const store = new Store();
const incidentMarkers = new MarkerSet(map, {
  signature: (i) => [i.priority, i.status, i.number],
  icon: (incident) => h("div", {
    class: ["mk-incident", "p" + incident.priority, "st-" + incident.status], title: (incident.number || "") + " · " + incident.complaint,
  }, String(incident.priority)),
});

map.on("click", (event) => {
  setLocation({ lat: round(event.latlng.lat), lon: round(event.latlng.lng) }, { from: "map" });
});

const round = (value) => Math.round(value * 1e6) / 1e6;

function showPlaceMarker() {
  if (!state.location) {
    if (placeMarker) placeMarker.remove();
    placeMarker = null;
    return;
  }
  const latLng = [state.location.lat, state.location.lon];
  if (!placeMarker) {
    placeMarker = L.marker(latLng, {
      icon: L.divIcon({ className: "mk", html: h("div", { class: "mk-place" }), iconSize: null }),
      keyboard: false, zIndexOffset: 2000,
    }).addTo(map);
  } else {
    placeMarker.setLatLng(latLng);
  }
}

// --- The place ------------------------------------------------------------------------------------------

let reverseRequest = 0;
async function setLocation(location, { from, name } = {}) {
  state.location = location;
  coordsInput.value = location ? location.lat.toFixed(6) + ", " + location.lon.toFixed(6) : "";
  setError("coords", "");
  setError("place", "");
  showPlaceMarker();
  if (location && from !== "map") map.setView([location.lat, location.lon], Math.max(map.getZoom(), 15));
  refreshHistory();
  const info = $("#place-info");
  if (!location) {
    replace(info);
    return;
  }
  const request = ++reverseRequest;
  try {
    const answer = await api("/api/v1/geo/reverse/?" + query({ lat: location.lat, lon: location.lon }));
    if (request !== reverseRequest) return;
    const region = [answer.kelurahan && fmt(gettext("Kel. %(name)s"), { name: answer.kelurahan }),
      answer.kecamatan && fmt(gettext("Kec. %(name)s"), { name: answer.kecamatan })].filter(Boolean).join(", ");
    const near = answer.nearest && answer.nearest.name !== name
      ? fmt(gettext("near %(place)s (%(m)s m)"), { place: answer.nearest.name, m: Math.round(answer.nearest.distance_m) })
      : "";
    replace(info,
      [region, near].filter(Boolean).join(" · "),
      answer.inside_service_area ? null : h("div", { class: "warn" }, gettext("Outside the service area!")));
  } catch {
    if (request === reverseRequest) replace(info);
  }
}

function parseCoordinates(text) {
  const match = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$/.exec(text);
  if (!match) return null;
  const lat = Number(match[1]);
  const lon = Number(match[2]);
  if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
  return { lat, lon };
}

function applyCoordinates() {
  const text = coordsInput.value.trim();
  if (!text) {
    if (state.location) setLocation(null);
    return true;
  }
  const location = parseCoordinates(text);
  if (!location) {
    setError("coords", gettext("Write the coordinates as: -7.9826, 112.6308"));
    return false;
  }
  if (!state.location || state.location.lat !== location.lat || state.location.lon !== location.lon) {
    setLocation(location, { from: "coords" });
  }
  return true;
}

let searchController = null;
const search = debounce(async () => {
  const text = placeInput.value.trim();
  if (searchController) searchController.abort();
  if (text.length < 2) {
    showPlaces([]);
    return;
  }
  searchController = new AbortController();
  try {
    const places = await api("/api/v1/geo/search/?" + query({ q: text, limit: 8 }), { signal: searchController.signal });
    if (placeInput.value.trim() === text) showPlaces(places);
  } catch (error) {
    if (error.name !== "AbortError") showPlaces([]);
  }
}, 180);

function showPlaces(places) {
  state.places = places;
  state.active = places.length ? 0 : -1;
  renderPlaces();
}

function renderPlaces() {
  const open = state.places.length > 0 && document.activeElement === placeInput;
  results.hidden = !open;
  placeInput.setAttribute("aria-expanded", open ? "true" : "false");
  replace(results, state.places.map((p, index) => h("li", {
    role: "option", id: "place-option-" + index, "aria-selected": index === state.active ? "true" : "false",
    onmousedown: (event) => {
      event.preventDefault();
      pickPlace(index);
    },
  }, h("span", null, p.name), h("span", { class: "where" }, [p.kelurahan, p.kecamatan].filter(Boolean).join(", ")))));
  if (state.active >= 0) placeInput.setAttribute("aria-activedescendant", "place-option-" + state.active);
  else placeInput.removeAttribute("aria-activedescendant");
}

function pickPlace(index) {
  const chosen = state.places[index];
  if (!chosen) return;
  placeInput.value = chosen.name;
  state.places = [];
  renderPlaces();
  setLocation(chosen.location, { from: "search", name: chosen.name });
}

placeInput.addEventListener("input", search);
placeInput.addEventListener("blur", () => {
  results.hidden = true;
  placeInput.setAttribute("aria-expanded", "false");
});
placeInput.addEventListener("focus", renderPlaces);
placeInput.addEventListener("keydown", (event) => {
  const open = !results.hidden && state.places.length;
  if (event.key === "ArrowDown" && open) {
    event.preventDefault();
    state.active = (state.active + 1) % state.places.length;
    renderPlaces();
  } else if (event.key === "ArrowUp" && open) {
    event.preventDefault();
    state.active = (state.active - 1 + state.places.length) % state.places.length;
    renderPlaces();
  } else if (event.key === "Enter" && open && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    event.stopPropagation();
    pickPlace(Math.max(state.active, 0));
  } else if (event.key === "Escape" && open) {
    event.preventDefault();
    state.places = [];
    renderPlaces();
  }
});
coordsInput.addEventListener("change", applyCoordinates);

// --- History and possible duplicates ---------------------------------------------------------------------

let historyController = null;
const refreshHistory = debounce(async () => {
  const phone = phoneInput.value.trim();
  const digits = phone.replace(/\D/g, "");
  if (digits.length < 6 && !state.location) {
    state.history = null;
    renderHistory();
    return;
  }
  if (historyController) historyController.abort();
  historyController = new AbortController();
  try {
    state.history = await api("/api/v1/calls/history/?" + query({
      phone: digits.length >= 6 ? phone : "", lat: state.location?.lat, lon: state.location?.lon,
    }), { signal: historyController.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    state.history = null;
  }
  renderHistory();
}, 300);

phoneInput.addEventListener("input", refreshHistory);

function unitsOf(incident) {
  return (incident.assignments || []).filter((a) => ["assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"].includes(a.status))
    .map((a) => a.unit.call_sign + " · " + (ASSIGNMENT_STATUS[a.status] || a.status)).join(", ");
}

function renderHistory() {
  const history = state.history;
  const duplicates = history ? history.possible_duplicates.filter((i) => !state.attachTo || i.id !== state.attachTo.id) : [];
  replace($("#duplicates"), duplicates.length ? [
    h("h3", null, gettext("Possibly the same incident: already open")),
    duplicates.map((incident) => h("div", { class: "dup-card", dataset: { incident: incident.id } },
      h("span", { class: ["prio", "p" + incident.priority] }, incident.priority + " " + PRIORITY[incident.priority]),
      h("span", { class: "what" }, h("strong", null, incident.number || "#" + incident.id), " · ", incident.complaint),
      h("button", { type: "button", class: "button", dataset: { attach: incident.id }, onclick: () => setAttach(incident) },
        gettext("Attach to this incident")),
      h("span", { class: "meta" }, [
        fmt(gettext("%(age)s ago"), { age: duration(secondsSince(incident.received_at)) }),
        place(incident), INCIDENT_STATUS[incident.status], unitsOf(incident)].filter(Boolean).join(" · ")))),
  ] : []);
  const historyBox = $("#history");
  if (!history) {
    replace(historyBox, h("p", { class: "empty" }, gettext("Enter the caller's number to see earlier calls.")));
    return;
  }
  const byPhone = history.by_phone;
  const near = history.near_place;
  replace(historyBox,
    history.phone ? [
      h("h3", null, fmt(gettext("Earlier calls from %(phone)s"), { phone: history.phone })),
      byPhone.length
        ? h("ul", { class: "history-list" }, byPhone.map(({ call, incident }) => h("li", null,
          h("time", { datetime: call.received_at }, dateTime(call.received_at)),
          h("span", { class: ["prio", "p" + call.priority] }, String(call.priority)),
          h("span", null, call.complaint),
          h("span", { class: "empty" }, (incident.number || "") + " · " + (INCIDENT_STATUS[incident.status] || incident.status)))))
        : h("p", { class: "empty" }, gettext("No earlier calls from this number.")),
    ] : null,
    state.location ? [
      h("h3", null, gettext("Earlier incidents at this place")),
      near.length
        ? h("ul", { class: "history-list" }, near.map((incident) => h("li", null,
          h("time", { datetime: incident.received_at }, dateTime(incident.received_at)),
          h("span", { class: ["prio", "p" + incident.priority] }, String(incident.priority)),
          h("span", null, incident.complaint),
          h("span", { class: "empty" }, (incident.number || "") + " · " + (INCIDENT_STATUS[incident.status] || incident.status)))))
        : h("p", { class: "empty" }, gettext("No earlier incidents here.")),
    ] : null);
}

function setAttach(incident) {
  state.attachTo = incident;
  const banner = $("#attach-banner");
  banner.hidden = !incident;
  if (incident) {
    $("#attach-text").textContent = fmt(gettext("This call will be attached to incident %(number)s: %(complaint)s"), {
      number: incident.number || "#" + incident.id, complaint: incident.complaint,
    });
    setError("place", "");
    if (!complaintInput.value.trim()) complaintInput.value = incident.complaint;
    const radio = form.querySelector('input[name="priority"][value="' + incident.priority + '"]');
    if (radio && !form.querySelector('input[name="priority"]:checked')) radio.checked = true;
  }
  renderHistory();
}
$("#attach-clear").addEventListener("click", () => setAttach(null));

// --- Saving -----------------------------------------------------------------------------------------------

const FIELD_INPUT = {
  caller_phone: "caller-phone", complaint: "complaint", priority: "priority", location: "place", address: "place",
  patient_count: "patients", coords: "coords", place: "place",
};

function setError(field, message) {
  const id = FIELD_INPUT[field] || field;
  const box = document.getElementById(id + "-error");
  if (box) box.textContent = message || "";
  const input = id === "priority" ? null : document.getElementById(id);
  if (input) {
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

function clearErrors() {
  for (const field of ["caller-phone", "place", "coords", "complaint", "priority", "patients"]) setError(field, "");
}

function focusField(field) {
  const id = FIELD_INPUT[field] || field;
  if (id === "priority") form.querySelector('input[name="priority"]:checked, input[name="priority"]')?.focus();
  else document.getElementById(id)?.focus();
}

function priority() {
  const checked = form.querySelector('input[name="priority"]:checked');
  return checked ? Number(checked.value) : null;
}

function validate() {
  const errors = {};
  if (!phoneInput.value.trim()) errors.caller_phone = gettext("Enter the caller's number.");
  if (!state.attachTo && !state.location && !placeInput.value.trim()) {
    errors.place = gettext("Give the place: search, click the map or enter coordinates.");
  }
  if (coordsInput.value.trim() && !parseCoordinates(coordsInput.value)) {
    errors.coords = gettext("Write the coordinates as: -7.9826, 112.6308");
  }
  if (!complaintInput.value.trim()) errors.complaint = gettext("Enter the complaint.");
  if (!priority()) errors.priority = gettext("Choose the triage colour (1, 2 or 3).");
  const patients = Number(patientsInput.value || "1");
  if (!Number.isInteger(patients) || patients < 0 || patients > 200) errors.patient_count = gettext("0 to 200 patients.");
  return errors;
}

function showStatus(text, kind) {
  statusLine.textContent = text;
  statusLine.className = "form-status " + (kind || "");
}

async function save() {
  if (state.saving) return;
  applyCoordinates();
  clearErrors();
  const errors = validate();
  const fields = Object.keys(errors);
  if (fields.length) {
    for (const field of fields) setError(field, errors[field]);
    showStatus(gettext("Not saved: check the marked fields."), "error");
    focusField(fields[0]);
    return;
  }
  state.saving = true;
  saveButton.disabled = true;
  showStatus(gettext("Saving…"), "");
  const body = {
    caller_phone: phoneInput.value.trim(),
    caller_name: nameInput.value.trim(),
    address: placeInput.value.trim(),
    complaint: complaintInput.value.trim(),
    priority: priority(),
    patient_count: Number(patientsInput.value || "1"),
    notes: notesInput.value.trim(),
    client_id: state.clientId,
  };
  if (state.location) body.location = state.location;
  if (state.attachTo) body.incident = state.attachTo.id;
  try {
    const answer = await api("/api/v1/calls/", { method: "POST", body });
    const incident = answer.incident;
    remember(incident);
    const number = incident.number || "#" + incident.id;
    const others = (answer.possible_duplicates || []).length;
    const text = body.incident
      ? fmt(gettext("Saved: attached to incident %(number)s."), { number })
      : fmt(gettext("Saved: incident %(number)s."), { number });
    resetForm();
    showStatus(others ? text + " " + fmt(gettext("%(n)s other open incident(s) nearby or from this number: tell the dispatcher."), { n: others }) : text, "ok");
  } catch (error) {
    if (error.status === 400) {
      const serverFields = Object.keys(error.fields || {});
      for (const field of serverFields) setError(field, String(error.fields[field]));
      if (serverFields.includes("incident")) setAttach(null);
      showStatus(gettext("Not saved: check the marked fields."), "error");
      if (serverFields.length) focusField(serverFields[0]);
    } else if (error.code === "incident_closed") {
      setAttach(null);
      showStatus(gettext("Not saved: that incident is closed. Save again to record a new incident."), "error");
    } else {
      // The same client_id goes with the retry: if the first attempt did arrive, no second call is made.
      showStatus(gettext("Not saved: no connection to the server. Try again (Ctrl+Enter)."), "error");
    }
  } finally {
    state.saving = false;
    saveButton.disabled = false;
  }
}

function resetForm() {
  form.reset();
  patientsInput.value = "1";
  state.clientId = newClientId();
  state.places = [];
  state.history = null;
  renderPlaces();
  setAttach(null);
  setLocation(null);
  clearErrors();
  showStatus("", "");
  renderHistory();
  phoneInput.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  save();
});
$("#new-call").addEventListener("click", resetForm);

// Enter moves on to the next field (it never saves by accident); Ctrl+Enter saves from anywhere.
function fieldOrder() {
  const checked = form.querySelector('input[name="priority"]:checked');
  return [...form.querySelectorAll("input:not([type=hidden]), textarea, button")].filter((el) => {
    if (el.disabled || el.offsetParent === null && el.type !== "radio") return false;
    if (el.type !== "radio") return true;
    return checked ? el === checked : el.value === "1";
  });
}

function focusNext(from) {
  const fields = fieldOrder();
  let index = fields.indexOf(from);
  if (index < 0 && from.type === "radio") index = fields.findIndex((el) => el.name === "priority");
  const next = index >= 0 ? fields[index + 1] : null;
  if (next) next.focus();
}

document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    event.preventDefault();
    save();
    return;
  }
  if (event.altKey && ["1", "2", "3"].includes(event.key)) {
    event.preventDefault();
    const radio = form.querySelector('input[name="priority"][value="' + event.key + '"]');
    radio.checked = true;
    setError("priority", "");
    return;
  }
  if (event.altKey && (event.key === "n" || event.key === "N")) {
    event.preventDefault();
    resetForm();
  }
});

form.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.name === "priority" && ["1", "2", "3"].includes(event.key) && !event.altKey && !event.ctrlKey) {
    event.preventDefault();
    const radio = form.querySelector('input[name="priority"][value="' + event.key + '"]');
    radio.checked = true;
    radio.focus();
    setError("priority", "");
    return;
  }
  if (event.key !== "Enter" || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  if (target.tagName === "TEXTAREA" || target.tagName === "BUTTON") return;
  event.preventDefault();
  if (target === coordsInput && !applyCoordinates()) return;
  focusNext(target);
});

// --- Calls recorded here, with their live status ----------------------------------------------------------

function recent() {
  try {
    return JSON.parse(window.sessionStorage.getItem(RECENT_KEY) || "[]");
  } catch {
    return [];
  }
}

function remember(incident) {
  const list = recent().filter((r) => r.id !== incident.id);
  list.unshift({ id: incident.id, number: incident.number, complaint: incident.complaint, priority: incident.priority, at: new Date().toISOString() });
  window.sessionStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, 8)));
  renderRecent();
}

function renderRecent() {
  const list = recent();
  replace($("#recent-list"), list.length ? list.map((r) => {
    const live = store.incidents.get(r.id);
    const units = live ? unitsOf(live) : "";
    const eta = live && (live.assignments || []).find((a) => a.status === "assigned" || a.status === "acknowledged" || a.status === "en_route");
    const status = live ? INCIDENT_STATUS[live.status] : gettext("closed or not in view");
    return h("li", { dataset: { incident: r.id } },
      h("span", { class: ["prio", "p" + (live ? live.priority : r.priority)] }, String(live ? live.priority : r.priority)),
      h("strong", null, r.number || "#" + r.id),
      h("span", { class: "complaint" }, r.complaint),
      h("span", { class: "chip" }, [status, units, eta && eta.eta_seconds !== null ? fmt(gettext("ETA %(eta)s"), { eta: minutes(eta.eta_seconds) }) : ""]
        .filter(Boolean).join(" · ")),
      h("time", { datetime: r.at }, clockTime(r.at)));
  }) : h("li", { class: "empty" }, gettext("None yet.")));
}

store.subscribe(() => {
  renderRecent();
  incidentMarkers.sync(store.openIncidents());
});

const stream = new LiveStream({
  onSnapshot: (data) => store.snapshot(data),
  onEvent: (envelope) => store.apply(envelope),
  onStatus: showLinkStatus,
});
stream.start();
renderRecent();
phoneInput.focus();

window.pscCalltaker = { stream, store, state };
