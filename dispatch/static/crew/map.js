// The job's map: the route (GeoJSON LineString from the road engine), the scene, the ambulance and the
// chosen hospital. Leaflet comes from our own static files; tiles only when a tile server is configured.

const PRIORITY_COLOURS = { 1: "#c40000", 2: "#e0a800", 3: "#1e7b34" };

// Without a tile server the map draws the screens' own layers (kelurahan outlines, roads) when the server
// lets the crew read them; the service worker keeps them for dead spots.
const GROUND_LAYERS = [
  ["geo/regions.geojson", { color: "#6b6b6b", weight: 1.5, fill: false }],
  ["geo/roads.geojson", { color: "#9a9a9a", weight: 2 }],
];

export class JobMap {
  constructor(element, { tileUrl, attribution, api }) {
    this.element = element;
    this.tileUrl = tileUrl;
    this.attribution = attribution;
    this.api = api;
    this.map = null;
    this.layers = null;
    this.unitMarker = null;
    this.key = "";
  }

  ensure() {
    if (this.map || !window.L) return Boolean(this.map);
    const L = window.L;
    this.map = L.map(this.element, { zoomControl: true, attributionControl: Boolean(this.tileUrl) });
    if (this.tileUrl) {
      L.tileLayer(this.tileUrl, { maxZoom: 19, attribution: this.attribution }).addTo(this.map);
    } else {
      this.drawGround();
    }
    this.layers = L.layerGroup().addTo(this.map);
    this.map.setView([-7.98, 112.63], 13);
    return true;
  }

  drawGround() {
    const L = window.L;
    const ground = L.layerGroup().addTo(this.map);
    for (const [path, style] of GROUND_LAYERS) {
      fetch(`${this.api}${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((collection) => {
          if (collection) L.geoJSON(collection, { style, interactive: false }).addTo(ground);
        })
        .catch(() => {});
    }
  }

  // Redraws only when the job, its route or its destination changed, so the map does not jump each second.
  show({ key, scene, route, hospital, priority }) {
    if (!this.ensure()) return;
    const L = window.L;
    this.map.invalidateSize();
    if (key === this.key) return;
    this.key = key;
    this.layers.clearLayers();
    const bounds = [];
    if (route && route.type === "LineString" && Array.isArray(route.coordinates)) {
      const line = route.coordinates.map(([lon, lat]) => [lat, lon]);
      L.polyline(line, { color: "#0b3d91", weight: 6, opacity: 0.85 }).addTo(this.layers);
      bounds.push(...line);
    }
    if (scene) {
      L.circleMarker([scene.lat, scene.lon], {
        radius: 11, color: "#000", weight: 3, fillColor: PRIORITY_COLOURS[priority] || "#c40000", fillOpacity: 1,
      }).addTo(this.layers);
      bounds.push([scene.lat, scene.lon]);
    }
    if (hospital) {
      L.circleMarker([hospital.lat, hospital.lon], {
        radius: 10, color: "#fff", weight: 3, fillColor: "#0b3d91", fillOpacity: 1,
      }).addTo(this.layers);
      bounds.push([hospital.lat, hospital.lon]);
    }
    if (this.unitMarker) bounds.push(this.unitMarker.getLatLng());
    if (bounds.length > 1) this.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17, animate: false });
    else if (bounds.length === 1) this.map.setView(bounds[0], 16, { animate: false });
  }

  setUnit(where) {
    if (!where || !this.ensure()) return;
    const L = window.L;
    const at = [where.lat, where.lon];
    if (this.unitMarker) {
      this.unitMarker.setLatLng(at);
    } else {
      this.unitMarker = L.circleMarker(at, {
        radius: 9, color: "#fff", weight: 3, fillColor: "#111", fillOpacity: 1,
      }).addTo(this.map);
    }
  }
}
