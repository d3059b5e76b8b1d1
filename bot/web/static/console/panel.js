// The delivery beside the conversation: its facts, the route as customers and streets
// in order (this customer's stop marked, the driver's last position between stops),
// the case, and the bot's operations done for the agent.
import { $, api, el, toast } from "./api.js";
import { both, clock, relative, span } from "./format.js";
import { has, t } from "./i18n.js";
import { ctx, label } from "./state.js";

let actHook = async () => {};
export function onPanelAct(fn) { actHook = fn; }

function facts(c) {
  const d = c.delivery;
  const zones = c.zones;
  const window = d.eta_window || d.promised_window;
  const rows = [
    [t("panel.status"), label(t, has, "status", d.status)],
    [t("panel.channel"), `${label(t, has, "channel", d.channel)} · ${d.contact}`],
    [t("panel.address"), [d.address.line1, d.address.city].filter(Boolean).join(", ")],
    [d.eta_window ? t("panel.eta_window") : t("panel.promised"), both(window, zones, span)],
    [t("panel.language"), `${d.locale} · ${d.customer.timezone}`],
    [t("panel.safe_place"), d.safe_place || "—"],
    [t("panel.instructions"), d.instructions || "—"],
    [t("panel.access_code"), d.access_code || "—"],
  ];
  if (d.completed_at) rows.splice(4, 0, [t("panel.completed"), both(d.completed_at, zones)]);
  const out = rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]);
  if (c.tracking_url) out.push(el("dt", {}, t("panel.tracking")), trackingLink(c));
  return out;
}

// The customer's tracking page; revoking gives the delivery a new link.
function trackingLink(c) {
  const revoke = el("button", { type: "button" }, t("panel.revoke"));
  revoke.onclick = async () => {
    await api("POST", `/console/api/conversations/${encodeURIComponent(c.delivery.delivery_id)}/tracking/revoke`);
    await actHook(null, false);
  };
  return el("dd", { id: "tracking-link" },
    el("a", { href: c.tracking_url, target: "_blank", rel: "noopener noreferrer" }, c.tracking_url), " ", revoke);
}

function route(view, zones) {
  if (!view) return { driver: t("panel.no_route"), items: [] };
  const drv = view.driver;
  const items = [];
  const driverLine = drv.position
    ? t("panel.driver_seen", { name: drv.name, ago: drv.seen_at ? relative(drv.seen_at) : "" }) +
      (drv.minutes_to_next !== undefined ? ` ${t("panel.driver_next", { n: drv.next_stop, m: drv.minutes_to_next })}` : "")
    : t("panel.driver_not_seen", { name: drv.name });
  for (const s of view.stops) {
    if (s.n === drv.next_stop) items.push(el("li", { class: "driver", "aria-label": t("panel.driver_here") }, driverLine));
    const done = s.status !== "pending";
    const when = done ? label(t, has, "stop", s.status) : `${clock(s.eta, zones.brand)} · ${relative(s.eta)}`;
    items.push(el("li", { class: `${done ? "done" : ""}${s.this ? " this" : ""}`, "aria-current": s.this ? "true" : null },
      el("span", { class: "n" }, `${s.n}.`),
      el("span", {}, s.kind === "pickup" ? t("panel.pickup", { name: s.customer }) : s.customer),
      el("span", { class: "when" }, when),
      el("span", { class: "street" }, s.street)));
  }
  return { driver: t("panel.driver_of", { name: drv.name, left: view.stops.filter((s) => s.status === "pending").length }), items };
}

export function renderPanel(c) {
  $("panel-body").hidden = false;
  $("facts").replaceChildren(...facts(c));
  const r = route(c.route_view, c.zones);
  $("driver").textContent = r.driver;
  $("route").replaceChildren(...r.items);
  $("return-item").replaceChildren(...c.delivery.items.map((i) => el("option", { value: i.name }, i.name)));
  const box = $("case");
  $("case-title").hidden = !c.case;
  box.replaceChildren();
  if (c.case) {
    box.append(el("p", {}, `${label(t, has, "case", c.case.kind)}: ${c.case.text}`));
    [...c.case.customer_photos, ...c.case.delivery_photos].forEach((u) => box.append(el("img", { src: u, alt: t("panel.case_photo") })));
  }
  const mine = c.handoff && c.handoff.state === "held" && c.handoff.agent === ctx.me.username;
  // The bot's operations are for the agent holding the conversation (the server agrees).
  document.querySelectorAll("#windows, #return *, #safe-place *").forEach((e) => { e.disabled = !mine; });
  $("window-list").replaceChildren();
  $("return-list").replaceChildren();
}

async function offer(body, box, choose) {
  try {
    const { windows } = await api("POST", `/console/api/conversations/${encodeURIComponent(ctx.current)}/operations/windows`, body);
    const zones = ctx.conversation.zones;
    box.replaceChildren(...windows.map((w) => el("button", { onclick: () => choose(w) }, both(w, zones, span))));
    if (!windows.length) box.textContent = t("panel.no_windows");
  } catch (e) { box.textContent = e.message; }
}

export function setUpPanel() {
  $("reveal").onclick = () => actHook(null, true);
  $("windows").onclick = () => offer({}, $("window-list"), (w) => actHook("/operations/reschedule", false, { window: w }));
  $("return").onsubmit = (ev) => {
    ev.preventDefault();
    const item = $("return-item").value;
    offer({ purpose: "return", item }, $("return-list"), (w) => actHook("/operations/return_pickup", false, { item, window: w }));
  };
  $("safe-place").onsubmit = (ev) => {
    ev.preventDefault();
    const place = $("safe-place-text").value.trim();
    if (!place) { toast(t("panel.safe_place_needed")); return; }
    actHook("/operations/safe_place", false, { place });
  };
  $("show-panel").onclick = () => $("panel").classList.add("open");
  $("hide-panel").onclick = () => $("panel").classList.remove("open");
}
