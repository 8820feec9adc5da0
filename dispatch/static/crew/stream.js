// /ws/unit/: the unit's own stream. Reconnects by itself with ?since=<last seq>, so nothing is missed
// across a dead spot; a ping every few seconds tells a dead link from a quiet one. The phone also hands its
// GPS fixes in over it (request()), which costs the server far less than a POST each time.

const PING_MS = 15000;
const SILENT_MS = 40000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const ANSWER_MS = 10000;
const ANSWERS = new Set(["positions.accepted", "positions.rejected"]);

export class UnitStream {
  constructor({ path, onMessage, onState }) {
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState;
    this.lastSeq = null;
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.pinger = null;
    this.heardAt = 0;
    this.asked = new Map(); // request id -> resolve, for the answers still awaited
    this.nextId = 1;
  }

  get open() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.lastSeq === null ? "" : `?since=${this.lastSeq}`;
    return `${scheme}//${window.location.host}${this.path}${since}`;
  }

  start() {
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) return;
    this.onState("connecting");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.heardAt = Date.now();
      this.onState("online");
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.ping(), PING_MS);
    };
    socket.onmessage = (event) => {
      this.heardAt = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (message.type === "pong") return;
      if (ANSWERS.has(message.type)) {
        this.answered(message.data && message.data.id, message);
        return;
      }
      if (typeof message.seq === "number") {
        this.lastSeq = this.lastSeq === null ? message.seq : Math.max(this.lastSeq, message.seq);
      }
      this.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.forgetAsked();
      clearInterval(this.pinger);
      if (event.code === 4401 || event.code === 4403) {
        this.onState("denied");
        return;
      }
      this.onState("offline");
      this.schedule();
    };
  }

  ping() {
    if (!this.open) return;
    if (Date.now() - this.heardAt > SILENT_MS) {
      this.drop(); // nothing heard, not even a pong: the link is dead even if the socket thinks not
      return;
    }
    this.socket.send(JSON.stringify({ type: "ping" }));
  }

  // A request just failed: is the stream's link still alive? No answer to a ping within a few seconds: drop it.
  check() {
    if (!this.open) {
      this.reconnectNow();
      return;
    }
    const asked = Date.now();
    this.socket.send(JSON.stringify({ type: "ping" }));
    setTimeout(() => {
      if (this.heardAt < asked) this.drop();
    }, 5000);
  }

  drop() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    clearInterval(this.pinger);
    this.forgetAsked();
    socket.onclose = null;
    socket.close();
    this.onState("offline");
    this.schedule();
  }

  schedule() {
    if (this.timer) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Sends `{type, id, data}` and resolves with the server's answer, or with null when the stream is not open,
  // closes first or stays silent too long (the caller then takes another way: a POST).
  request(type, data) {
    if (!this.open) return Promise.resolve(null);
    const id = `r${this.nextId++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answered(id, null), ANSWER_MS);
      this.asked.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.socket.send(JSON.stringify({ type, id, data }));
    });
  }

  answered(id, answer) {
    const resolve = this.asked.get(id);
    if (!resolve) return;
    this.asked.delete(id);
    resolve(answer);
  }

  forgetAsked() {
    for (const id of [...this.asked.keys()]) this.answered(id, null);
  }

  // The network is back: try now rather than at the end of the back-off.
  reconnectNow() {
    if (this.socket) return;
    this.attempt = 0;
    this.connect();
  }
}
