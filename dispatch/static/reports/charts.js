/* Small SVG charts for the report page: a bar chart and a line chart, with target lines. No dependencies. */
(function (global) {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function frame(container, width, height) {
    container.textContent = "";
    var svg = el("svg", { viewBox: "0 0 " + width + " " + height, class: "chart-svg", preserveAspectRatio: "xMidYMid meet" });
    container.appendChild(svg);
    return svg;
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function axisY(svg, box, max, ticks, format) {
    for (var i = 0; i <= ticks; i++) {
      var value = (max / ticks) * i;
      var y = box.bottom - (value / max) * (box.bottom - box.top);
      svg.appendChild(el("line", { x1: box.left, x2: box.right, y1: y, y2: y, class: "grid" }));
      svg.appendChild(el("text", { x: box.left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, format(value)));
    }
  }

  /* bars: [{label, value, title}], options: {xLabel, yLabel, markers: [{at: index fraction, label}]} */
  function barChart(container, bars, options) {
    var width = 640, height = 280;
    var box = { left: 48, right: width - 12, top: 16, bottom: height - 44 };
    var svg = frame(container, width, height);
    var max = niceMax(Math.max.apply(null, bars.map(function (b) { return b.value; }).concat([1])));
    axisY(svg, box, max, 4, function (v) { return Math.round(v); });
    var slot = (box.right - box.left) / Math.max(bars.length, 1);
    bars.forEach(function (bar, i) {
      var h = (bar.value / max) * (box.bottom - box.top);
      var rect = el("rect", { x: box.left + i * slot + 1, y: box.bottom - h, width: Math.max(slot - 2, 1), height: h, class: "bar" });
      rect.appendChild(el("title", {}, bar.title || bar.label + ": " + bar.value));
      svg.appendChild(rect);
      if (i % Math.ceil(bars.length / 10) === 0) {
        svg.appendChild(el("text", { x: box.left + i * slot, y: box.bottom + 16, class: "tick", "text-anchor": "middle" }, bar.label));
      }
    });
    (options.markers || []).forEach(function (marker) {
      var x = box.left + marker.at * slot;
      svg.appendChild(el("line", { x1: x, x2: x, y1: box.top, y2: box.bottom, class: "target" }));
      svg.appendChild(el("text", { x: x + 4, y: box.top + 12, class: "target-label" }, marker.label));
    });
    svg.appendChild(el("text", { x: (box.left + box.right) / 2, y: height - 6, class: "axis-label", "text-anchor": "middle" }, options.xLabel || ""));
  }

  /* series: [{name, points: [{x: label, y: number|null}], className}], options: {yLabel, targets: [{y, label}]} */
  function lineChart(container, labels, series, options) {
    var width = 640, height = 280;
    var box = { left: 48, right: width - 12, top: 16, bottom: height - 44 };
    var svg = frame(container, width, height);
    var values = [];
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) values.push(v); }); });
    (options.targets || []).forEach(function (t) { values.push(t.y); });
    var max = niceMax(Math.max.apply(null, values.concat([1])));
    axisY(svg, box, max, 4, function (v) { return Math.round(v); });
    var step = labels.length > 1 ? (box.right - box.left) / (labels.length - 1) : 0;
    function xy(i, v) { return [box.left + i * step, box.bottom - (v / max) * (box.bottom - box.top)]; }
    (options.targets || []).forEach(function (t) {
      var y = xy(0, t.y)[1];
      svg.appendChild(el("line", { x1: box.left, x2: box.right, y1: y, y2: y, class: "target" }));
      svg.appendChild(el("text", { x: box.right - 4, y: y - 4, class: "target-label", "text-anchor": "end" }, t.label));
    });
    series.forEach(function (s) {
      var d = "", pen = "M";
      s.values.forEach(function (v, i) {
        if (v === null) { pen = "M"; return; }
        var p = xy(i, v);
        d += pen + p[0].toFixed(1) + "," + p[1].toFixed(1) + " ";
        pen = "L";
        var dot = el("circle", { cx: p[0], cy: p[1], r: 3, class: "dot " + s.className });
        dot.appendChild(el("title", {}, labels[i] + " · " + s.name + ": " + v.toFixed(1)));
        svg.appendChild(dot);
      });
      svg.appendChild(el("path", { d: d, class: "line " + s.className }));
    });
    labels.forEach(function (label, i) {
      if (i % Math.ceil(labels.length / 7) === 0) {
        svg.appendChild(el("text", { x: xy(i, 0)[0], y: box.bottom + 16, class: "tick", "text-anchor": "middle" }, label));
      }
    });
    var legendX = box.left + 8;
    series.forEach(function (s) {
      svg.appendChild(el("rect", { x: legendX, y: box.top, width: 12, height: 4, class: "swatch " + s.className }));
      svg.appendChild(el("text", { x: legendX + 16, y: box.top + 6, class: "tick" }, s.name));
      legendX += 24 + s.name.length * 7;
    });
    svg.appendChild(el("text", { x: (box.left + box.right) / 2, y: height - 6, class: "axis-label", "text-anchor": "middle" }, options.xLabel || ""));
  }

  global.ReportCharts = { barChart: barChart, lineChart: lineChart };
})(window);
