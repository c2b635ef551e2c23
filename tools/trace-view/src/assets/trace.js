"use strict";
// One trace as a waterfall: spans nested under their parents, bars placed by
// start and duration on the trace's time line, a colour per service. A click
// on a row shows everything the span carries.
(() => {
  const { el, serviceChip, serviceColor, duration, time, getJson } = TV;
  const traceId = location.pathname.split("/").pop();
  const status = document.getElementById("status");
  const waterfall = document.getElementById("waterfall");
  const rows = document.getElementById("rows");
  const opened = new Set();      // span ids whose details are shown
  const collapsed = new Set();   // span ids whose children are hidden
  let shown = null;              // the trace on screen
  // /trace/<id>#<span id> opens that span: a link can point at one span.
  const linked = location.hash.slice(1).toLowerCase();
  if (/^[0-9a-f]{16}$/.test(linked)) opened.add(linked);

  // Roots first (a span whose parent never arrived counts as one), then
  // each span's children by start: depth-first, as the calls nested.
  function ordered(spans) {
    const ids = new Set(spans.map((s) => s.span_id));
    const children = new Map();
    const roots = [];
    for (const span of spans) {
      if (span.parent_span_id && ids.has(span.parent_span_id)) {
        if (!children.has(span.parent_span_id)) children.set(span.parent_span_id, []);
        children.get(span.parent_span_id).push(span);
      } else {
        roots.push(span);
      }
    }
    const out = [];
    const visit = (span, depth, hiddenBy) => {
      const kids = (children.get(span.span_id) || []).sort((a, b) => a.start_ms - b.start_ms);
      out.push({ span, depth, hidden: hiddenBy, hasChildren: kids.length > 0, orphan: Boolean(span.parent_span_id) && !ids.has(span.parent_span_id) });
      for (const kid of kids) visit(kid, depth + 1, hiddenBy || collapsed.has(span.span_id));
    };
    roots.sort((a, b) => a.start_ms - b.start_ms).forEach((root) => visit(root, 0, false));
    return out;
  }

  function facts(trace) {
    const fact = (name, ...value) => [el("dt", {}, name), el("dd", {}, ...value)];
    document.getElementById("facts").replaceChildren(
      ...fact("trace id", el("code", {}, trace.trace_id)),
      ...fact("started", time(trace.start_unix_ms)),
      ...fact("duration", duration(trace.duration_ms)),
      ...fact("services", String(trace.services.length)),
      ...fact("spans", String(trace.span_count)),
      ...(trace.error ? fact("status", el("span", { class: "badge-error" }, "error")) : []));
    document.getElementById("legend").replaceChildren(...trace.services.map((s) => el("li", {}, serviceChip(s))));
    const title = trace.root_name + (trace.root_received ? "" : " (root span not received)");
    document.getElementById("title").textContent = title;
    document.title = title + " · trace view";
  }

  function ticks(total) {
    document.getElementById("ticks").replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((at) => {
      const tick = el("span", { class: "tick" }, duration(total * at));
      tick.style.left = at * 100 + "%";
      return tick;
    }));
  }

  function valueText(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function table(title, pairs) {
    if (!pairs.length) return null;
    return el("section", {},
      el("h3", {}, title),
      el("table", { class: "kv" }, el("tbody", {}, pairs.map(([key, value]) =>
        el("tr", {}, el("th", {}, key), el("td", {}, valueText(value)))))));
  }

  function details(span) {
    const basics = [
      ["service", span.service], ["kind", span.kind],
      ["status", span.status + (span.status_message ? ": " + span.status_message : "")],
      ["start", "+" + duration(span.start_ms)], ["duration", duration(span.duration_ms)],
      ["span id", span.span_id], ["parent span id", span.parent_span_id || "(root)"],
      ["scope", span.scope || "(none)"],
    ];
    const events = span.events.map((event) => el("li", {},
      el("strong", {}, event.name), " at +" + duration(event.at_ms),
      table("", event.attributes.map((a) => [a.key, a.value]))));
    return el("div", { class: "detail", "data-detail-of": span.span_id },
      table("span", basics),
      table("attributes", span.attributes.map((a) => [a.key, a.value])),
      table("resource", span.resource.map((a) => [a.key, a.value])),
      events.length ? el("section", {}, el("h3", {}, "events"), el("ul", { class: "events" }, events)) : null,
      table("links", span.links.map((l) => [l.trace_id, l.span_id])));
  }

  function row(entry, total) {
    const { span, depth, hasChildren, orphan } = entry;
    const toggle = hasChildren
      ? el("button", { class: "toggle", type: "button", "aria-label": "show or hide the children",
                       "data-toggle": span.span_id }, collapsed.has(span.span_id) ? "▸" : "▾")
      : el("span", { class: "toggle-space" });
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = serviceColor(span.service);
    const name = el("div", { class: "wf-name" }, toggle, swatch,
      el("span", { class: "svc" }, span.service), " ",
      el("span", { class: "op" }, span.name),
      span.status === "error" ? el("span", { class: "err-mark", title: span.status_message || "status Error" }, "!") : null,
      orphan ? el("span", { class: "muted small", title: "parent " + span.parent_span_id }, " (parent not received)") : null);
    name.style.paddingLeft = depth * 14 + 4 + "px";

    const bar = el("div", { class: "span-bar" });
    const left = total > 0 ? (span.start_ms / total) * 100 : 0;
    bar.style.left = Math.min(left, 100) + "%";
    bar.style.width = total > 0 ? Math.max((span.duration_ms / total) * 100, 0.2) + "%" : "100%";
    bar.style.background = serviceColor(span.service);
    const label = el("span", { class: "bar-label" }, duration(span.duration_ms));
    label.style.left = (left > 70 ? Math.max(left - 1, 0) : left + (span.duration_ms / (total || 1)) * 100 + 0.5) + "%";
    if (left > 70) label.classList.add("before");
    const timeline = el("div", { class: "wf-timeline" }, bar, label);

    const isOpen = opened.has(span.span_id);
    const line = el("div", {
      class: "span-row" + (span.status === "error" ? " error" : "") + (isOpen ? " open" : ""),
      role: "treeitem", tabindex: "0", "aria-level": String(depth + 1),
      "aria-expanded": isOpen ? "true" : "false",
      "data-span-id": span.span_id, "data-service": span.service,
    }, name, timeline);
    return isOpen ? [line, details(span)] : [line];
  }

  function render() {
    if (!shown) return;
    facts(shown);
    ticks(shown.duration_ms);
    const total = shown.duration_ms;
    rows.replaceChildren(...ordered(shown.spans).filter((e) => !e.hidden).flatMap((e) => row(e, total)));
    waterfall.hidden = false;
  }

  rows.addEventListener("click", (event) => {
    const toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      const id = toggle.dataset.toggle;
      collapsed.has(id) ? collapsed.delete(id) : collapsed.add(id);
    } else {
      const line = event.target.closest(".span-row");
      if (!line) return;
      const id = line.dataset.spanId;
      if (opened.has(id)) {
        opened.delete(id);
        if (location.hash === "#" + id) history.replaceState(null, "", location.pathname);
      } else {
        opened.add(id);
        history.replaceState(null, "", "#" + id);
      }
    }
    render();
  });
  rows.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target.classList.contains("span-row")) {
      event.preventDefault();
      event.target.click();
    }
  });

  // Spans of other services may still be on their way: ask again until the
  // trace has its root and stopped growing (or for a minute at most).
  let tries = 0;
  async function load() {
    tries += 1;
    let again = tries < 60;
    try {
      const { status: code, body } = await getJson("/api/traces/" + traceId);
      if (code === 200) {
        const grew = !shown || body.span_count !== shown.span_count;
        if (grew) { shown = body; render(); }
        status.textContent = "";
        again = again && (grew || !body.root_received);
      } else if (code === 404) {
        status.textContent = `Trace ${traceId} is not here (yet): spans show up after the services' next export, `
          + "and the oldest traces are let go past the caps. This page keeps asking for a minute.";
      } else {
        status.textContent = body.message || "The trace view answered " + code + ".";
        again = false;
      }
    } catch (err) {
      status.textContent = "The trace view does not answer: is trace-view still running?";
    }
    if (again) setTimeout(load, 1000);
  }
  load();
})();
