/* The response-time report page: filters → GET /api/v1/reports/response-times/ → headline, charts, map, tables. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("report-config").textContent);
  var outlines = JSON.parse(document.getElementById("kecamatan-outlines").textContent);
  var L10N = config.labels;
  var form = document.getElementById("filters");
  var status = document.getElementById("status");
  var map = null, layer = null;

  function $(id) { return document.getElementById(id); }

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
      $("h-within-" + i + "-label").textContent = L10N.reachedWithin.replace("%(minutes)s", target);
      $("h-within-" + i).textContent = within && within.share !== null
        ? (within.share * 100).toFixed(0) + " % (" + within.reached + "/" + within.of + ")" : "–";
    });
  }

  function histogram(report) {
    var bins = report.histogram;
    var width = bins.length > 1 ? bins[1].from_min - bins[0].from_min : 1;
    var bars = bins.map(function (b) {
      var label = b.to_min === null ? "≥" + b.from_min : String(b.from_min);
      return { label: label, value: b.count, title: (b.to_min === null ? "≥ " + b.from_min : b.from_min + "–" + b.to_min) + " " + L10N.minutes + ": " + b.count };
    });
    var markers = config.targetsMinutes.map(function (t) { return { at: t / width, label: t + " " + L10N.minutes }; });
    ReportCharts.barChart($("chart-histogram"), bars, { xLabel: L10N.intervalNames.response + " (" + L10N.minutes + ")", markers: markers });
  }

  function daily(report) {
    var days = report.daily;
    var labels = days.map(function (d) { return d.date.slice(5); });
    var series = [
      { name: L10N.p90, className: "s-p90", values: days.map(function (d) { return d.p90 === null ? null : d.p90 / 60; }) },
      { name: L10N.median, className: "s-median", values: days.map(function (d) { return d.median === null ? null : d.median / 60; }) },
    ];
    var targets = config.targetsMinutes.map(function (t) { return { y: t, label: t + " " + L10N.minutes + " " + L10N.target }; });
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
        var text = feature.properties.name + " — " + L10N.median + " " + minutes(response && response.median) +
          ", " + L10N.p90 + " " + minutes(response && response.p90) + ", n=" + (response ? response.count : 0);
        shape.bindTooltip(text);
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
      item.appendChild(document.createTextNode(" " + m + " " + L10N.minutes));
      legend.appendChild(item);
    });
  }

  function table(container, groups, groupLabel, nameOf) {
    container.textContent = "";
    var keys = Object.keys(groups);
    if (!keys.length) { container.textContent = L10N.noData; return; }
    var tableEl = document.createElement("table");
    var head = tableEl.createTHead().insertRow();
    [groupLabel, L10N.interval, L10N.count, L10N.mean, L10N.median, L10N.p90].forEach(function (text) {
      var th = document.createElement("th"); th.textContent = text; head.appendChild(th);
    });
    var body = tableEl.createTBody();
    keys.forEach(function (key) {
      config.intervals.forEach(function (interval, i) {
        var f = groups[key][interval];
        var row = body.insertRow();
        if (i === 0) row.className = "group-start";
        [i === 0 ? nameOf(key) : "", L10N.intervalNames[interval], f.count, minutes(f.mean), minutes(f.median), minutes(f.p90)]
          .forEach(function (text) { row.insertCell().textContent = text; });
      });
    });
    container.appendChild(tableEl);
  }

  function load() {
    var params = query();
    $("csv-link").href = config.csv + "?" + params.toString();
    status.textContent = L10N.loading;
    fetch(config.api + "?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { if (!answer.ok) throw new Error(answer.status); return answer.json(); })
      .then(function (report) {
        status.textContent = report.incidents ? "" : L10N.noData;
        headline(report);
        histogram(report);
        daily(report);
        drawMap(report);
        table($("table-priority"), report.by_priority, L10N.priority, function (p) { return p + " · " + (L10N.priorities[p] || ""); });
        table($("table-kecamatan"), report.by_kecamatan, "", function (k) { return k; });
      })
      .catch(function () { status.textContent = L10N.failed; });
  }

  $("f-since").value = config.defaultSince;
  $("f-until").value = config.defaultUntil;
  form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
  load();
})();
