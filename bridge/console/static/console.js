// Mailbridge console: the little script there is (no build, no library).
// - forms with data-confirm ask first;
// - the Accounts table refreshes its states every 2 s (states.json);
// - the Account page follows the account's events over the console's WebSocket stream.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

function text(tag, value, cls) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.textContent = value;
  return el;
}

function refreshStates(table) {
  fetch(table.dataset.states, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((states) => {
      if (!states) return;
      for (const row of table.querySelectorAll("tr[data-account]")) {
        const s = states[row.dataset.account];
        if (!s) continue;
        const cell = row.querySelector(".state-cell");
        cell.replaceChildren(text("span", s.state, "state state-" + s.state));
        if (s.since) { cell.append(document.createElement("br"), text("small", "since " + s.since)); }
        if (s.next_retry) { cell.append(document.createElement("br"), text("small", "next try " + s.next_retry)); }
        const err = row.querySelector(".error-cell");
        if (s.error) {
          err.replaceChildren(text("code", s.error.code), " " + s.error.message, document.createElement("br"), text("small", s.error.at));
        } else {
          err.replaceChildren(text("span", "none", "muted"));
        }
      }
    })
    .catch(() => {});
}

function summary(frame) {
  const d = frame.data || {};
  return d.subject || (typeof d.state === "string" ? d.state : "") || "";
}

function follow(table) {
  const live = document.getElementById("live");
  let since = table.dataset.since;
  let delay = 1000;
  const open = () => {
    const url = new URL(table.dataset.stream, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (since) url.searchParams.set("since", since);
    const ws = new WebSocket(url);
    ws.onopen = () => { live.dataset.state = "on"; live.textContent = "live"; delay = 1000; };
    ws.onmessage = (msg) => {
      const frame = JSON.parse(msg.data);
      since = frame.id;
      const row = document.createElement("tr");
      row.dataset.id = frame.id;
      row.className = "fresh";
      const when = text("time", frame.date);
      const tdWhen = document.createElement("td");
      tdWhen.append(when);
      const tdEvent = document.createElement("td");
      tdEvent.append(text("code", frame.event));
      row.append(tdEvent, tdWhen, text("td", summary(frame)));
      table.tBodies[0].prepend(row);
      const none = document.getElementById("no-events");
      if (none) none.remove();
    };
    ws.onclose = () => {
      live.dataset.state = "off"; live.textContent = "reconnecting…";
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  open();
}

document.addEventListener("DOMContentLoaded", () => {
  const accounts = document.querySelector("table#accounts[data-states]");
  if (accounts) setInterval(() => refreshStates(accounts), 2000);
  const events = document.querySelector("table#events[data-stream]");
  if (events) follow(events);
});
