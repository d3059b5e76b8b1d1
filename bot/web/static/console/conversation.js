// One conversation: who and why, the SLA clock, the transcript with the NLU's reading
// of each customer message in words, and what the agent does (claim, reply, transfer,
// resolve, notes).
import { $, api, el, toast } from "./api.js";
import { both, clock, duration, span } from "./format.js";
import { has, t } from "./i18n.js";
import { renderPanel } from "./panel.js";
import { ctx, label } from "./state.js";

const hooks = { changed: async () => {} };
export function onChanged(fn) { hooks.changed = fn; }

function zones() { return ctx.conversation ? ctx.conversation.zones : { brand: ctx.me.brand.timezone }; }

function confidenceWord(c) {
  return t(c >= 0.85 ? "nlu.sure" : c >= 0.6 ? "nlu.fairly_sure" : "nlu.unsure", { p: Math.round(c * 100) });
}

// "Read as: wants another time (sure, 96%) · time “after 5 tomorrow” → Wed 17:00–21:00"
function reading(e) {
  const parts = [t("nlu.read_as", { intent: label(t, has, "intent", e.intent), confidence: confidenceWord(e.confidence) })];
  for (const x of e.entities || []) parts.push(`${label(t, has, "entity", x.entity)} “${x.value}”`);
  if (e.time_window && e.time_window.start) parts.push(`→ ${span(e.time_window, zones().customer || zones().brand)}`);
  else if (e.time_window && e.time_window.error) parts.push(t("nlu.bad_time", { why: e.time_window.error }));
  return el("span", { class: "reading" }, parts.join(" · "));
}

function agentName(username) {
  const a = ctx.agents.find((x) => x.username === username);
  return a ? a.name : username;
}

const LEGACY = { claimed: "claimed", "handed back to the bot": "resolved" };

function eventText(e) {
  const code = e.event || LEGACY[e.text];
  if (!code) return `${agentName(e.agent)}: ${e.text}`;
  return t(`event.${code}`, { agent: agentName(e.agent), to: e.to ? agentName(e.to) : "", score: e.score });
}

function entry(e) {
  const at = e.at ? both(e.at, zones()) : "";
  if (e.dir === "event") return el("li", { class: "event" }, `${eventText(e)}${at ? ` · ${at}` : ""}`);
  const li = el("li", { class: e.dir });
  if (e.dir === "note") li.append(`${agentName(e.agent)}: ${e.text}`);
  else li.append(e.text || "");
  for (const url of e.media || []) li.append(el("img", { src: url, alt: t("conv.photo") }));
  const who = e.dir === "out" ? (e.type === "agent_reply" ? t("conv.by_agent") : t("conv.by_bot")) : e.dir === "note" ? t("conv.note") : "";
  li.append(el("span", { class: "meta" }, [at, who].filter(Boolean).join(" · ")));
  return li;
}

export function transcript(entries) {
  const items = [];
  for (const e of entries) {
    if (e.dir === "nlu") {
      const last = items[items.length - 1];
      if (last && last.classList.contains("in") && !last.querySelector(".reading")) { last.append(reading(e)); continue; }
      items.push(el("li", { class: "event" }, reading(e)));
      continue;
    }
    items.push(entry(e));
  }
  return items;
}

function target(label_, s) {
  if (s.met_at) return t(s.breached ? "sla.met_late" : "sla.met_at", { name: label_, at: clock(s.met_at, zones().brand) });
  if (s.breached) return t("sla.missed", { name: label_, d: duration(s.remaining_s), at: clock(s.due, zones().brand) });
  return t("sla.due", { name: label_, at: clock(s.due, zones().brand), d: duration(s.remaining_s) });
}

function renderSla(sla) {
  const box = $("sla");
  box.replaceChildren();
  if (!sla) return;
  for (const [key, s] of [["first_response", sla.first_response], ["resolution", sla.resolution]]) {
    const cls = s.breached ? "badge late" : s.met_at ? "badge" : "badge soon";
    box.append(el("span", { class: cls }, target(t(`sla.${key}`), s)));
  }
  if (sla.paused) box.append(el("span", { class: "badge paused" }, t("sla.paused_until", { at: clock(sla.resumes_at, zones().brand) })));
}

function renderActions(h) {
  const mine = h && h.state === "held" && h.agent === ctx.me.username;
  $("claim").disabled = !h || h.state === "held";
  $("hand-back").disabled = !mine;
  $("reply-text").disabled = !mine;
  const select = $("transfer");
  const canMove = h && h.state === "held" && (mine || ctx.me.role === "admin");
  select.disabled = !canMove;
  select.replaceChildren(el("option", { value: "" }, t("conv.transfer")),
    el("option", { value: "-queue-" }, t("conv.to_queue")),
    ...ctx.agents.filter((a) => !h || a.username !== h.agent)
      .map((a) => el("option", { value: a.username }, `${a.name}${a.available ? "" : ` (${t("me.away")})`}`)));
}

export async function openConversation(id, reveal = false) {
  const switched = ctx.current !== id;
  ctx.current = id;
  document.querySelectorAll("#queue tbody tr").forEach((tr) => tr.setAttribute("aria-selected", String(tr.dataset.delivery === id)));
  $("desk").classList.add("reading");
  $("conv-empty").hidden = true;
  const error = $("conv-error");
  try {
    const c = await api("GET", `/console/api/desk/conversations/${encodeURIComponent(id)}${reveal ? "?reveal=1" : ""}`);
    ctx.conversation = c;
    const row = document.querySelector(`#queue tbody tr[data-delivery="${CSS.escape(id)}"]`);
    if (row) { row.classList.remove("unread"); row.removeAttribute("title"); } // read now
    error.hidden = true;
    $("conv-body").hidden = false;
    const d = c.delivery;
    $("conv-title").textContent = t("conv.title", { name: d.customer.name, order: d.order_id });
    const h = c.handoff;
    $("conv-state").textContent = !h ? t("conv.bot")
      : h.state === "held" ? (h.agent === ctx.me.username ? t("conv.held_by_you") : t("conv.held_by", { agent: agentName(h.agent) }))
        : t("conv.waiting", { reason: label(t, has, "reason", h.reason) });
    renderActions(h);
    renderSla(c.sla);
    const list = $("transcript");
    const atBottom = switched || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...transcript(c.transcript));
    if (atBottom) list.scrollTop = list.scrollHeight;
    renderPanel(c);
    if (switched) $("reply-text").value = "";
  } catch (e) {
    ctx.conversation = null;
    $("conv-body").hidden = true;
    $("panel-body").hidden = true;
    error.hidden = false;
    error.textContent = e.status === 404 ? t("conv.not_found") : e.message;
  }
}

export async function act(path, body, done) {
  try {
    const result = await api("POST", `/console/api/conversations/${encodeURIComponent(ctx.current)}${path}`, body);
    if (done) toast(done(result));
  } catch (e) { toast(e.message); }
  await openConversation(ctx.current);
  await hooks.changed();
}

export const claim = () => act("/claim", undefined, () => t("conv.claimed"));
export const resolve = () => act("/hand-back", {}, (r) => t(r.csat_message ? "conv.resolved_csat" : "conv.resolved"));

export function setUpConversation() {
  $("claim").onclick = claim;
  $("hand-back").onclick = resolve;
  $("transfer").onchange = (ev) => {
    const to = ev.target.value;
    if (!to) return;
    act("/transfer", { to: to === "-queue-" ? null : to }, () => t("conv.transferred"));
  };
  $("reply").onsubmit = (ev) => {
    ev.preventDefault();
    const input = $("reply-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    act("/reply", { text });
  };
  $("reply-text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.defaultPrevented) { ev.preventDefault(); $("reply").requestSubmit(); }
  });
  $("note").onsubmit = (ev) => {
    ev.preventDefault();
    const input = $("note-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    act("/notes", { text });
  };
  $("back").onclick = () => { $("desk").classList.remove("reading"); };
}
