// The live stream (/ws/console/): a snapshot, then events in `seq` order. A dropped connection comes
// back on its own with ?since=<last seq>, so the server replays exactly what was missed (or sends a
// fresh snapshot when that is too old). Events already seen are skipped; each carries the whole object.

const HEARTBEAT_MS = 10000;
const SILENCE_MS = 25000; // no message (not even a pong) for this long: the link is dead.
const MAX_BACKOFF_MS = 8000;

export class LiveStream {
  constructor({ path = "/ws/console/", onSnapshot, onEvent, onStatus }) {
    this.path = path;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.seq = null;
    this.ws = null;
    this.attempt = 0;
    this.held = false;
    this.status = "connecting";
    this.offlineSince = null;
    this.stats = { snapshots: 0, events: 0, skipped: 0, connects: 0 };
    window.addEventListener("online", () => this.connectSoon(0));
    window.addEventListener("offline", () => this.drop());
    setInterval(() => this.heartbeat(), HEARTBEAT_MS);
  }

  start() {
    this.connect();
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : "?since=" + encodeURIComponent(this.seq);
    return scheme + "//" + window.location.host + this.path + since;
  }

  setStatus(status) {
    if (status === this.status) return;
    if (status === "online") this.offlineSince = null;
    else if (this.offlineSince === null && this.status === "online") this.offlineSince = new Date();
    this.status = status;
    this.onStatus(status, this);
  }

  connect() {
    if (this.held || this.ws) return;
    clearTimeout(this.timer);
    this.setStatus(this.stats.connects ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.stats.connects += 1;
      this.lastMessageAt = Date.now();
      this.setStatus("online");
    };
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      this.lastMessageAt = Date.now();
      let envelope;
      try {
        envelope = JSON.parse(message.data);
      } catch {
        return;
      }
      this.receive(envelope);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 4401 || event.code === 4403) {
        this.setStatus("denied");
        return;
      }
      this.setStatus("offline");
      this.connectSoon();
    };
  }

  receive(envelope) {
    if (envelope.type === "pong") return;
    if (envelope.type === "snapshot") {
      this.seq = envelope.seq;
      this.stats.snapshots += 1;
      this.onSnapshot(envelope.data, envelope);
      return;
    }
    if (typeof envelope.seq === "number" && this.seq !== null && envelope.seq <= this.seq) {
      this.stats.skipped += 1;
      return;
    }
    if (typeof envelope.seq === "number") this.seq = envelope.seq;
    this.stats.events += 1;
    this.onEvent(envelope);
  }

  connectSoon(delay) {
    if (this.held) return;
    clearTimeout(this.timer);
    const wait = delay ?? Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), wait);
  }

  // Forget the current socket at once (a dead link may take minutes to report its own close).
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close();
      } catch {
        // already closing
      }
    }
    this.setStatus("offline");
    this.connectSoon();
  }

  heartbeat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - (this.lastMessageAt || 0) > SILENCE_MS) {
      this.drop();
      return;
    }
    ws.send(JSON.stringify({ type: "ping" }));
  }

  // For tests and drills: drop the link and stay away until resume().
  hold() {
    this.held = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.setStatus("offline");
  }

  resume() {
    this.held = false;
    this.connect();
  }
}

// The status pill in the top bar and the banner under it.
export function showLinkStatus(status, stream) {
  const pill = document.getElementById("link-state");
  const banner = document.getElementById("offline-banner");
  const texts = {
    connecting: gettext("Connecting…"),
    online: gettext("Live"),
    reconnecting: gettext("Reconnecting…"),
    offline: gettext("Offline"),
    denied: gettext("Not allowed: log in again"),
  };
  if (pill) {
    pill.dataset.state = status;
    pill.querySelector(".link-text").textContent = texts[status] || status;
  }
  const down = status === "offline" || status === "reconnecting" || status === "denied";
  document.body.classList.toggle("is-offline", down);
  if (banner) {
    banner.hidden = !down;
    const since = document.getElementById("offline-since");
    if (since && stream && stream.offlineSince) {
      since.textContent = window.interpolate(gettext("Since %(time)s."), {
        time: stream.offlineSince.toLocaleTimeString(document.documentElement.lang, {
          timeZone: JSON.parse(document.getElementById("screen-config").textContent).timeZone || undefined,
        }),
      }, true);
    }
  }
}
