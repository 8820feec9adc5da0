// What every screen shares: its configuration, the clock, the language switch, the ticking timers.

import { api } from "./api.js";

export const config = JSON.parse(document.getElementById("screen-config").textContent);

function tickClock() {
  const clock = document.getElementById("clock");
  if (clock) {
    clock.textContent = new Date().toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: config.timeZone || undefined,
    });
  }
}

// The language is kept on the user (so every screen and device follows) and in Django's cookie.
function languageSwitch() {
  const form = document.getElementById("language-form");
  const select = document.getElementById("language-select");
  if (!form || !select) return;
  select.addEventListener("change", async () => {
    try {
      await api("/api/v1/me/language/", { method: "POST", body: { language: select.value } });
    } catch {
      // the form below still sets the cookie
    }
    form.submit();
  });
}

// Elements with data-since tick every second (ages of incidents, positions).
const tickers = new Set();
export function everySecond(callback) {
  tickers.add(callback);
  callback(Date.now());
}

tickClock();
languageSwitch();
setInterval(() => {
  tickClock();
  const now = Date.now();
  for (const callback of tickers) callback(now);
}, 1000);
