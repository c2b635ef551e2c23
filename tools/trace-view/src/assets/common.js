"use strict";
// What both pages share: service colours, number formats, and building
// elements. Everything that came in a span is inserted as text, never as HTML.
const TV = (() => {
  const palette = ["#3b7dd8", "#e07b39", "#3aa372", "#a259c4", "#c9a227", "#d2467a",
                   "#2bb0c4", "#7a8b32", "#8c5a3c", "#5661d6", "#c43c3c", "#4f9c9c"];

  // The same service gets the same colour on every page and every load.
  function serviceColor(name) {
    let hash = 0;
    for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
    return palette[hash % palette.length];
  }

  function duration(ms) {
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 100) return ms.toFixed(1) + " ms";
    if (ms < 1000) return ms.toFixed(0) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }

  function time(unixMs) {
    const date = new Date(unixMs);
    const clock = date.toLocaleTimeString([], { hour12: false }) + "." + String(date.getMilliseconds()).padStart(3, "0");
    return date.toDateString() === new Date().toDateString() ? clock : date.toLocaleDateString() + " " + clock;
  }

  // el("td", {class: "num", title: "…"}, "text", childElement, …)
  function el(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") element.className = value;
      else if (name.startsWith("data-")) element.dataset[name.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
      else element.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function serviceChip(name) {
    const chip = el("span", { class: "chip" }, el("span", { class: "swatch" }), name);
    chip.firstChild.style.background = serviceColor(name);
    return chip;
  }

  // A whole trace id from what a user pastes: the 32 hex digits, or a
  // traceparent/traceresponse value 00-<trace id>-<span id>-<flags>.
  function traceIdFrom(text) {
    const match = /^\s*(?:[0-9a-f]{2}-)?([0-9a-f]{32})(?:-[0-9a-f]{16}-[0-9a-f]{2})?\s*$/i.exec(text || "");
    return match && !/^0+$/.test(match[1]) ? match[1].toLowerCase() : null;
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    return { status: response.status, body };
  }

  return { serviceColor, duration, time, el, serviceChip, traceIdFrom, getJson };
})();
