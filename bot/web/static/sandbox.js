"use strict";
// The sandbox page: talks to /sandbox/api with the page's token in a header.
const token = document.body.dataset.token;
let selected = null;      // phone number shown on the phone
let stops = [];
let tz = "America/New_York";

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-Sandbox-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}

function say(text) { document.getElementById("status").textContent = text; }

function hhmm(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZone: tz });
}

async function refresh() {
  const state = await api("GET", "/sandbox/api/demo");
  stops = state.stops;
  document.getElementById("clock").textContent =
    "now " + new Date(state.now).toLocaleString([], { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit" }) +
    (state.clock_offset_s ? " (time-travelled)" : "");
  const q = state.quiet_hours;
  document.getElementById("quiet-label").textContent =
    q ? `Quiet hours ${q.start.slice(0, 5)}–${q.end.slice(0, 5)} customer time: proactive messages wait until they end.` : "No quiet hours.";
  const body = document.querySelector("#stops tbody");
  body.replaceChildren();
  stops.forEach((s, i) => {
    const tr = document.createElement("tr");
    tr.dataset.phone = s.phone;
    if (s.phone === selected) tr.classList.add("selected");
    const badges = s.messages.map((m) => {
      const due = m.status === "deferred" ? " until " + hhmm(new Date(m.due_at * 1000).toISOString()) : "";
      return `<span class="badge ${m.status}" title="${m.error || ""}">${m.type}: ${m.status}${due}</span>`;
    }).join(" ");
    tr.innerHTML = `<td>${i + 1}</td><td>${s.name}<br><small class="muted">${s.street} · ${s.locale}</small></td>
      <td>${s.status}</td><td>${hhmm(s.window[0])}–${hhmm(s.window[1])}</td><td>${badges}</td>
      <td><button data-act="delivered">Delivered</button> <button data-act="failed">Failed</button></td>`;
    tr.addEventListener("click", (ev) => {
      const act = ev.target.dataset && ev.target.dataset.act;
      if (act) {
        ev.stopPropagation();
        run(() => api("POST", "/sandbox/api/demo/complete", { delivery_id: s.delivery_id, outcome: act }), `${s.name}: ${act}`);
        return;
      }
      select(s.phone);
    });
    body.appendChild(tr);
  });
  if (!selected && stops.length) select(stops[0].phone);
}

function bubble(entry) {
  const li = document.createElement("li");
  li.className = entry.dir;
  li.dataset.id = entry.id;
  // Links in a message open in a new tab, as a phone would (the tracking page).
  for (const part of entry.text.split(/(https?:\/\/\S+)/)) {
    if (/^https?:\/\//.test(part)) {
      const a = document.createElement("a");
      a.href = part;
      a.textContent = part;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      li.appendChild(a);
    } else if (part) li.appendChild(document.createTextNode(part));
  }
  for (const url of entry.media || []) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = "photo";
    // Photos load after the feed is laid out: keep the newest message in view.
    img.addEventListener("load", () => {
      const ol = document.getElementById("feed");
      ol.scrollTop = ol.scrollHeight;
    });
    li.appendChild(img);
  }
  if (entry.choices && entry.choices.length) {
    const box = document.createElement("div");
    box.className = "choices";
    entry.choices.forEach((c, i) => {
      const b = document.createElement("button");
      b.textContent = c;
      b.addEventListener("click", () => sendReply(String(i + 1)));
      box.appendChild(b);
    });
    li.appendChild(box);
  }
  return li;
}

async function select(phone) {
  selected = phone;
  const s = stops.find((x) => x.phone === phone);
  document.getElementById("phone-name").textContent = s ? s.name : phone;
  document.getElementById("phone-number").textContent = phone;
  document.querySelectorAll("#stops tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.phone === phone));
  const feed = await api("GET", `/sandbox/api/phones/${encodeURIComponent(phone)}`);
  const ol = document.getElementById("feed");
  ol.replaceChildren(...feed.map(bubble));
  ol.scrollTop = ol.scrollHeight;
}

async function sendReply(text, mediaUrls = []) {
  if (!selected || !(text.trim() || mediaUrls.length)) return;
  const body = { text, media_urls: mediaUrls };
  await api("POST", `/sandbox/api/phones/${encodeURIComponent(selected)}/messages`, body);
}

async function run(action, label) {
  try {
    const r = await action();
    say(`${label}: ${r.status || "done"}${r.messages ? ` (${r.messages.length} messages)` : ""}`);
  } catch (e) {
    say(`${label}: ${e.message}`);
  }
  await refresh();
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/sandbox/ws?token=${encodeURIComponent(token)}`);
  ws.onmessage = (ev) => {
    const { address, entry } = JSON.parse(ev.data);
    if (address === selected) {
      const ol = document.getElementById("feed");
      if (!ol.querySelector(`li[data-id="${entry.id}"]`)) ol.appendChild(bubble(entry));
      ol.scrollTop = ol.scrollHeight;
    }
    refresh();
  };
  ws.onclose = () => setTimeout(connect, 1000);
}

document.getElementById("reset").onclick = () => run(() => api("POST", "/sandbox/api/demo/reset"), "New demo day");
document.getElementById("dispatch").onclick = () => run(() => api("POST", "/sandbox/api/demo/dispatch"), "Dispatch");
document.getElementById("move").onclick = () => run(() => api("POST", "/sandbox/api/demo/move"), "Driver moves on");
document.getElementById("delay").onclick = () => run(() => api("POST", "/sandbox/api/demo/delay", { minutes: 30 }), "Delay");
document.getElementById("quiet-save").onclick = () => run(() => api("POST", "/sandbox/api/demo/quiet", {
  start: document.getElementById("quiet-start").value, end: document.getElementById("quiet-end").value }), "Quiet hours");
document.getElementById("quiet-now").onclick = () => run(() => api("POST", "/sandbox/api/demo/quiet", { around_now: true }), "Quiet for 3 hours");
document.getElementById("quiet-off").onclick = () => run(() => api("POST", "/sandbox/api/demo/quiet", { enabled: false }), "Quiet hours off");
document.getElementById("clock-1h").onclick = () => run(() => api("POST", "/sandbox/api/demo/clock", { minutes: 60 }), "Clock +1 h");
document.getElementById("clock-12h").onclick = () => run(() => api("POST", "/sandbox/api/demo/clock", { minutes: 720 }), "Clock +12 h");
document.getElementById("clock-reset").onclick = () => run(() => api("POST", "/sandbox/api/demo/clock", { reset: true }), "Real time");
document.getElementById("reply").onsubmit = async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("reply-text");
  const text = input.value;
  input.value = "";
  try { await sendReply(text); } catch (e) { say(`Reply: ${e.message}`); }
};

// A customer's photo (a damaged box), as an MMS or a Telegram photo would bring it.
document.getElementById("reply-photo").onclick = async () => {
  const input = document.getElementById("reply-text");
  const text = input.value;
  input.value = "";
  const photo = new URL("/sandbox/static/damaged-box.svg", location.href).href;
  try { await sendReply(text, [photo]); } catch (e) { say(`Photo: ${e.message}`); }
};

connect();
refresh().catch((e) => say(e.message));
// Statuses also change without a phone event (deferred messages going out or being
// superseded, provider reports): keep the panel current.
setInterval(() => refresh().catch(() => {}), 2000);
