// The live picture: open incidents and all units, by id. A snapshot replaces it; each event replaces
// (or merges) one object, so applying the same event twice changes nothing.

import { OPEN_INCIDENT } from "./labels.js";

function upsert(list, item) {
  const out = (list || []).filter((x) => x.id !== item.id);
  out.push(item);
  return out;
}

export class Store {
  constructor() {
    this.incidents = new Map();
    this.units = new Map();
    this.listeners = new Set();
    this.lastEventAt = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
  }

  emit(change) {
    for (const listener of this.listeners) listener(change, this);
  }

  snapshot(data) {
    this.incidents = new Map((data.incidents || []).filter((i) => OPEN_INCIDENT.has(i.status)).map((i) => [i.id, i]));
    this.units = new Map((data.units || []).map((u) => [u.id, u]));
    this.emit({ type: "snapshot" });
  }

  apply(envelope) {
    const data = envelope.data || {};
    const before = data.id !== undefined ? this.incidents.get(data.id) : undefined;
    switch (envelope.type) {
      case "incident.created":
      case "incident.updated":
        if (OPEN_INCIDENT.has(data.status)) this.incidents.set(data.id, data);
        else this.incidents.delete(data.id);
        break;
      case "call.created": {
        const incident = this.incidents.get(data.incident);
        if (incident) incident.calls = upsert(incident.calls, data);
        break;
      }
      case "assignment.created":
      case "assignment.updated": {
        const incident = this.incidents.get(data.incident && data.incident.id);
        if (incident) {
          const { route, ...assignment } = data;
          incident.assignments = upsert(incident.assignments, assignment).sort((a, b) => a.id - b.id);
        }
        break;
      }
      case "unit.updated":
        this.units.set(data.id, data);
        break;
      case "unit.moved": {
        const unit = this.units.get(data.id);
        if (unit) {
          unit.location = data.location;
          unit.location_at = data.location_at;
          unit.status = data.status || unit.status;
        }
        break;
      }
      default:
        break;
    }
    this.lastEventAt = envelope.at;
    this.emit({ type: envelope.type, data, seq: envelope.seq, at: envelope.at, before });
  }

  openIncidents() {
    return [...this.incidents.values()];
  }

  activeAssignments(incident) {
    return (incident.assignments || []).filter((a) =>
      ["assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"].includes(a.status));
  }
}
