// What the crew did that the server has not confirmed yet: status taps and position batches, kept in
// IndexedDB in the order they happened and sent one at a time, oldest first. A tap carries its client_id
// and the time it was made, so sending it twice (an answer lost in a dead spot) changes nothing. Position
// batches go over the unit's open stream when there is one (viaStream), else as a POST. Whatever still waits
// when a send fails is also left to the service worker (Background Sync, where the browser has it), which sends
// it when the network returns even if the app has been closed by then (sw.js).

const DB_NAME = "psc119-crew";
const STORE = "outbox";
export const SYNC_TAG_PREFIX = "outbox:"; // + the owner: the worker sends only the logged-in crew member's items
const POSITIONS_PER_BATCH = 500;
const REQUEST_TIMEOUT_MS = 15000;
// After a failed send the outbox tries again by itself, sooner first, then less often (the page also
// retries when the network or the stream comes back).
const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 30000;

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(STORE, { keyPath: "key", autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function run(db, mode, work) {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const store = transaction.objectStore(STORE);
    let result;
    const request = work(store);
    if (request) request.onsuccess = () => { result = request.result; };
    transaction.oncomplete = () => resolve(result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

export function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain-HTTP pages have no randomUUID; a version-4 UUID from getRandomValues is as good.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  constructor({ owner, onChange, onSent, onRejected, onSignedOut, onNetwork, viaStream }) {
    this.owner = owner;
    this.viaStream = viaStream;
    this.onChange = onChange;
    this.onSent = onSent;
    this.onRejected = onRejected;
    this.onSignedOut = onSignedOut;
    this.onNetwork = onNetwork;
    this.items = [];
    this.flushing = null;
    this.retryTimer = null;
    this.retryDelay = RETRY_FIRST_MS;
  }

  async open() {
    this.db = await openDb();
    await this.reload();
  }

  async reload() {
    const all = await run(this.db, "readonly", (store) => store.getAll());
    this.items = (all || []).filter((item) => item.owner === this.owner);
    this.onChange(this.items);
  }

  async add(entry) {
    // The CSRF token goes with the item: the service worker, which may send it, cannot read cookies.
    const item = { ...entry, owner: this.owner, queued: Date.now(), csrf: cookie("csrftoken") };
    await run(this.db, "readwrite", (store) => store.add(item));
    await this.reload();
  }

  // Positions join the newest waiting batch while nothing is being sent, so a dead spot costs one request.
  async addPositions(url, positions) {
    const last = this.items[this.items.length - 1];
    if (!this.flushing && last && last.kind === "positions" && last.url === url
        && last.body.positions.length + positions.length <= POSITIONS_PER_BATCH) {
      last.body.positions.push(...positions);
      await run(this.db, "readwrite", (store) => store.put(last));
      await this.reload();
    } else {
      await this.add({ kind: "positions", url, body: { positions } });
    }
  }

  // Asks the browser to wake the service worker once the network is back (a no-op where it cannot).
  syncLater() {
    if (!navigator.serviceWorker) return;
    navigator.serviceWorker.ready
      .then((registration) => registration.sync && registration.sync.register(`${SYNC_TAG_PREFIX}${this.owner}`))
      .catch(() => {});
  }

  counts() {
    let taps = 0;
    let positions = 0;
    for (const item of this.items) {
      if (item.kind === "positions") positions += item.body.positions.length;
      else taps += 1;
    }
    return { taps, positions };
  }

  flush() {
    if (!this.flushing) {
      this.flushing = this.drain().finally(() => { this.flushing = null; });
    }
    return this.flushing;
  }

  async drain() {
    await this.reload();
    while (this.items.length) {
      const item = this.items[0];
      const outcome = await this.send(item);
      if (outcome === "retry") {
        this.retryLater();
        return false;
      }
      this.retryDelay = RETRY_FIRST_MS;
      await run(this.db, "readwrite", (store) => store.delete(item.key));
      await this.reload();
    }
    return true;
  }

  retryLater() {
    this.syncLater();
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (navigator.onLine !== false) this.flush();
      else this.retryLater();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
  }

  async send(item) {
    if (item.kind === "positions" && this.viaStream) {
      const answer = await this.viaStream(item);
      if (answer) return this.streamAnswered(item, answer);
    }
    return this.post(item);
  }

  streamAnswered(item, answer) {
    this.onNetwork(true);
    if (answer.type === "positions.accepted") {
      this.onSent(item, answer.data);
      return "sent";
    }
    const { status, error } = answer.data;
    if (status >= 500 || status === 429) return "retry";
    this.onRejected(item, status, error && error.message);
    return "rejected";
  }

  async post(item) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(item.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": cookie("csrftoken"),
        },
        body: JSON.stringify(item.body),
        signal: controller.signal,
      });
    } catch (error) {
      this.onNetwork(false);
      return "retry"; // no answer: the network, or the server is down; try again later
    } finally {
      clearTimeout(timer);
    }
    this.onNetwork(true);
    const answer = await response.json().catch(() => null);
    if (response.ok) {
      this.onSent(item, answer);
      return "sent";
    }
    const message = answer && answer.error ? answer.error.message : response.statusText;
    if (response.status === 401) {
      this.onSignedOut();
      return "retry";
    }
    if (response.status >= 500 || response.status === 408 || response.status === 429
        || (response.status === 403 && /CSRF/i.test(message || ""))) {
      return "retry";
    }
    // 400, 403, 404, 409: the server will never take this one (the job was cancelled meanwhile, ...).
    this.onRejected(item, response.status, message);
    return "rejected";
  }
}
