// eventlog dashboard script: local times, copy buttons, the live tail. No dependencies.
"use strict";

(function () {
  const lang = document.documentElement.lang || "en";
  const locale = lang === "id" ? "id-ID" : "en-GB";
  const full = new Intl.DateTimeFormat(locale, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const short = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" });
  const day = new Intl.DateTimeFormat(locale, { weekday: "short", day: "2-digit", month: "short" });

  // Times arrive as RFC 3339 in UTC; show them in the browser's time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.getAttribute("datetime"); el.textContent = full.format(d); }
    });
    root.querySelectorAll("svg text[data-time]").forEach((el) => {
      const d = new Date(el.getAttribute("data-time"));
      if (!isNaN(d)) el.textContent = (el.dataset.show === "date" ? day : short).format(d);
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach((b) => {
      b.addEventListener("click", () => {
        navigator.clipboard.writeText(b.dataset.copy).then(() => {
          const text = b.textContent;
          b.textContent = b.dataset.done;
          setTimeout(() => { b.textContent = text; }, 1500);
        });
      });
    });
  }

  // Activity icons: the catalog colour as a tinted background.
  function iconColours() {
    document.querySelectorAll(".ico[data-color]").forEach((el) => {
      el.style.backgroundColor = el.dataset.color + "1a";
    });
  }

  function cell(tr, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text || "";
    tr.appendChild(td);
    return td;
  }

  function span(text, className) {
    const s = document.createElement("span");
    s.className = className;
    s.textContent = text;
    return s;
  }

  // The live tail: GET /api/events/stream, authenticated by the session cookie.
  function liveTail() {
    const table = document.getElementById("live-table");
    if (!table) return;
    const body = document.getElementById("live-events");
    const status = document.getElementById("live-status");
    const empty = document.getElementById("live-empty");
    const source = new EventSource(table.dataset.stream);
    source.onopen = () => { status.textContent = status.dataset.live; status.classList.add("on"); };
    source.onerror = () => { status.textContent = status.dataset.lost; status.classList.remove("on"); };
    source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      empty.hidden = true;
      const tr = document.createElement("tr");
      tr.className = "new";
      const t = document.createElement("time");
      t.setAttribute("datetime", e.timestamp);
      t.textContent = full.format(new Date(e.timestamp));
      cell(tr, t, "nowrap");
      cell(tr, span(e.severity, "sev sev-" + e.severity));
      cell(tr, e.event_category);
      const a = document.createElement("a");
      a.href = "/events/" + encodeURIComponent(e.event_id);
      a.textContent = e.event_name;
      a.className = "event-link";
      a.dataset.id = e.event_id;
      cell(tr, a);
      cell(tr, e.username || e.user_id);
      cell(tr, e.ip_address, "mono");
      cell(tr, span(e.status, "status status-" + e.status));
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 200) body.deleteRow(-1);
    };
    source.addEventListener("lagged", (m) => {
      const n = JSON.parse(m.data).missed;
      const tr = document.createElement("tr");
      const td = cell(tr, table.dataset.missed.replace("{n}", n), "notice");
      td.colSpan = 7;
      body.insertBefore(tr, body.firstChild);
    });
    // The session's key was revoked (or its sign-in expired): stop, say so.
    source.addEventListener("unauthorized", (m) => {
      source.close();
      status.classList.remove("on");
      status.textContent = JSON.parse(m.data).error.message;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    // On a narrow screen the navigation scrolls: show the current page's item.
    const current = document.querySelector(".top nav a.active");
    if (current) current.scrollIntoView({ block: "nearest", inline: "center" });
    localTimes(document);
    copyButtons();
    iconColours();
    liveTail();
  });
})();
