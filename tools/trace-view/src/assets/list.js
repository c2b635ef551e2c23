"use strict";
// The list of recent traces, newest first, refreshed every two seconds.
(() => {
  const { el, serviceChip, duration, time, traceIdFrom, getJson } = TV;
  const service = document.getElementById("service");
  const traceInput = document.getElementById("trace");
  const status = document.getElementById("status");
  const tbody = document.querySelector("#traces tbody");
  const stats = document.getElementById("stats");

  const params = new URLSearchParams(location.search);
  traceInput.value = params.get("trace") || "";
  let wantedService = params.get("service") || "";

  // A whole id (or a pasted traceresponse value) opens that trace.
  function openIfWhole() {
    const id = traceIdFrom(traceInput.value);
    if (id) location.assign("/trace/" + id);
    return Boolean(id);
  }

  function query() {
    const query = new URLSearchParams();
    if (service.value) query.set("service", service.value);
    if (traceInput.value.trim()) query.set("trace", traceInput.value.trim());
    return query.toString();
  }

  function renderServices(services) {
    const options = [el("option", { value: "" }, "all services")];
    for (const name of new Set([...services, wantedService].filter(Boolean))) {
      options.push(el("option", { value: name, selected: name === wantedService }, name));
    }
    service.replaceChildren(...options);
  }

  function row(trace) {
    const link = el("a", { href: "/trace/" + trace.trace_id }, trace.root_name || "(no name)");
    const root = el("td", { class: "root" }, link,
      trace.root_received ? null : el("span", { class: "muted small", title: "the root span has not arrived" }, " (root not received)"));
    return el("tr", { "data-trace-id": trace.trace_id, class: trace.error ? "error" : null },
      el("td", { class: "time" }, time(trace.start_unix_ms)),
      root,
      el("td", { class: "services" }, trace.services.map(serviceChip)),
      el("td", { class: "num" }, trace.span_count),
      el("td", { class: "num" }, duration(trace.duration_ms)),
      el("td", {}, trace.error ? el("span", { class: "badge-error", title: "a span has status Error" }, "error") : null));
  }

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const q = query();
      history.replaceState(null, "", q ? "?" + q : location.pathname);
      const { status: code, body } = await getJson("/api/traces" + (q ? "?" + q : ""));
      if (code !== 200) {
        status.textContent = body.message || "The trace view did not answer (" + code + ").";
        tbody.replaceChildren();
        return;
      }
      if (document.activeElement !== service) renderServices(body.services);
      tbody.replaceChildren(...body.traces.map(row));
      status.textContent = body.traces.length
        ? ""
        : q ? "No trace matches." : "No traces yet: send a request to a service that exports here.";
      const s = body.stats;
      stats.textContent = `${s.traces} of at most ${s.max_traces} traces, ${s.spans} of ${s.max_spans} spans kept`
        + (s.evicted_traces ? `; ${s.evicted_traces} older traces let go` : "")
        + (s.dropped_spans ? `; ${s.dropped_spans} spans over the cap dropped` : "");
    } catch (err) {
      status.textContent = "The trace view does not answer: is trace-view still running?";
    } finally {
      refreshing = false;
    }
  }

  service.addEventListener("change", () => { wantedService = service.value; refresh(); });
  traceInput.addEventListener("input", () => { if (!openIfWhole()) refresh(); });
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!openIfWhole()) refresh();
  });
  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-trace-id]");
    if (tr && !event.target.closest("a")) location.assign("/trace/" + tr.dataset.traceId);
  });

  if (!openIfWhole()) {
    refresh();
    setInterval(() => { if (!document.hidden) refresh(); }, 2000);
  }
})();
