// Move-up on the console: which idle unit should stand by at which post so that every kecamatan stays
// covered (GET /api/v1/moveup/), each move applied with one click (POST /api/v1/moveup/), and drawn on the
// map as a dashed line from the unit to its new post. The plan is asked for again when units change, at
// most once per few seconds: positions stream in all the time, and the plan barely moves with each one.

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import { KIND, fmt, minutes, percent, unitOnMap } from "./labels.js";

const L = window.L;

// How long to wait before asking again: a status change soon, a stream of positions rarely.
export const MOVEUP_DELAY = { status: 1500, position: 15000, periodic: 60000 };

const FREE = new Set(["available", "returning"]);
// A failed move's message stays this long (the refreshed list no longer shows the move itself).
const APPLY_ERROR_MS = 20000;

const APPLY_ERROR = {
  unit_not_free: gettext("Unit %(unit)s is no longer free: the recommendations are being refreshed."),
  not_found: gettext("That unit or post no longer exists: the recommendations are being refreshed."),
  permission_denied: gettext("Only a dispatcher can apply a move."),
  network: gettext("No connection to the server: try again."),
};

export class MoveUpPanel {
  constructor({ map, store, canApply }) {
    this.map = map;
    this.store = store;
    this.canApply = canApply;
    this.plan = null;
    this.loadError = "";
    this.applyError = "";
    this.applying = null; // "unit:station" of the move being applied
    this.timer = null;
    this.dueAt = Infinity;
    this.loading = false;
    this.dirty = false;
    this.lines = L.layerGroup().addTo(map);
    this.linesKey = "";
    this.requests = 0; // how many times the plan was asked for (the browser tests read it)
    setInterval(() => this.refreshSoon(MOVEUP_DELAY.periodic), MOVEUP_DELAY.periodic);
  }

  // Ask again within `delay` ms: an earlier request already scheduled stands, a later one is brought forward.
  refreshSoon(delay) {
    const due = Date.now() + delay;
    if (this.timer && this.dueAt <= due) return;
    clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dueAt = Infinity;
      this.refresh();
    }, delay);
  }

  // What a live event means for the plan; the console passes each one here.
  onChange(change) {
    switch (change.type) {
      case "snapshot":
        this.refreshSoon(0);
        break;
      case "unit.updated":
      case "assignment.created":
      case "assignment.updated":
        this.refreshSoon(MOVEUP_DELAY.status);
        break;
      case "unit.moved":
        this.refreshSoon(MOVEUP_DELAY.position);
        break;
      default:
        break;
    }
  }

  async refresh() {
    if (this.loading) {
      this.dirty = true;
      return;
    }
    this.loading = true;
    this.requests += 1;
    try {
      this.plan = await api("/api/v1/moveup/");
      this.loadError = "";
    } catch (error) {
      this.loadError = error.message;
    } finally {
      this.loading = false;
    }
    this.render();
    if (this.dirty) {
      this.dirty = false;
      this.refreshSoon(MOVEUP_DELAY.status);
    }
  }

  async apply(move) {
    if (this.applying) return;
    this.applying = move.unit.id + ":" + move.to_station.id;
    this.applyError = "";
    this.render();
    try {
      await api("/api/v1/moveup/", { method: "POST", body: { unit: move.unit.id, station: move.to_station.id } });
      // Applied: the move leaves the list at once; the plan for the units left follows.
      this.plan = { ...this.plan, moves: this.plan.moves.filter((m) => m !== move) };
    } catch (error) {
      const template = APPLY_ERROR[error.code];
      this.applyError = template ? fmt(template, { unit: move.unit.call_sign }) : error.message;
      const shown = this.applyError;
      setTimeout(() => {
        if (this.applyError !== shown) return;
        this.applyError = "";
        this.render();
      }, APPLY_ERROR_MS);
    } finally {
      this.applying = null;
    }
    this.render();
    this.refresh();
  }

  render() {
    const plan = this.plan;
    const moves = plan ? plan.moves : [];
    $("#moveup-count").textContent = plan ? String(moves.length) : "";
    const error = $("#moveup-error");
    error.hidden = !this.applyError;
    error.textContent = this.applyError;
    $("#moveup-summary").textContent = this.summary();
    replace($("#moveup-list"), moves.map((move) => this.row(move)));
    $("#moveup").classList.toggle("has-moves", moves.length > 0);
    this.drawMap();
  }

  summary() {
    if (this.loadError && !this.plan) return fmt(gettext("Recommendations could not be loaded: %(why)s"), { why: this.loadError });
    if (!this.plan) return gettext("Computing coverage…");
    const plan = this.plan;
    const names = plan.uncovered.join(", ");
    if (plan.moves.length) {
      return fmt(gettext("Coverage %(now)s → %(after)s with these moves. Not covered now: %(names)s."), {
        now: percent(plan.coverage), after: percent(plan.coverage_after), names: names || "–",
      });
    }
    if (!plan.uncovered.length && !plan.coverage) {
      // Nothing to compute with: no free unit, or no kecamatan (demand) imported.
      const free = [...this.store.units.values()].some((u) => FREE.has(u.status) && !u.active_assignment);
      return free ? gettext("No kecamatan data: coverage cannot be computed.") : gettext("No free unit: nothing to move.");
    }
    if (plan.uncovered.length) {
      return fmt(gettext("Not covered: %(names)s. No free unit can help (coverage %(now)s)."), { names, now: percent(plan.coverage) });
    }
    return fmt(gettext("Every kecamatan is covered (coverage %(now)s): no move needed."), { now: percent(plan.coverage) });
  }

  row(move) {
    const key = move.unit.id + ":" + move.to_station.id;
    const from = move.from_station ? move.from_station.name : gettext("no post");
    const covers = move.newly_covered.length
      ? fmt(gettext("covers %(names)s"), { names: move.newly_covered.join(", ") })
      : gettext("no kecamatan newly covered");
    return h("li", { class: "move", dataset: { unit: move.unit.id, station: move.to_station.id } },
      h("span", { class: "move-unit" },
        h("span", { class: "call-sign" }, move.unit.call_sign), " ",
        h("span", { class: "kind" }, KIND[move.unit.kind] || move.unit.kind)),
      h("span", { class: "move-route" },
        h("span", { class: "from" }, from), " → ", h("span", { class: "to" }, move.to_station.name)),
      h("span", { class: "move-facts" },
        h("span", { class: "travel" }, fmt(gettext("%(time)s to the post"), { time: minutes(move.travel_seconds) })),
        " · ", h("span", { class: "covers" }, covers),
        " · ", h("span", { class: "coverage" }, fmt(gettext("coverage %(before)s → %(after)s"), {
          before: percent(move.coverage_before), after: percent(move.coverage_after),
        }))),
      this.canApply
        ? h("button", {
          type: "button", class: "button-primary button-small", dataset: { action: "apply-move" },
          disabled: Boolean(this.applying),
          title: fmt(gettext("Make %(post)s the post of %(unit)s"), { post: move.to_station.name, unit: move.unit.call_sign }),
          onclick: () => this.apply(move),
        }, this.applying === key ? gettext("Applying…") : gettext("Apply"))
        : null);
  }

  // A dashed line from where each unit is drawn to its recommended post, and a ring at the post.
  drawMap() {
    const moves = this.plan ? this.plan.moves : [];
    const drawn = moves.map((move) => {
      const unit = this.store.units.get(move.unit.id);
      const shown = unit ? unitOnMap(unit) : null;
      return { move, from: shown && shown.location ? [shown.location.lat, shown.location.lon] : null };
    }).filter((d) => d.from);
    const key = JSON.stringify(drawn.map((d) => [d.move.unit.id, d.move.to_station.id, d.from]));
    if (key === this.linesKey) return;
    this.linesKey = key;
    this.lines.clearLayers();
    for (const { move, from } of drawn) {
      const to = [move.to_station.location.lat, move.to_station.location.lon];
      const label = move.unit.call_sign + " → " + move.to_station.name;
      L.polyline([from, to], { color: "#0b3f7a", weight: 3.5, dashArray: "10 7", opacity: 0.95, interactive: false })
        .addTo(this.lines);
      L.circleMarker(to, { radius: 9, color: "#0b3f7a", weight: 3.5, fillColor: "#dce8f7", fillOpacity: 0.95 })
        .bindTooltip(h("span", null, label)) // a node, never a string parsed as HTML
        .addTo(this.lines);
    }
  }

  // For the browser tests: how many lines are on the map.
  lineCount() {
    return this.lines.getLayers().filter((layer) => layer instanceof L.Polyline).length;
  }
}
