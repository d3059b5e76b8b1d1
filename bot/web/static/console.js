// The agent console: plain JavaScript against /console/api, live over /console/ws.
let me = null;
let current = null;

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (me && me.csrf) headers["X-CSRF-Token"] = me.csrf;
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  const data = r.status === 204 ? {} : await r.json();
  if (!r.ok) throw Object.assign(new Error(data.detail || r.statusText), { status: r.status });
  return data;
}

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
  if (text) e.textContent = text;
  return e;
}

function minutes(s) { return s < 60 ? `${s} s` : `${Math.round(s / 60)} min`; }

// What the agent is looking at: the search text, waiting/held, and the page.
const view = { search: "", state: "", offset: 0, limit: 25 };

async function loadQueue() {
  const q = new URLSearchParams({ offset: view.offset, limit: view.limit });
  if (view.search) q.set("search", view.search);
  if (view.state) q.set("state", view.state);
  const { queue, total } = await api("GET", `/console/api/queue?${q}`);
  if (!queue.length && total && view.offset) {  // the page emptied under us: go back one
    view.offset = Math.max(0, view.offset - view.limit);
    return loadQueue();
  }
  const body = document.querySelector("#queue tbody");
  body.replaceChildren(...queue.map((row) => {
    const tr = el("tr", { "data-delivery": row.delivery_id, class: row.state });
    tr.append(el("td", {}, `${row.customer} (${row.order_id})`), el("td", {}, row.reason),
      el("td", {}, minutes(row.waiting_s)), el("td", {}, row.state === "held" ? `held by ${row.agent}` : "waiting"));
    tr.onclick = () => { location.hash = `d=${encodeURIComponent(row.delivery_id)}`; };
    return tr;
  }));
  const first = total ? view.offset + 1 : 0;
  document.getElementById("queue-count").textContent = total
    ? `${first}–${view.offset + queue.length} of ${total}`
    : (view.search || view.state ? "Nothing matches." : "Nobody is waiting.");
  document.getElementById("queue-prev").disabled = view.offset === 0;
  document.getElementById("queue-next").disabled = view.offset + queue.length >= total;
}

function setUpQueueControls() {
  let typing = null;
  document.getElementById("queue-search").oninput = (ev) => {
    clearTimeout(typing);
    typing = setTimeout(() => { view.search = ev.target.value.trim(); view.offset = 0; loadQueue(); }, 250);
  };
  document.getElementById("queue-state").onchange = (ev) => { view.state = ev.target.value; view.offset = 0; loadQueue(); };
  document.getElementById("queue-prev").onclick = () => { view.offset = Math.max(0, view.offset - view.limit); loadQueue(); };
  document.getElementById("queue-next").onclick = () => { view.offset += view.limit; loadQueue(); };
}

function entry(e) {
  const li = el("li", { class: e.dir });
  if (e.dir === "nlu") {
    li.textContent = `understood: ${e.intent} (${Math.round(e.confidence * 100)}%)` +
      (e.entities && e.entities.length ? ` ${e.entities.map((x) => `${x.entity}=${x.value}`).join(", ")}` : "");
  } else if (e.dir === "note" || e.dir === "event") {
    li.textContent = `${e.agent}: ${e.text}`;
  } else {
    li.textContent = e.text;
  }
  for (const url of e.media || []) li.append(el("img", { src: url, alt: "photo" }));
  return li;
}

async function openConversation(id, reveal = false) {
  current = id;
  const conv = document.getElementById("conv");
  const error = document.getElementById("conv-error");
  conv.hidden = false;
  try {
    const c = await api("GET", `/console/api/conversations/${encodeURIComponent(id)}${reveal ? "?reveal=1" : ""}`);
    error.hidden = true;
    document.getElementById("conv-body").hidden = false;
    const d = c.delivery;
    document.getElementById("conv-title").textContent = `${d.customer.name}, order ${d.order_id}`;
    const h = c.handoff;
    document.getElementById("conv-state").textContent = h
      ? (h.state === "held" ? `Held by ${h.agent}` : `Waiting for a person: ${h.reason}`)
      : "The bot is handling this conversation.";
    document.getElementById("claim").disabled = !h || h.state === "held";
    document.getElementById("hand-back").disabled = !h || h.agent !== me.username;
    const t = document.getElementById("transcript");
    t.replaceChildren(...c.transcript.map(entry));
    t.scrollTop = t.scrollHeight;
    const facts = document.getElementById("facts");
    const rows = [["Status", d.status], ["Channel", `${d.channel} ${d.contact}`], ["Address", d.address.line1],
      ["Window", d.eta_window ? `${d.eta_window.start} – ${d.eta_window.end}` : `${d.promised_window.start} – ${d.promised_window.end}`],
      ["Safe place", d.safe_place || "—"], ["Instructions", d.instructions || "—"], ["Access code", d.access_code || "—"]];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    // The customer's tracking page; revoking gives the delivery a new link.
    const link = el("dd", { id: "tracking-link" });
    const revoke = el("button", { type: "button" }, "Revoke");
    revoke.onclick = async () => { await api("POST", `/console/api/conversations/${encodeURIComponent(id)}/tracking/revoke`); openConversation(id); };
    link.append(el("a", { href: c.tracking_url, target: "_blank", rel: "noopener noreferrer" }, c.tracking_url), " ", revoke);
    facts.append(el("dt", {}, "Tracking link"), link);
    document.getElementById("return-item").replaceChildren(...d.items.map((i) => el("option", { value: i.name }, i.name)));
    const caseBox = document.getElementById("case");
    document.getElementById("case-title").hidden = !c.case;
    caseBox.replaceChildren();
    if (c.case) {
      caseBox.append(el("p", {}, `${c.case.kind}: ${c.case.text}`));
      [...c.case.customer_photos, ...c.case.delivery_photos].forEach((u) => caseBox.append(el("img", { src: u, alt: "case photo" })));
    }
    document.getElementById("route").replaceChildren(...(c.route ? c.route.stops.filter((s) => s.status === "pending")
      .map((s) => el("li", {}, `${s.stop_id} ${s.kind} ETA ${s.planned_eta}`)) : []));
  } catch (e) {
    document.getElementById("conv-body").hidden = true;
    error.hidden = false;
    error.textContent = e.status === 404 ? "No such conversation for your brand." : e.message;
  }
}

async function act(path, body) {
  try {
    await api("POST", `/console/api/conversations/${encodeURIComponent(current)}${path}`, body);
  } catch (e) { alert(e.message); }
  await openConversation(current);
  await loadQueue();
}

function wire() {
  document.getElementById("claim").onclick = () => act("/claim");
  document.getElementById("hand-back").onclick = () => act("/hand-back");
  document.getElementById("reveal").onclick = () => openConversation(current, true);
  document.getElementById("reply").onsubmit = (ev) => {
    ev.preventDefault();
    const input = document.getElementById("reply-text");
    const text = input.value; input.value = "";
    act("/reply", { text });
  };
  document.getElementById("note").onsubmit = (ev) => {
    ev.preventDefault();
    const input = document.getElementById("note-text");
    const text = input.value; input.value = "";
    act("/notes", { text });
  };
  document.getElementById("safe-place").onsubmit = (ev) => {
    ev.preventDefault();
    act("/operations/safe_place", { place: document.getElementById("safe-place-text").value });
  };
  document.getElementById("windows").onclick = async () => {
    const box = document.getElementById("window-list");
    try {
      const { windows } = await api("POST", `/console/api/conversations/${encodeURIComponent(current)}/operations/windows`, {});
      box.replaceChildren(...windows.map((w) => {
        const b = el("button", {}, `${w.start.slice(11, 16)}–${w.end.slice(11, 16)}`);
        b.onclick = () => act("/operations/reschedule", { window: w });
        return b;
      }));
    } catch (e) { box.textContent = e.message; }
  };
  document.getElementById("return").onsubmit = async (ev) => {
    ev.preventDefault();
    const item = document.getElementById("return-item").value;
    const box = document.getElementById("return-list");
    try {
      const { windows } = await api("POST", `/console/api/conversations/${encodeURIComponent(current)}/operations/windows`, { purpose: "return", item });
      box.replaceChildren(...windows.map((w) => {
        const b = el("button", {}, `Collect ${w.start.slice(5, 10)} ${w.start.slice(11, 16)}–${w.end.slice(11, 16)}`);
        b.onclick = () => act("/operations/return_pickup", { item, window: w });
        return b;
      }));
      if (!windows.length) box.textContent = "No pickup window fits today.";
    } catch (e) { box.textContent = e.message; }
  };
  document.getElementById("logout").onclick = async () => { await api("POST", "/console/logout"); location.reload(); };
  window.onhashchange = () => route();
}

function route() {
  const m = location.hash.match(/^#d=(.+)$/);
  if (m) openConversation(decodeURIComponent(m[1]));
}

function live() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/console/ws`);
  ws.onmessage = async (ev) => {
    const event = JSON.parse(ev.data);
    await loadQueue();
    if (current && event.delivery_id === current) await openConversation(current);
  };
  ws.onclose = () => setTimeout(live, 2000);
}

// --- brand administration (admin role) ---------------------------------------------
let previewTimer = null;

function slot() {
  return { type: document.getElementById("tpl-type").value, channel: document.getElementById("tpl-channel").value,
    locale: document.getElementById("tpl-locale").value };
}

function options(select, values) {
  select.replaceChildren(...values.map((v) => el("option", { value: v }, v === "*" ? "every channel" : v)));
}

async function loadTemplate() {
  const s = slot();
  const t = await api("GET", `/console/api/admin/templates/${s.type}?channel=${encodeURIComponent(s.channel)}&locale=${s.locale}`);
  document.getElementById("tpl-source").value = t.source ?? t.default_source ?? "";
  document.getElementById("tpl-saved").textContent = t.source ? "" : "(Doorstep's default)";
  document.getElementById("tpl-versions").replaceChildren(...t.versions.slice().reverse().map((v) => {
    const li = el("li", {}, `v${v.version} by ${v.by}, ${v.at.slice(0, 16)} `);
    const b = el("button", {}, "Make live");
    b.onclick = async () => {
      await api("POST", `/console/api/admin/templates/${s.type}/rollback`, { ...s, version: v.version });
      await loadTemplate();
    };
    li.append(b);
    return li;
  }));
  preview();
}

async function preview() {
  const s = slot();
  const r = await api("POST", "/console/api/admin/templates/preview", { ...s, source: document.getElementById("tpl-source").value });
  const problems = document.getElementById("tpl-problems");
  problems.replaceChildren(...(r.problems || []).map((p) => el("li", {}, p.message)));
  if (!r.ok) return;
  document.getElementById("tpl-text").textContent = r.sms.text;
  document.getElementById("tpl-whatsapp").textContent = r.whatsapp.text;
  document.getElementById("tpl-telegram").textContent = r.telegram.text;
  const sms = r.sms;
  document.getElementById("tpl-sms").textContent =
    `SMS: ${sms.encoding}, ${sms.characters} characters, ${sms.segments} segment${sms.segments === 1 ? "" : "s"}, ` +
    `${sms.cost_per_1000.toFixed(2)} per 1,000 messages`;
}

async function loadAdmin() {
  const info = await api("GET", "/console/api/admin/templates");
  options(document.getElementById("tpl-type"), Object.keys(info.types));
  document.getElementById("tpl-type").value = "delivery_scheduled";
  options(document.getElementById("tpl-channel"), info.channels);
  options(document.getElementById("tpl-locale"), info.locales);
  const showVars = () => { document.getElementById("tpl-vars").textContent = `Variables: ${info.types[slot().type].join(", ")}`; };
  ["tpl-type", "tpl-channel", "tpl-locale"].forEach((id) => { document.getElementById(id).onchange = () => { showVars(); loadTemplate(); }; });
  showVars();
  document.getElementById("tpl-source").oninput = () => { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); };
  document.getElementById("tpl-save").onclick = async () => {
    const s = slot();
    const saved = document.getElementById("tpl-saved");
    try {
      const r = await api("PUT", `/console/api/admin/templates/${s.type}`, { ...s, source: document.getElementById("tpl-source").value });
      await loadTemplate();
      saved.textContent = `Saved: version ${r.version} is live.`;
    } catch (e) { saved.textContent = `Not saved: ${e.message}`; await preview(); }
  };
  document.getElementById("tpl-reset").onclick = async () => {
    const s = slot();
    await api("DELETE", `/console/api/admin/templates/${s.type}?channel=${encodeURIComponent(s.channel)}&locale=${s.locale}`);
    await loadTemplate();
  };
  const settings = await api("GET", "/console/api/admin/settings");
  document.getElementById("settings-json").value = JSON.stringify(settings, null, 2);
  document.getElementById("settings-save").onclick = async () => {
    const problems = document.getElementById("settings-problems");
    const saved = document.getElementById("settings-saved");
    problems.replaceChildren(); saved.textContent = "";
    let body;
    try { body = JSON.parse(document.getElementById("settings-json").value); } catch (e) { problems.append(el("li", {}, `Not JSON: ${e.message}`)); return; }
    const r = await fetch("/console/api/admin/settings", { method: "PUT", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf }, body: JSON.stringify(body) });
    const data = await r.json();
    if (!r.ok) { problems.replaceChildren(...(data.fields || []).map((f) => el("li", {}, `${f.field}: ${f.message}`))); return; }
    saved.textContent = "Saved.";
    document.getElementById("settings-json").value = JSON.stringify(data, null, 2);
  };
  await loadTemplate();
}

function show(which) {
  document.getElementById("desk").hidden = which !== "desk";
  document.getElementById("admin").hidden = which !== "admin";
}

async function start() {
  if (new URLSearchParams(location.search).get("error")) document.getElementById("login-error").hidden = false;
  try {
    me = await api("GET", "/console/api/me");
  } catch (e) {
    document.getElementById("login-box").hidden = false;
    return;
  }
  document.getElementById("who").textContent = `${me.name} (${me.brand_id}, ${me.role})`;
  document.getElementById("logout").hidden = false;
  document.getElementById("desk").hidden = false;
  wire();
  setUpQueueControls();
  document.getElementById("show-desk").onclick = (ev) => { ev.preventDefault(); show("desk"); };
  if (me.role === "admin") {
    const link = document.getElementById("show-admin");
    link.hidden = false;
    link.onclick = async (ev) => { ev.preventDefault(); show("admin"); await loadAdmin(); };
  }
  await loadQueue();
  route();
  live();
  setInterval(loadQueue, 15000);  // waiting times keep growing between events
}

start();
