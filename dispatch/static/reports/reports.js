/* The response-time report page: filters → GET /api/v1/reports/response-times/ → headline, charts, map, tables.
   Its words come from Django's JavaScript catalogue (/jsi18n/, loaded before this script): Bahasa Indonesia by
   default. Every string is written out whole inside gettext(), so that makemessages finds it. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("report-config").textContent);
  var outlines = JSON.parse(document.getElementById("kecamatan-outlines").textContent);
  var form = document.getElementById("filters");
  var status = document.getElementById("status");
  var map = null, layer = null;

  function $(id) { return document.getElementById(id); }

  function fmt(translated, values) { return interpolate(translated, values, true); }

  var INTERVAL_NAMES = {
    call_to_dispatch: gettext("Call to dispatch"),
    turnout: gettext("Turnout"),
    travel: gettext("Travel"),
    response: gettext("Response"),
    on_scene: gettext("On scene"),
    transport: gettext("Transport"),
    total: gettext("Total"),
  };
  var MEDIAN = gettext("Median");
  var P90 = gettext("90th percentile");

  function minuteLabel(n) { return fmt(gettext("%(n)s min"), { n: n }); }

  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var whole = Math.round(seconds);
    return Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
  }

  function nextDay(iso) {
    var d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    return d.toISOString().slice(0, 10);
  }

  function query() {
    var params = new URLSearchParams();
    var since = $("f-since").value, until = $("f-until").value;
    // Whole local days: naive times are read in the server's time zone.
    if (since) params.set("since", since + "T00:00");
    if (until) params.set("until", nextDay(until) + "T00:00");
    if ($("f-priority").value) params.set("priority", $("f-priority").value);
    if ($("f-kecamatan").value) params.set("kecamatan", $("f-kecamatan").value);
    return params;
  }

  var SCALE_MIN = [5, 10, 15];  // legend stops: green at 5 min or less, yellow at 10, red at 15 or more

  function colour(seconds) {
    if (seconds === null || seconds === undefined) return "#c9ced6";
    var lo = SCALE_MIN[0] * 60, hi = SCALE_MIN[SCALE_MIN.length - 1] * 60;
    var f = Math.max(0, Math.min(1, (seconds - lo) / (hi - lo)));
    var hue = 120 - 120 * f;
    return "hsl(" + hue.toFixed(0) + ", 65%, 45%)";
  }

  function headline(report) {
    var response = report.overall.response;
    $("h-count").textContent = report.incidents;
    $("h-median").textContent = minutes(response.median);
    $("h-p90").textContent = minutes(response.p90);
    config.targetsMinutes.slice(0, 2).forEach(function (target, i) {
      var within = report.priority_1_within[String(target)];
      $("h-within-" + i + "-label").textContent = fmt(gettext("Priority 1 reached within %(minutes)s min"), { minutes: target });
      $("h-within-" + i).textContent = within && within.share !== null
        ? (within.share * 100).toFixed(0) + " % (" + within.reached + "/" + within.of + ")" : "–";
    });
  }

  function histogram(report) {
    var bins = report.histogram;
    var width = bins.length > 1 ? bins[1].from_min - bins[0].from_min : 1;
    var bars = bins.map(function (b) {
      var label = b.to_min === null ? "≥" + b.from_min : String(b.from_min);
      var title = b.to_min === null
        ? fmt(gettext("%(from)s min or more: %(count)s incidents"), { from: b.from_min, count: b.count })
        : fmt(gettext("%(from)s–%(to)s min: %(count)s incidents"), { from: b.from_min, to: b.to_min, count: b.count });
      return { label: label, value: b.count, title: title };
    });
    var markers = config.targetsMinutes.map(function (t) { return { at: t / width, label: minuteLabel(t) }; });
    ReportCharts.barChart($("chart-histogram"), bars, { xLabel: gettext("Response time (minutes)"), markers: markers });
  }

  function daily(report) {
    var days = report.daily;
    var labels = days.map(function (d) { return d.date.slice(5); });
    var series = [
      { name: P90, className: "s-p90", values: days.map(function (d) { return d.p90 === null ? null : d.p90 / 60; }) },
      { name: MEDIAN, className: "s-median", values: days.map(function (d) { return d.median === null ? null : d.median / 60; }) },
    ];
    var targets = config.targetsMinutes.map(function (t) { return { y: t, label: fmt(gettext("target %(n)s min"), { n: t }) }; });
    ReportCharts.lineChart($("chart-daily"), labels, series, { xLabel: "", targets: targets });
  }

  function drawMap(report) {
    if (typeof L === "undefined") return;
    if (map === null) {
      map = L.map("map", { zoomControl: true, attributionControl: Boolean(config.map.tileAttribution) })
        .setView(config.map.center, config.map.zoom);
      if (config.map.tileUrl) L.tileLayer(config.map.tileUrl, { attribution: config.map.tileAttribution }).addTo(map);
    }
    if (layer !== null) layer.remove();
    layer = L.geoJSON(outlines, {
      style: function (feature) {
        var figures = report.by_kecamatan[feature.properties.name];
        var median = figures ? figures.response.median : null;
        return { color: "#333", weight: 1, fillColor: colour(median), fillOpacity: 0.7 };
      },
      onEachFeature: function (feature, shape) {
        var figures = report.by_kecamatan[feature.properties.name];
        var response = figures ? figures.response : null;
        var text = fmt(gettext("%(name)s: median %(median)s, 90th percentile %(p90)s, %(count)s incidents"), {
          name: feature.properties.name,
          median: minutes(response && response.median),
          p90: minutes(response && response.p90),
          count: response ? response.count : 0,
        });
        // As text, never as HTML: a kecamatan's name comes from an import.
        var tip = document.createElement("span");
        tip.textContent = text;
        shape.bindTooltip(tip);
      },
    }).addTo(map);
    if (outlines.features.length) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
    var legend = $("map-legend");
    legend.textContent = "";
    SCALE_MIN.forEach(function (m) {
      var item = document.createElement("span");
      item.className = "legend-item";
      var swatch = document.createElement("span");
      swatch.className = "legend-swatch";
      swatch.style.backgroundColor = colour(m * 60);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(" " + minuteLabel(m)));
      legend.appendChild(item);
    });
  }

  function table(container, groups, groupLabel, nameOf) {
    container.textContent = "";
    var keys = Object.keys(groups);
    if (!keys.length) { container.textContent = gettext("No incidents for these filters."); return; }
    var tableEl = document.createElement("table");
    var head = tableEl.createTHead().insertRow();
    [groupLabel, gettext("Interval"), gettext("Incidents"), gettext("Mean"), MEDIAN, P90].forEach(function (text) {
      var th = document.createElement("th"); th.textContent = text; head.appendChild(th);
    });
    var body = tableEl.createTBody();
    keys.forEach(function (key) {
      config.intervals.forEach(function (interval, i) {
        var f = groups[key][interval];
        var row = body.insertRow();
        if (i === 0) row.className = "group-start";
        [i === 0 ? nameOf(key) : "", INTERVAL_NAMES[interval] || interval, f.count, minutes(f.mean), minutes(f.median), minutes(f.p90)]
          .forEach(function (text) { row.insertCell().textContent = text; });
      });
    });
    container.appendChild(tableEl);
  }

  function load() {
    var params = query();
    $("csv-link").href = config.csv + "?" + params.toString();
    status.textContent = gettext("Loading…");
    fetch(config.api + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { if (!answer.ok) throw new Error(answer.status); return answer.json(); })
      .then(function (report) {
        status.textContent = report.incidents ? "" : gettext("No incidents for these filters.");
        headline(report);
        histogram(report);
        daily(report);
        drawMap(report);
        table($("table-priority"), report.by_priority, gettext("Priority"), function (p) { return p + " · " + (config.priorities[p] || ""); });
        table($("table-kecamatan"), report.by_kecamatan, gettext("Kecamatan"), function (k) { return k; });
      })
      .catch(function () { status.textContent = gettext("The report could not be loaded."); });
  }

  $("f-since").value = config.defaultSince;
  $("f-until").value = config.defaultUntil;
  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();
