// Building the page from data without ever parsing it as HTML: every value becomes a text node or an
// attribute set through the DOM, so a complaint like "<img onerror=…>" shows as the text it is.

const BOOLEAN = new Set(["hidden", "disabled", "checked", "selected", "required"]);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (BOOLEAN.has(key)) el[key] = Boolean(value);
    else if (key === "style" || key === "innerHTML" || key === "href" && !/^(\/|https?:)/.test(String(value))) {
      throw new Error("refused attribute " + key);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

// A web address a screen may open (cameras): http(s) only, never javascript: or data:.
export function safeWebUrl(value) {
  try {
    const url = new URL(value, window.location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
