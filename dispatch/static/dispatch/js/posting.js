// The posting plan: for N units (the fleet by default), where they should stand by against where they stand
// today, from GET /api/v1/posting-plan/?units=N. A table of posts and of kecamatan, the coverage figures,
// and each post on the map with its units planned (and today's, where they differ). The live stream only
// says when today's posting has changed, so that the dispatcher can compute again.

import { api, query } from "./api.js";
import { $, h, replace } from "./dom.js";
import { fmt, minutes, percent } from "./labels.js";
import { LiveStream, showLinkStatus } from "./live.js";
import { MarkerSet, createMap } from "./map.js";
import { config } from "./shell.js";

const SITE_KIND = {
  puskesmas: gettext("Puskesmas"),
  hospital: gettext("Hospital"),
  station: gettext("Post"),
};

const { map, ready } = createMap($("#map"), config);
const markers = new MarkerSet(map, {
  signature: (site) => [site.name, site.plan, site.current],
  icon: (site) => h("div", {
    class: ["mk-post", change(site)],
    title: fmt(gettext("%(name)s: %(plan)s planned, %(current)s today"), site),
    dataset: { site: site.id },
  }, site.plan === site.current ? String(site.plan) : site.current + "→" + site.plan),
});
const state = { answer: null, loading: false, stale: false, requests: 0 };

const change = (site) => (site.plan > site.current ? "more" : site.plan < site.current ? "fewer" : "same");

// Plan and today's posting, one row per site (a site with no unit in one of them counts 0 there).
function sites(answer) {
  const rows = new Map();
  for (const [side, posting] of [["plan", answer.plan], ["current", answer.current]]) {
    for (const post of posting.posts || []) {
      const key = post.site.kind + ":" + post.site.id;
      const row = rows.get(key) || { id: key, kind: post.site.kind, name: post.site.name, location: post.site.location, plan: 0, current: 0 };
      row[side] += post.units;
      rows.set(key, row);
    }
  }
  return [...rows.values()].sort((a, b) => b.plan - a.plan || b.current - a.current || a.name.localeCompare(b.name));
}

function figureRow(label, plan, current, better) {
  return [
    h("dt", null, label),
    h("dd", { class: better ? "better" : null }, plan),
    h("dd", null, current),
  ];
}

function render() {
  const answer = state.answer;
  if (!answer) return;
  const plan = answer.plan;
  const current = answer.current;
  $("#posting-target").textContent = fmt(gettext("target %(time)s"), { time: minutes(answer.target_seconds) });
  replace($("#posting-figures"),
    h("dt", { class: "head" }, ""), h("dd", { class: "head" }, fmt(gettext("Plan (%(n)s units)"), { n: answer.units })),
    h("dd", { class: "head" }, gettext("Today")),
    figureRow(gettext("Expected coverage"), percent(plan.expected_coverage), percent(current.expected_coverage),
      plan.expected_coverage > current.expected_coverage),
    figureRow(fmt(gettext("Demand reached within %(time)s"), { time: minutes(answer.target_seconds) }),
      percent(plan.covered_share), percent(current.covered_share), plan.covered_share > current.covered_share),
    figureRow(gettext("Travel time, median"), minutes(plan.median_s), minutes(current.median_s), plan.median_s < current.median_s),
    figureRow(gettext("Travel time, 90th percentile"), minutes(plan.p90_s), minutes(current.p90_s), plan.p90_s < current.p90_s));
  const rows = sites(answer);
  $("#posts-count").textContent = fmt(gettext("%(n)s posts"), { n: rows.filter((r) => r.plan > 0).length });
  replace($("#posts-body"), rows.map((site) => {
    const delta = site.plan - site.current;
    return h("tr", { class: ["site", change(site)], dataset: { site: site.id } },
      h("td", null, h("span", { class: "site-name" }, site.name), h("span", { class: "site-kind" }, SITE_KIND[site.kind] || site.kind)),
      h("td", { class: "n plan" }, String(site.plan)),
      h("td", { class: "n current" }, String(site.current)),
      h("td", { class: "n delta" }, delta > 0 ? "+" + delta : String(delta)));
  }));
  replace($("#kecamatan-body"), (answer.kecamatan || []).map((k) => h("tr", { dataset: { kecamatan: k.name } },
    h("td", null, k.name),
    h("td", { class: ["n", k.plan_covered_share > k.current_covered_share && "better"] }, percent(k.plan_covered_share)),
    h("td", { class: "n" }, percent(k.current_covered_share)))));
  markers.sync(rows);
  // The map shows the city; it zooms out only when a post lies outside it (a province's plan).
  const bounds = L.latLngBounds(rows.filter((r) => r.location).map((r) => [r.location.lat, r.location.lon]));
  ready.then(() => {
    if (bounds.isValid() && !map.getBounds().contains(bounds)) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 13 });
  });
}

function status(text, isError = false) {
  const el = $("#posting-status");
  el.textContent = text;
  el.classList.toggle("action-error", isError);
}

async function load() {
  const input = $("#units-input");
  const units = Number(input.value);
  if (!Number.isInteger(units) || units < 1 || units > config.maxUnits) {
    input.setAttribute("aria-invalid", "true");
    status(fmt(gettext("Give a whole number of units from 1 to %(max)s."), { max: config.maxUnits }), true);
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  state.loading = true;
  state.requests += 1;
  $("#posting-submit").disabled = true;
  status(gettext("Computing the plan…"));
  try {
    state.answer = await api("/api/v1/posting-plan/?" + query({ units }));
    state.stale = false;
    status(fmt(gettext("Plan for %(n)s units."), { n: state.answer.units }));
    window.history.replaceState(null, "", "?" + query({ units }));
    render();
  } catch (error) {
    const field = error.fields && error.fields.units;
    status(fmt(gettext("The plan could not be computed: %(why)s"), { why: field ? [].concat(field).join(" ") : error.message }), true);
  } finally {
    state.loading = false;
    $("#posting-submit").disabled = false;
  }
}

$("#posting-form").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});

const asked = new URLSearchParams(window.location.search).get("units");
if (asked) $("#units-input").value = asked;
load();

// Today's posting changes when a unit is given another post (move-up) or leaves or rejoins service: say so.
const postOf = (unit) => (unit.status === "out_of_service" || !unit.station ? null : unit.station.id);
const posts = new Map();
const stream = new LiveStream({
  onSnapshot: (data) => {
    posts.clear();
    for (const unit of data.units || []) posts.set(unit.id, postOf(unit));
  },
  onEvent: (envelope) => {
    if (envelope.type !== "unit.updated") return;
    const before = posts.get(envelope.data.id);
    const after = postOf(envelope.data);
    posts.set(envelope.data.id, after);
    if (before === after || !state.answer || state.loading || state.stale) return;
    state.stale = true;
    status(gettext("Today's posting has changed: compute again to compare."));
  },
  onStatus: showLinkStatus,
});
stream.start();

window.pscPosting = { state, load, markers };
