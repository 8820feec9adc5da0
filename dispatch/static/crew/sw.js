// The crew app's service worker, served as /crew/sw.js (scope /crew/) with self.CREW_SHELL prepended:
// {version, static: [urls], static_prefix, pages: [urls], data: [urls of the map's ground layers]}.
// The app shell comes from the cache first, so the app opens in a dead spot; the page and its translations
// (and the map's ground layers) are fetched fresh when the network answers and kept for when it does not;
// the rest of the API is never cached (taps wait in the page's outbox).

const SHELL = self.CREW_SHELL;
const CACHE = `psc119-crew-${SHELL.version}`;

// Pages are kept only as the app itself: a redirect to the login page must never stand in for /crew/.
async function keepPage(cache, url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", cache: "reload" });
    if (response.ok && !response.redirected) await cache.put(url, response);
  } catch (error) {
    // offline while installing: the page is kept on the next visit
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.static.map((url) => new Request(url, { cache: "reload" })));
    await Promise.all(SHELL.pages.map((url) => keepPage(cache, url)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("psc119-crew-") && name !== CACHE).map((name) => caches.delete(name)),
      ))
      .then(() => self.clients.claim()),
  );
});

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(CACHE);
    cache.put(request, response.clone());
  }
  return response;
}

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    // A redirect (to the login page) is not the app: never keep it under the app's address.
    if (response.ok && !response.redirected) {
      const cache = await caches.open(CACHE);
      cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const cached = await caches.match(request, { ignoreSearch: true });
    return cached || Response.error();
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return; // map tiles: left to the browser's own cache
  if (url.pathname.startsWith(SHELL.static_prefix)) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" || SHELL.pages.includes(url.pathname) || SHELL.data.includes(url.pathname)) {
    event.respondWith(networkFirst(request));
  }
});

// A new job pushed by the server (dispatch/push.py) while the app is closed or in the background. The open app
// in front rings by itself from its stream; otherwise the notification takes the job's tag, so the app's own
// notification of the same job and this one are one, and it rings once.
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (error) {
    message = {};
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((windows) => {
      if (windows.some((client) => client.focused && client.visibilityState === "visible")) return undefined;
      return self.registration.showNotification(message.title || "PSC 119", {
        body: message.body || "",
        tag: message.assignment ? `assignment-${message.assignment}` : "psc119-job",
        requireInteraction: true,
        vibrate: [400, 150, 400, 150, 400],
        data: message,
      });
    }),
  );
});

// Background Sync (Chromium): taps and positions the crew made in a dead spot are sent when the network returns,
// even if the app was closed meanwhile. Only while no window of the app is open (an open app sends its outbox
// itself, in order: two senders would race), only the logged-in crew member's items (the sync's tag names them),
// oldest first, each removed once the server took it. Anything else stops the round: an answer that must be
// retried makes the browser try again later; a refusal stays for the app to show when it is opened.
const OUTBOX_DB = "psc119-crew";
const OUTBOX = "outbox";
const SYNC_PREFIX = "outbox:";

self.addEventListener("sync", (event) => {
  if (!event.tag.startsWith(SYNC_PREFIX)) return;
  event.waitUntil(outboxSend(event.tag.slice(SYNC_PREFIX.length)));
});

function outboxOpen() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(OUTBOX_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(OUTBOX, { keyPath: "key", autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function outboxDo(db, mode, work) {
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(OUTBOX, mode);
    const request = work(transaction.objectStore(OUTBOX));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

async function appOpen() {
  return (await self.clients.matchAll({ type: "window" })).length > 0;
}

// The cookie's token where the worker can read it (a login since the tap renews it), else the one kept with it.
async function csrfToken(item) {
  const fresh = self.cookieStore ? await self.cookieStore.get("csrftoken").catch(() => null) : null;
  return (fresh && fresh.value) || item.csrf || "";
}

// While the app is open it sends its own outbox; the sync fails on purpose then, so that the browser tries it
// again later, when the app may have been closed with something still waiting.
async function outboxSend(owner) {
  if (await appOpen()) throw new Error("the app is open: it sends its own outbox");
  const db = await outboxOpen();
  try {
    const items = (await outboxDo(db, "readonly", (store) => store.getAll())).filter((item) => item.owner === owner);
    for (const item of items) {
      if (await appOpen()) throw new Error("the app was opened: it takes over from here");
      const response = await fetch(item.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": await csrfToken(item) },
        body: JSON.stringify(item.body),
      }); // offline again: the rejection makes the browser try the sync later
      if (!response.ok) {
        const retry = response.status >= 500 || response.status === 408 || response.status === 429;
        if (retry) throw new Error(`the server answered ${response.status}: later`);
        return; // refused (or logged out): the app shows it when opened
      }
      await outboxDo(db, "readwrite", (store) => store.delete(item.key));
    }
  } finally {
    db.close();
  }
}

// A tap on the "new assignment" notification brings the app to the front.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((windows) => {
      const open = windows.find((client) => new URL(client.url).pathname.startsWith(self.registration.scope.replace(self.location.origin, "")));
      return open ? open.focus() : self.clients.openWindow(self.registration.scope);
    }),
  );
});
