// Emergency departments on the console: open, on diversion or closed, live (`hospital.updated`), with a
// dispatcher's switch to change one (POST /api/v1/hospitals/{id}/status/). Those not open are also marked
// on the map: they are what a dispatcher must keep in mind when a crew picks a destination.

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import { clockTime, fmt } from "./labels.js";
import { MarkerSet } from "./map.js";

export const ED_STATUS = {
  open: gettext("ED open"),
  diversion: gettext("On diversion"),
  closed: gettext("ED closed"),
};
const ED_ORDER = { closed: 0, diversion: 1, open: 2 };
// A change stays highlighted this long, so that a dispatcher looking away still sees it.
const CHANGED_MS = 120000;

export class HospitalBoard {
  constructor({ map, canChange }) {
    this.canChange = canChange;
    this.hospitals = new Map();
    this.changed = new Map(); // id → {at, from}
    this.error = "";
    this.markers = new MarkerSet(map, {
      zIndexOffset: 200,
      signature: (hospital) => [hospital.name, hospital.ed_status],
      icon: (hospital) => h("div", {
        class: ["mk-hospital", "ed-" + hospital.ed_status],
        title: hospital.name + " · " + (ED_STATUS[hospital.ed_status] || hospital.ed_status),
      }, "RS"),
    });
    setInterval(() => this.expireHighlights(), 10000);
  }

  async load() {
    try {
      const list = await api("/api/v1/hospitals/");
      this.hospitals = new Map(list.filter((x) => x.has_emergency_department !== false).map((x) => [x.id, x]));
      this.error = "";
    } catch (error) {
      this.error = fmt(gettext("Hospitals could not be loaded: %(why)s"), { why: error.message });
    }
    this.render();
  }

  onChange(change) {
    if (change.type === "snapshot") {
      this.load();
    } else if (change.type === "hospital.updated") {
      const before = this.hospitals.get(change.data.id);
      if (change.data.has_emergency_department === false) this.hospitals.delete(change.data.id);
      else this.hospitals.set(change.data.id, change.data);
      if (!before || before.ed_status !== change.data.ed_status) {
        this.changed.set(change.data.id, { at: change.at || new Date().toISOString(), from: before ? before.ed_status : null });
      }
      this.render();
    }
  }

  async setStatus(hospital, status) {
    this.error = "";
    try {
      const answer = await api("/api/v1/hospitals/" + hospital.id + "/status/", { method: "POST", body: { ed_status: status } });
      this.onChange({ type: "hospital.updated", data: answer, at: new Date().toISOString() });
    } catch (error) {
      this.error = fmt(gettext("Status of %(name)s not changed: %(why)s"), { name: hospital.name, why: error.message });
      this.render();
    }
  }

  expireHighlights() {
    const now = Date.now();
    let expired = false;
    for (const [id, change] of this.changed) {
      if (now - Date.parse(change.at) > CHANGED_MS) {
        this.changed.delete(id);
        expired = true;
      }
    }
    if (expired) this.render();
  }

  render() {
    const hospitals = [...this.hospitals.values()].sort((a, b) =>
      (ED_ORDER[a.ed_status] ?? 3) - (ED_ORDER[b.ed_status] ?? 3) || a.name.localeCompare(b.name));
    const counts = { open: 0, diversion: 0, closed: 0 };
    for (const hospital of hospitals) counts[hospital.ed_status] = (counts[hospital.ed_status] || 0) + 1;
    $("#hospitals-count").textContent = hospitals.length
      ? fmt(gettext("%(open)s open · %(diversion)s diversion · %(closed)s closed"), counts)
      : "";
    const error = $("#hospitals-error");
    error.hidden = !this.error;
    error.textContent = this.error;
    // The switch a dispatcher was using keeps the focus across the redraw.
    const focused = document.activeElement && document.activeElement.closest("#hospital-list .hospital");
    const focusedId = focused ? focused.dataset.hospital : null;
    replace($("#hospital-list"), hospitals.length
      ? hospitals.map((hospital) => this.row(hospital))
      : h("li", { class: "empty" }, this.error ? "" : gettext("No emergency departments known.")));
    if (focusedId) $('#hospital-list .hospital[data-hospital="' + focusedId + '"] select')?.focus();
    this.markers.sync(hospitals.filter((x) => x.ed_status !== "open"));
  }

  row(hospital) {
    const change = this.changed.get(hospital.id);
    const label = ED_STATUS[hospital.ed_status] || hospital.ed_status;
    return h("li", { class: ["hospital", "ed-" + hospital.ed_status, change && "is-changed"], dataset: { hospital: hospital.id, status: hospital.ed_status } },
      h("span", { class: "name", title: hospital.name }, hospital.name),
      this.canChange
        ? h("select", {
          class: ["ed-select", "ed-" + hospital.ed_status], "aria-label": fmt(gettext("Emergency department of %(name)s"), { name: hospital.name }),
          onchange: (event) => this.setStatus(hospital, event.target.value),
        }, Object.entries(ED_STATUS).map(([value, text]) => h("option", { value, selected: value === hospital.ed_status }, text)))
        : h("span", { class: ["ed-badge", "ed-" + hospital.ed_status] }, label),
      change
        ? h("span", { class: "changed" }, fmt(gettext("changed %(time)s"), { time: clockTime(change.at) }))
        : null);
  }
}
