// The customer's tracking page: renders the server's view, live over server-sent events.
// Every action is a POST of JSON to /t/<token>/act/<action>; the server does the rest.
"use strict";
const boot = JSON.parse(document.getElementById("boot").textContent);
const W = boot.words;
const base = `/t/${boot.token}`;
const query = `?lang=${encodeURIComponent(boot.lang)}`;
const $ = (id) => document.getElementById(id);
let current = boot.view;
let leaflet = null; // {map, driver, destination} once drawn

function show(id, on) { $(id).hidden = !on; }
function put(id, text) { $(id).textContent = text || ""; }
function toast(text) { put("toast", text); }

async function call(method, path, body, extra) {
  const r = await fetch(base + path + query + (extra || ""), {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  return { ok: r.ok, status: r.status, data };
}

const slot = (o) => ({ start: o.start, end: o.end });

function choices(container, offers, pick) {
  const box = $(container);
  box.replaceChildren();
  if (!offers.length) { box.textContent = W.no_times; return; }
  for (const offer of offers) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = offer.label;
    b.onclick = () => pick(offer);
    box.append(b);
  }
}

function schematic(before) {
  // Stops before this one as dots on a line: the driver on the left, you on the right.
  const svg = $("schematic");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const n = Math.min(before, 8);
  const xs = (i) => 24 + (i * 272) / (n + 1);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { x1: 24, y1: 22, x2: 296, y2: 22, class: "track" });
  for (let i = 1; i <= n; i++) add("circle", { cx: xs(i), cy: 22, r: 5, class: "stop" });
  add("circle", { cx: 24, cy: 22, r: 9, class: "driver" });
  add("text", { x: 24, y: 50, "text-anchor": "start" }, W.driver);
  add("circle", { cx: 296, cy: 22, r: 9, class: "you" });
  add("text", { x: 296, y: 50, "text-anchor": "end" }, W.you);
}

function loadLeaflet() {
  if (window.L) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/t/vendor/leaflet/leaflet.css";
    document.head.append(css);
    const js = document.createElement("script");
    js.src = "/t/vendor/leaflet/leaflet.js";
    js.onload = resolve;
    js.onerror = reject;
    document.head.append(js);
  });
}

async function drawMap(m) {
  const box = $("map");
  if (!m || !boot.tiles) {
    if (leaflet) { leaflet.map.remove(); leaflet = null; box.className = ""; box.replaceChildren(); }
    box.hidden = true;
    return;
  }
  box.hidden = false;
  await loadLeaflet();
  const L = window.L;
  if (!leaflet) {
    const map = L.map(box, { zoomControl: true, attributionControl: true });
    L.tileLayer(boot.tiles, { attribution: boot.attribution, maxZoom: 19 }).addTo(map);
    const destination = L.circleMarker(m.destination, { radius: 9, className: "map-you" }).addTo(map);
    leaflet = { map, destination, driver: null };
  }
  leaflet.destination.setLatLng(m.destination);
  if (m.driver) {
    if (!leaflet.driver) leaflet.driver = L.circleMarker(m.driver, { radius: 8, className: "map-driver" }).addTo(leaflet.map);
    leaflet.driver.setLatLng(m.driver);
    leaflet.map.fitBounds([m.driver, m.destination], { padding: [32, 32], maxZoom: 16 });
  } else {
    leaflet.map.setView(m.destination, 15);
  }
}

function render(v) {
  current = v;
  document.body.dataset.status = v.status;
  put("status-line", v.status_line);
  put("eta-line", v.eta_line);
  const p = v.progress;
  show("progress", !!p);
  if (p) {
    put("stops-line", p.stops_line);
    put("minutes-line", p.minutes_line);
    put("driver-line", p.driver_line);
    schematic(p.before);
  }
  drawMap(p ? p.map : null);
  show("delivered", !!v.delivered);
  if (v.delivered) {
    put("delivered-line", v.delivered.line);
    put("delivered-place", v.delivered.safe_place ? `${W.safe_place}: ${v.delivered.safe_place}` : "");
    const photo = $("photo");
    photo.hidden = !v.delivered.photo;
    if (v.delivered.photo && photo.getAttribute("src") !== v.delivered.photo) photo.src = v.delivered.photo;
  }
  show("failed", !!v.failed);
  if (v.failed) { put("failed-line", v.failed.line); put("failed-advice", v.failed.advice); }
  show("verify", !v.verified);
  if (!v.verified) {
    const postcode = v.asks_for === "postcode";
    put("verify-text", postcode ? W.verify_postcode : W.verify_order);
    put("verify-label", postcode ? W.postcode : W.order_number);
  }
  show("details", !!v.details);
  if (v.details) {
    put("details-who", `${v.details.name}, ${v.details.address}`);
    put("details-place", v.details.safe_place || "—");
    const note = [v.details.instructions, v.details.has_access_code ? W.access_code_saved : ""].filter(Boolean).join(" · ");
    put("details-note", note || "—");
  }
  show("agent-note", v.held);
  show("pending", !!v.pending);
  if (v.pending) {
    choices("pending-offers", v.pending.offers, (o) =>
      v.pending.purpose === "return" ? act("return", { item: v.pending.item, window: slot(o) }) : act("reschedule", { window: slot(o) }));
  }
  const actions = ["reschedule", "safe_place", "instructions", "return", "not_home", "rate"];
  for (const name of actions) show(`act-${name}`, !!v.can[name]);
  show("actions", actions.some((name) => v.can[name]));
  const items = $("return-item");
  if (items.options.length !== v.items.length) {
    items.replaceChildren(...v.items.map((name) => new Option(name, name)));
  }
  show("chat", v.can.write);
  const log = $("chat-log");
  log.replaceChildren(...v.conversation.map((m) => {
    const li = document.createElement("li");
    li.className = m.dir;
    li.textContent = m.text;
    return li;
  }));
  log.scrollTop = log.scrollHeight; // the newest message in view
}

async function act(action, body) {
  toast(W.sending);
  const r = await call("POST", `/act/${action}`, body);
  if (r.ok) {
    render(r.data);
    toast(W.saved);
    for (const id of ["reschedule-offers", "return-offers"]) $(id).replaceChildren();
  }
  else toast((r.data && r.data.detail) || W.failed_try);
  return r.ok;
}

async function offer(purpose, dayInput, container, item) {
  const day = $(dayInput).value;
  const extra = `&purpose=${purpose}` + (day ? `&day=${day}` : "") + (item ? `&item=${encodeURIComponent(item)}` : "");
  const r = await call("GET", "/windows", null, extra);
  if (!r.ok) { toast((r.data && r.data.detail) || W.failed_try); return; }
  choices(container, r.data.windows, (o) => purpose === "return" ? act("return", { item, window: slot(o) }) : act("reschedule", { window: slot(o) }));
}

$("verify-form").onsubmit = async (e) => {
  e.preventDefault();
  const r = await call("POST", "/verify", { answer: $("verify-answer").value });
  if (r.ok) { put("verify-error", ""); render(r.data); } else put("verify-error", (r.data && r.data.detail) || W.failed_try);
};
$("reschedule-show").onclick = () => offer("reschedule", "reschedule-day", "reschedule-offers");
$("return-show").onclick = () => offer("return", "return-day", "return-offers", $("return-item").value);
$("safe-form").onsubmit = async (e) => { e.preventDefault(); if (await act("safe_place", { place: $("safe-place").value })) $("safe-place").value = ""; };
$("note-form").onsubmit = async (e) => {
  e.preventDefault();
  const code = $("note-code").value.trim();
  if (await act("instructions", { note: $("note-text").value, access_code: code || null })) { $("note-text").value = ""; $("note-code").value = ""; }
};
$("act-not_home").onclick = () => act("not_home", {});
for (const b of document.querySelectorAll("#act-rate button")) b.onclick = () => act("rate", { rating: Number(b.dataset.rating) });
$("write-form").onsubmit = async (e) => { e.preventDefault(); if (await act("write", { text: $("write-text").value })) $("write-text").value = ""; };

render(current);
const today = new Date().toISOString().slice(0, 10);
for (const id of ["reschedule-day", "return-day"]) { $(id).min = today; }
const stream = new EventSource(base + "/events" + query);
stream.addEventListener("view", (e) => { show("live-note", false); render(JSON.parse(e.data)); });
stream.addEventListener("gone", () => { stream.close(); location.reload(); });
stream.onerror = () => show("live-note", true);
