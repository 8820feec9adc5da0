// Web Push (dispatch/push.py): once the crew allows notifications, the phone subscribes with its browser's push
// service and hands the subscription to the server, so a new job rings it even with the app closed. Handed in
// each time the app opens (the browser may have renewed it); withdrawn at logout, so a phone put down rings no
// more. Where there is no push service (no network to it, an old browser) the stream still rings the open app.

import { cookie } from "./outbox.js";

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function send(url, method, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cookie("csrftoken") },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${response.status}`);
}

function supported(key) {
  return Boolean(key) && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export async function pushSubscribe({ api, key }) {
  if (!supported(key) || Notification.permission !== "granted") return false;
  try {
    const registration = await navigator.serviceWorker.ready;
    const subscription = (await registration.pushManager.getSubscription())
      || (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
    await send(`${api}crew/push/`, "POST", subscription.toJSON());
    return true;
  } catch (error) {
    return false;
  }
}

export async function pushUnsubscribe({ api, key }) {
  if (!supported(key)) return;
  try {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (!subscription) return;
    await send(`${api}crew/push/withdraw/`, "POST", { endpoint: subscription.endpoint }).catch(() => {});
    await subscription.unsubscribe();
  } catch (error) {
    // logging out goes on: the server forgets a subscription whose push service says it is gone
  }
}
