// The queue: my conversations, waiting ones and everyone's, searched and paged, with
// each one's SLA clock and an unread marker; j/k move through it.
import { $, api, el } from "./api.js";
import { duration } from "./format.js";
import { has, t } from "./i18n.js";
import { ctx, label } from "./state.js";

const view = { search: "", state: sessionStorage.getItem("queue-tab") ?? "", offset: 0, limit: 25 };
let rows = [];
let seen = null; // delivery ids already known (waiting, or mine), to notice new ones
const listeners = { open: () => {}, arrived: () => {} };

export function onOpen(fn) { listeners.open = fn; }
export function onArrived(fn) { listeners.arrived = fn; }

// The target an agent is working against now: the first response until it is given.
export function slaBadge(sla) {
  if (!sla) return null;
  const target = sla.first_response.met_at ? sla.resolution : sla.first_response;
  const name = t(`sla.${target.target}_short`);
  if (target.met_at && !target.breached) return el("span", { class: "badge" }, t("sla.met", { name }));
  if (target.breached) {
    return el("span", { class: "badge late" }, t("sla.late", { name, d: duration(target.remaining_s) }));
  }
  if (sla.paused) return el("span", { class: "badge paused", title: t("sla.paused_hint") }, t("sla.paused", { name }));
  const desk = ctx.me.brand.desk;
  const total = 60 * (target.target === "first_response" ? desk.first_response_min : desk.resolution_min);
  const soon = target.remaining_s <= total / 4;
  return el("span", { class: `badge${soon ? " soon" : ""}` }, t("sla.left", { name, d: duration(target.remaining_s) }));
}

function who(row) {
  if (row.state !== "held") return t("queue.waited", { d: duration(row.waiting_s) });
  if (row.agent === ctx.me.username) return t("queue.yours");
  const agent = ctx.agents.find((a) => a.username === row.agent);
  return t("queue.held_by", { agent: agent ? agent.name : row.agent });
}

function rowOf(row) {
  const tr = el("tr", {
    "data-delivery": row.delivery_id,
    class: `${row.state}${row.unread ? " unread" : ""}`,
    "aria-selected": String(row.delivery_id === ctx.current),
    title: row.unread ? t("queue.unread") : null,
  });
  tr.append(el("td", {},
    el("div", { class: "row-top" }, el("span", { class: "name" }, row.customer || row.delivery_id), slaBadge(row.sla)),
    el("div", { class: "row-bottom" },
      el("span", { class: "reason" }, `${label(t, has, "reason", row.reason)} · ${row.order_id}`),
      el("span", {}, who(row)))));
  tr.onclick = () => listeners.open(row.delivery_id);
  return tr;
}

export async function loadQueue() {
  const q = new URLSearchParams({ offset: view.offset, limit: view.limit });
  if (view.search) q.set("search", view.search);
  if (view.state) q.set("state", view.state);
  const { queue, total } = await api("GET", `/console/api/queue?${q}`);
  if (!queue.length && total && view.offset) { // the page emptied under us: back one
    view.offset = Math.max(0, view.offset - view.limit);
    return loadQueue();
  }
  rows = queue;
  $("queue").tBodies[0].replaceChildren(...queue.map(rowOf));
  $("queue-count").textContent = total
    ? t("queue.count", { first: view.offset + 1, last: view.offset + queue.length, total })
    : t(view.search ? "queue.no_match" : view.state === "mine" ? "queue.none_mine" : "queue.nobody");
  $("queue-prev").disabled = view.offset === 0;
  $("queue-next").disabled = view.offset + queue.length >= total;
  document.querySelectorAll("#queue-box [data-state]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.state === view.state)));
  await noticeArrivals();
}

// New waiting conversations, and ones just given to me, ring the bell (not on first load).
async function noticeArrivals() {
  const [waiting, mine] = await Promise.all([
    api("GET", "/console/api/queue?state=waiting&limit=200"), api("GET", "/console/api/queue?state=mine&limit=200")]);
  const now = [...waiting.queue.map((r) => [`w:${r.delivery_id}`, r]), ...mine.queue.map((r) => [`m:${r.delivery_id}`, r])];
  const fresh = seen ? now.filter(([k]) => !seen.has(k)) : [];
  seen = new Set(now.map(([k]) => k));
  for (const [k, row] of fresh) listeners.arrived(row, k.startsWith("m:"));
  const unread = mine.queue.filter((r) => r.unread).length + waiting.queue.length;
  document.title = unread ? `(${unread}) ${t("app.title")}` : t("app.title");
}

export function move(delta) {
  if (!rows.length) return;
  const at = rows.findIndex((r) => r.delivery_id === ctx.current);
  const next = at < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + delta));
  listeners.open(rows[next].delivery_id);
}

export function setUpQueue() {
  let typing = null;
  $("queue-search").oninput = (ev) => {
    clearTimeout(typing);
    typing = setTimeout(() => { view.search = ev.target.value.trim(); view.offset = 0; loadQueue(); }, 250);
  };
  document.querySelectorAll("#queue-box [data-state]").forEach((b) => {
    b.onclick = () => { view.state = b.dataset.state; sessionStorage.setItem("queue-tab", view.state); view.offset = 0; loadQueue(); };
  });
  $("queue-prev").onclick = () => { view.offset = Math.max(0, view.offset - view.limit); loadQueue(); };
  $("queue-next").onclick = () => { view.offset += view.limit; loadQueue(); };
}
