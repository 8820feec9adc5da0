// Leaflet (from our own static files) with either a configured tile server or, by default and offline,
// the city drawn from our own data: kecamatan and kelurahan outlines and, when there are any, roads.

import { api } from "./api.js";
import { h } from "./dom.js";

const L = window.L;

const REGION_STYLE = {
  service_area: { color: "#34495e", weight: 2.5, fill: false, dashArray: "6 4" },
  kecamatan: { color: "#4d5f70", weight: 2, fillColor: "#ffffff", fillOpacity: 0.55 },
  kelurahan: { color: "#8c9aa6", weight: 0.8, fill: false },
};
const DARK_REGION_STYLE = {
  service_area: { color: "#7f95a6", weight: 2.5, fill: false, dashArray: "6 4" },
  kecamatan: { color: "#6f8596", weight: 2, fillColor: "#17232c", fillOpacity: 1 },
  kelurahan: { color: "#3b4c58", weight: 0.8, fill: false },
};
const ROAD_STYLE = { major: { color: "#c9b98f", weight: 2.2 }, minor: { color: "#d9d2c0", weight: 0.9 } };
const DARK_ROAD_STYLE = { major: { color: "#5a6b58", weight: 2 }, minor: { color: "#2f3d45", weight: 0.8 } };

export function createMap(element, config, { dark = false, keyboard = true } = {}) {
  const map = L.map(element, { zoomSnap: 0.25, keyboard, attributionControl: true, preferCanvas: true });
  map.attributionControl.setPrefix(false);
  map.setView(config.map.center, config.map.zoom);
  const ready = config.map.tileUrl ? addTiles(map, config) : addOwnLayers(map, { dark });
  return { map, ready };
}

function addTiles(map, config) {
  L.tileLayer(config.map.tileUrl, { maxZoom: 19, attribution: config.map.tileAttribution || "" }).addTo(map);
  return Promise.resolve();
}

async function addOwnLayers(map, { dark }) {
  map.getContainer().classList.add("map-own");
  const [regions, roads] = await Promise.all([
    api("/api/v1/geo/regions.geojson").catch(() => null),
    api("/api/v1/geo/roads.geojson").catch(() => null),
  ]);
  const regionStyle = dark ? DARK_REGION_STYLE : REGION_STYLE;
  const roadStyle = dark ? DARK_ROAD_STYLE : ROAD_STYLE;
  const renderer = L.canvas({ padding: 0.2 });
  const order = { kecamatan: 0, kelurahan: 1, service_area: 2 };
  if (regions && regions.features.length) {
    const features = [...regions.features].sort((a, b) => order[a.properties.kind] - order[b.properties.kind]);
    const kecamatan = features.filter((f) => f.properties.kind === "kecamatan");
    L.geoJSON({ type: "FeatureCollection", features: kecamatan }, {
      renderer, interactive: false, style: () => regionStyle.kecamatan,
    }).addTo(map);
    if (roads && roads.features.length) {
      L.geoJSON(roads, { renderer, interactive: false, style: (f) => roadStyle[f.properties.class] || roadStyle.minor }).addTo(map);
    }
    const rest = features.filter((f) => f.properties.kind !== "kecamatan");
    L.geoJSON({ type: "FeatureCollection", features: rest }, {
      renderer, interactive: false, style: (f) => regionStyle[f.properties.kind] || regionStyle.kelurahan,
    }).addTo(map);
    for (const feature of kecamatan) {
      const centre = L.geoJSON(feature).getBounds().getCenter();
      L.tooltip({ permanent: true, direction: "center", className: "region-label", interactive: false })
        .setLatLng(centre)
        .setContent(h("span", null, feature.properties.name))
        .addTo(map);
    }
    // Kelurahan names once the map is close enough to read them (without tiles they are the landmarks).
    const kelurahanLabels = L.layerGroup(features.filter((f) => f.properties.kind === "kelurahan").map((feature) =>
      L.tooltip({ permanent: true, direction: "center", className: "region-label kelurahan-label", interactive: false })
        .setLatLng(L.geoJSON(feature).getBounds().getCenter())
        .setContent(h("span", null, feature.properties.name))));
    const showKelurahan = () => {
      if (map.getZoom() >= 14) kelurahanLabels.addTo(map);
      else kelurahanLabels.remove();
    };
    map.on("zoomend", showKelurahan);
    showKelurahan();
    const all = L.geoJSON(regions);
    if (all.getBounds().isValid()) map.fitBounds(all.getBounds(), { padding: [10, 10] });
    map.attributionControl.addAttribution(gettext("Boundaries: BIG"));
  } else if (roads && roads.features.length) {
    L.geoJSON(roads, { renderer, interactive: false, style: (f) => roadStyle[f.properties.class] || roadStyle.minor }).addTo(map);
  }
}

// A unit's label, moved down by its place in a stack of units at the same spot.
export function unitLabel(unit, classes) {
  const label = h("div", { class: ["mk-unit", "us-" + unit.status, ...classes] }, unit.call_sign);
  if (unit.stack) label.style.marginTop = unit.stack * 21 + "px";
  return label;
}

// Markers kept in step with a list of objects: created, moved, restyled or removed by key.
export class MarkerSet {
  constructor(map, { icon, signature, zIndexOffset = 0, onClick, pane } = {}) {
    this.map = map;
    this.icon = icon;
    this.signature = signature || ((item) => item);
    this.zIndexOffset = zIndexOffset;
    this.onClick = onClick;
    this.pane = pane;
    this.markers = new Map();
  }

  sync(items) {
    const seen = new Set();
    for (const item of items) {
      const location = item.location;
      if (!location || location.lat === null || location.lon === null || location.lat === undefined) continue;
      seen.add(item.id);
      const latLng = [location.lat, location.lon];
      let marker = this.markers.get(item.id);
      const signature = JSON.stringify(this.signature(item));
      if (!marker) {
        marker = L.marker(latLng, {
          icon: L.divIcon({ className: "mk", html: this.icon(item), iconSize: null }),
          zIndexOffset: this.zIndexOffset + (item.zIndex || 0),
          keyboard: false,
          ...(this.pane ? { pane: this.pane } : {}),
        });
        if (this.onClick) marker.on("click", () => this.onClick(item.id));
        marker.addTo(this.map);
        marker.signature = signature;
        this.markers.set(item.id, marker);
      } else {
        const at = marker.getLatLng();
        if (at.lat !== latLng[0] || at.lng !== latLng[1]) marker.setLatLng(latLng);
        if (marker.signature !== signature) {
          marker.setIcon(L.divIcon({ className: "mk", html: this.icon(item), iconSize: null }));
          marker.signature = signature;
        }
        marker.setZIndexOffset(this.zIndexOffset + (item.zIndex || 0));
      }
    }
    for (const [id, marker] of this.markers) {
      if (!seen.has(id)) {
        marker.remove();
        this.markers.delete(id);
      }
    }
  }
}
