// The agent console: log in, then the desk (queue, conversation, delivery), reports and
// brand settings, live over /console/ws. Plain modules, no build step.
import { loadAdmin } from "./admin.js";
import { $, api, session, toast } from "./api.js";
import { cannedList, setUpCanned, startCanned } from "./canned.js";
import { act, claim, onChanged, openConversation, resolve, setUpConversation } from "./conversation.js";
import { t, useLocale } from "./i18n.js";
import { announce, setUpNotifications } from "./notify.js";
import { onPanelAct, setUpPanel } from "./panel.js";
import { loadQueue, move, onArrived, onOpen, setUpQueue } from "./queue.js";
import { loadReports } from "./reports.js";
import { showHelp, setUpShortcuts } from "./shortcuts.js";
import { ctx } from "./state.js";

async function refreshMe() {
  ctx.me = await api("GET", "/console/api/desk/me");
  ctx.agents = (await api("GET", "/console/api/desk/agents")).agents;
  $("available").checked = ctx.me.available;
  $("load").textContent = t("me.load", { open: ctx.me.open, capacity: ctx.me.capacity });
  $("who").textContent = `${ctx.me.name} · ${ctx.me.brand.display_name}`;
  $("brand-name").textContent = ctx.me.brand.display_name;
}

let refreshing = null;
function refreshSoon(deliveryId) {
  clearTimeout(refreshing);
  refreshing = setTimeout(async () => {
    await refreshMe();
    // The open conversation first: opening it marks it read before the queue is drawn.
    if (ctx.current && (!deliveryId || deliveryId === ctx.current)) await openConversation(ctx.current);
    await loadQueue();
  }, 120);
}

function show(page) {
  for (const id of ["desk", "reports", "admin"]) $(id).hidden = id !== page;
  for (const [id, p] of [["show-desk", "desk"], ["show-reports", "reports"], ["show-admin", "admin"]]) {
    $(id).setAttribute("aria-current", p === page ? "page" : "false");
  }
  if (page === "reports") loadReports();
  if (page === "admin") loadAdmin(() => { refreshMe(); cannedList(true); });
}

function route() {
  const m = location.hash.match(/^#d=(.+)$/);
  if (m) { show("desk"); openConversation(decodeURIComponent(m[1])); return; }
  const page = location.hash.slice(1);
  show(["reports", "admin"].includes(page) && (page !== "admin" || ctx.me.role === "admin") ? page : "desk");
}

function live() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/console/ws`);
  ws.onmessage = (ev) => {
    const event = JSON.parse(ev.data);
    refreshSoon(event.delivery_id);
    if (event.type === "csat" && !$("reports").hidden) loadReports();
    // Unassigned past the brand's limit: everyone hears it, once (the server sends it once).
    if (event.type === "overdue") {
      const open = () => { location.hash = `d=${encodeURIComponent(event.delivery_id)}`; };
      announce(t("notify.overdue"), t("notify.overdue_body", { n: ctx.me.brand.escalation_limit_min }), open);
    }
  };
  ws.onclose = () => setTimeout(live, 2000);
}

async function setAvailable(on) {
  try { await api("PUT", "/console/api/desk/me", { available: on }); } catch (e) { toast(e.message); }
  await refreshMe();
  await loadQueue();
  toast(t(on ? "me.now_available" : "me.now_away"));
}

function wire() {
  setUpQueue();
  setUpCanned(); // before the conversation: the picker reads Enter first
  setUpConversation();
  setUpPanel();
  setUpNotifications();
  onOpen((id) => { location.hash = `d=${encodeURIComponent(id)}`; });
  onChanged(async () => { await refreshMe(); await loadQueue(); });
  onPanelAct(async (path, reveal, body) => {
    if (path) await act(path, body, () => t("panel.done"));
    else await openConversation(ctx.current, reveal);
  });
  onArrived((row, mine) => {
    const title = mine ? t("notify.assigned") : t("notify.waiting");
    announce(title, `${row.customer} · ${row.order_id}`, () => { location.hash = `d=${encodeURIComponent(row.delivery_id)}`; });
  });
  $("available").onchange = (ev) => setAvailable(ev.target.checked);
  // Saved for the agent (every device), then the page is drawn again in it.
  $("ui-locale").onchange = async (ev) => {
    await api("PUT", "/console/api/desk/me", { locale: ev.target.value || null });
    location.reload();
  };
  $("logout").onclick = async () => { await api("POST", "/console/logout"); location.href = "/console"; };
  setUpShortcuts({
    j: () => move(1), k: () => move(-1),
    r: () => $("reply-text").focus(), "/": startCanned, n: () => $("note-text").focus(),
    c: claim, e: resolve, t: () => $("transfer").focus(),
    a: () => setAvailable(!$("available").checked),
    d: () => $("panel").classList.toggle("open"), "?": () => showHelp(true),
  });
  window.onhashchange = route;
}

async function start() {
  await useLocale(null);
  const query = new URLSearchParams(location.search);
  if (query.get("error")) {
    $("login-error").hidden = false;
    if (query.get("error") === "throttled") {
      $("login-error").textContent = t("login.throttled", { seconds: Number(query.get("retry")) || 60 });
    }
  }
  let me;
  try {
    me = await api("GET", "/console/api/me");
  } catch {
    $("login-box").hidden = false;
    return;
  }
  session.csrf = me.csrf;
  await refreshMe();
  await useLocale(ctx.me.profile.locale);
  $("ui-locale").value = ctx.me.profile.locale || "";
  $("show-admin").hidden = ctx.me.role !== "admin";
  $("app").hidden = false;
  wire();
  await refreshMe(); // the load line in the chosen language
  await loadQueue();
  route();
  live();
  setInterval(() => api("POST", "/console/api/desk/heartbeat").catch(() => {}), 30000);
  setInterval(loadQueue, 15000); // waiting times and SLA clocks move between events
}

start();
