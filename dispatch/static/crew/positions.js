// Where the ambulance is: fixes from the phone's GPS, the inaccurate ones dropped, handed over in batches
// every few seconds (the first one at once, so the control room sees the unit as soon as the app opens).

export class PositionReporter {
  constructor({ maxAccuracy, intervalMs, clock, onFix, onBatch, onError }) {
    this.maxAccuracy = maxAccuracy;
    this.intervalMs = intervalMs;
    this.clock = clock; // () => milliseconds of the server's clock, as well as the phone knows it
    this.onFix = onFix;
    this.onBatch = onBatch;
    this.onError = onError;
    this.buffer = [];
    this.lastTimestamp = null;
    this.sentAny = false;
    this.paused = false;
    this.watch = null;
    this.timer = null;
  }

  start() {
    if (!("geolocation" in navigator)) {
      this.onError("unsupported");
      return;
    }
    this.watch = navigator.geolocation.watchPosition(
      (position) => this.take(position),
      (error) => this.onError(error.code === error.PERMISSION_DENIED ? "denied" : "unavailable"),
      { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 },
    );
    this.timer = setInterval(() => this.flush(), this.intervalMs);
  }

  take(position) {
    const { latitude, longitude, accuracy, heading, speed } = position.coords;
    const accepted = Number.isFinite(accuracy) && accuracy <= this.maxAccuracy;
    this.onFix({ lat: latitude, lon: longitude, accuracy }, accepted);
    if (!accepted || position.timestamp === this.lastTimestamp) return;
    this.lastTimestamp = position.timestamp;
    const fix = {
      lat: latitude,
      lon: longitude,
      at: new Date(this.clock(position.timestamp)).toISOString(),
      accuracy: Math.round(accuracy * 10) / 10,
    };
    if (Number.isFinite(heading) && heading >= 0 && heading <= 360) fix.heading = heading;
    if (Number.isFinite(speed) && speed >= 0 && speed <= 150) fix.speed = speed;
    this.buffer.push(fix);
    if (!this.sentAny) this.flush();
  }

  flush() {
    if (!this.buffer.length) return;
    const batch = this.buffer.splice(0);
    if (this.paused) return; // off duty: the position stays on the phone
    this.sentAny = true;
    this.onBatch(batch);
  }
}
