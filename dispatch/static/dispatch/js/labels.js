// Words and numbers as the screens show them. Strings go through Django's JavaScript catalogue
// (/jsi18n/), so they appear in the user's language: Bahasa Indonesia by default.

// Strings are always written as gettext("…") so that makemessages finds them; fmt fills in the names.
export const fmt = (translated, values) => window.interpolate(translated, values, true);

export const PRIORITY = {
  1: gettext("RED"),
  2: gettext("YELLOW"),
  3: gettext("GREEN"),
};

export const INCIDENT_STATUS = {
  pending: gettext("Waiting for a unit"),
  dispatched: gettext("Unit assigned"),
  on_scene: gettext("Unit on scene"),
  transporting: gettext("Transporting patient"),
  closed: gettext("Closed"),
  cancelled: gettext("Cancelled"),
};

export const UNIT_STATUS = {
  available: gettext("Available"),
  assigned: gettext("Alerted"),
  en_route: gettext("En route"),
  on_scene: gettext("On scene"),
  transporting: gettext("Transporting"),
  at_hospital: gettext("At hospital"),
  returning: gettext("Returning"),
  out_of_service: gettext("Out of service"),
};
// The order units are listed in: who can go first, who is busy, who is out.
export const UNIT_STATUS_ORDER = [
  "available", "returning", "assigned", "en_route", "on_scene", "transporting", "at_hospital", "out_of_service",
];

export const ASSIGNMENT_STATUS = {
  assigned: gettext("Alerted, no answer yet"),
  acknowledged: gettext("Acknowledged"),
  en_route: gettext("En route"),
  on_scene: gettext("On scene"),
  transporting: gettext("Transporting"),
  at_hospital: gettext("At hospital"),
  cleared: gettext("Cleared"),
  declined: gettext("Declined"),
  expired: gettext("No answer"),
  cancelled: gettext("Cancelled"),
};
// Short forms for chips where space is tight.
export const ASSIGNMENT_SHORT = {
  assigned: gettext("Alerted"),
  acknowledged: gettext("Acknowledged"),
  en_route: gettext("En route"),
  on_scene: gettext("On scene"),
  transporting: gettext("Transporting"),
  at_hospital: gettext("At hospital"),
};
// Why an assignment ended, as the services record it.
export const ENDED_REASON = {
  ack_timeout: gettext("no answer in time"),
  reassigned: gettext("replaced by another unit"),
  "incident cancelled": gettext("incident cancelled"),
  cleared: gettext("job done"),
  declined: gettext("declined by the crew"),
  expired: gettext("no answer in time"),
  cancelled: gettext("cancelled"),
  "pre-empted": gettext("taken for a priority-1 incident"),
};
export const ACTIVE_ASSIGNMENT = new Set(["assigned", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"]);
export const OPEN_INCIDENT = new Set(["pending", "dispatched", "on_scene", "transporting"]);

export const KIND = { als: "ALS", bls: "BLS", transport: gettext("Transport") };

// The alert codes of events.alert; the text is built here so that it follows the screen's language.
export const ALERT_TEXT = {
  no_unit_available: gettext("No unit available: incident %(number)s is waiting."),
  ack_timeout: gettext("Unit %(unit)s did not acknowledge incident %(number)s."),
  outside_service_area: gettext("Incident %(number)s is outside the service area: it is not dispatched automatically."),
  late: gettext("Unit %(unit)s is late for incident %(number)s."),
  declined: gettext("Unit %(unit)s declined incident %(number)s."),
  address_not_found: gettext("Address of incident %(number)s not found: set the place on the map."),
};
export const ALERT_TITLE = {
  no_unit_available: gettext("No unit"),
  ack_timeout: gettext("No acknowledgement"),
  outside_service_area: gettext("Outside area"),
  late: gettext("Late"),
  declined: gettext("Declined"),
  address_not_found: gettext("Address not found"),
  preempted: gettext("Unit diverted"),
};
export const CRITICAL_ALERTS = new Set(["no_unit_available", "ack_timeout", "late", "declined"]);

export function alertText(data) {
  const template = ALERT_TEXT[data.code];
  if (!template) return data.message || data.code;
  return fmt(template, { number: data.incident_number || data.incident || "?", unit: data.call_sign || data.unit || "?" });
}

const pad = (n) => String(n).padStart(2, "0");
// Times are shown in the service's time zone (TIME_ZONE), whatever the PC's clock is set to.
const TIME_ZONE = JSON.parse(document.getElementById("screen-config").textContent).timeZone || undefined;

// An elapsed time as a control room reads it: 4:07, 1:02:33.
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return hours ? hours + ":" + pad(minutes) + ":" + pad(s % 60) : minutes + ":" + pad(s % 60);
}

export const secondsSince = (iso, now = Date.now()) => (iso ? (now - Date.parse(iso)) / 1000 : null);

export function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return fmt(gettext("%(n)s min"), { n: Math.max(1, Math.round(seconds / 60)) });
}

// A share (0..1) as a percentage: 0.834 → "83%".
export function percent(share) {
  if (share === null || share === undefined || !Number.isFinite(share)) return "–";
  return new Intl.NumberFormat(document.documentElement.lang, { style: "percent", maximumFractionDigits: 0 }).format(share);
}

export function kilometres(metres) {
  if (metres === null || metres === undefined) return "–";
  return fmt(gettext("%(n)s km"), { n: (metres / 1000).toLocaleString(document.documentElement.lang, { maximumFractionDigits: 1 }) });
}

export function clockTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", timeZone: TIME_ZONE });
}

export function dateTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(document.documentElement.lang, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone: TIME_ZONE,
  });
}

// How long ago a position was reported, in words that fit a tile.
export function ago(iso, now = Date.now()) {
  const s = secondsSince(iso, now);
  if (s === null) return gettext("no GPS yet: at post");
  if (s < 60) return gettext("position just now");
  if (s < 3600) return fmt(gettext("position %(n)s min ago"), { n: Math.floor(s / 60) });
  if (s < 86400) return fmt(gettext("position %(n)s h ago"), { n: Math.floor(s / 3600) });
  return fmt(gettext("position %(n)s days ago"), { n: Math.floor(s / 86400) });
}

export function place(incident) {
  const region = [incident.kelurahan, incident.kecamatan].filter(Boolean).join(", ");
  return [incident.address, region].filter(Boolean).join(" · ") || gettext("Place not known yet");
}

// Where to draw a unit: its last reported position, or its post when it has never reported one.
export function unitOnMap(unit) {
  const known = unit.location && unit.location.lat !== null && unit.location.lat !== undefined;
  if (known) return { ...unit, atPost: false };
  if (unit.station && unit.station.location) return { ...unit, location: unit.station.location, atPost: true };
  return { ...unit, location: null, atPost: true };
}

// Units drawn at the same spot (a post with two ambulances) are stacked, not hidden under each other.
export function stacked(units) {
  const seen = new Map();
  return units.map((unit) => {
    if (!unit.location) return unit;
    const key = unit.location.lat.toFixed(4) + "," + unit.location.lon.toFixed(4);
    const stack = seen.get(key) || 0;
    seen.set(key, stack + 1);
    return { ...unit, stack };
  });
}

// The day's sequence part of an incident number ("20250105-00042" → "00042"), where space is short.
export const shortNumber = (incident) =>
  incident.number ? incident.number.split("-").pop() : "#" + incident.id;
