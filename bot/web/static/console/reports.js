// Reports: CSAT per agent and per reason, the latest answers, SLA outcomes, the team.
import { $, api, el, toast } from "./api.js";
import { clock } from "./format.js";
import { has, t } from "./i18n.js";
import { ctx, label } from "./state.js";

function bars(distribution) {
  const top = Math.max(1, ...distribution);
  return el("span", { class: "bars", title: distribution.map((n, i) => `${i + 1}: ${n}`).join(", ") },
    ...distribution.map((n) => el("span", { style: `height:${Math.max(8, (100 * n) / top)}%` })));
}

function table(id, head, rows) {
  $(id).replaceChildren(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, t(h))))),
    el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: head.length }, t("reports.none")))])));
}

function card(title, value, hint) {
  return el("div", { class: "card" }, el("span", { class: "muted" }, t(title)), el("b", {}, value), hint ? el("span", { class: "hint" }, hint) : null);
}

export async function loadReports() {
  const [{ csat, sla }, { agents }] = await Promise.all([api("GET", "/console/api/desk/reports"), api("GET", "/console/api/desk/agents")]);
  const n = csat.agents.reduce((s, a) => s + a.responses, 0);
  const avg = n ? csat.agents.reduce((s, a) => s + a.average * a.responses, 0) / n : null;
  const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
  $("report-cards").replaceChildren(
    card("reports.csat_average", avg === null ? "—" : avg.toFixed(1), t("reports.answers", { n })),
    card("reports.first_response_met", pct(sla.first_response_met), t("reports.resolved", { n: sla.resolved })),
    card("reports.resolution_met", pct(sla.resolution_met)));
  const slaOf = Object.fromEntries(sla.agents.map((a) => [a.agent, a]));
  table("csat-agents", ["reports.agent", "reports.responses", "reports.average", "reports.satisfied", "reports.scores", "reports.first_response_met", "reports.resolution_met"],
    csat.agents.map((a) => el("tr", {}, el("td", {}, a.name), el("td", {}, String(a.responses)), el("td", {}, a.average.toFixed(2)),
      el("td", {}, `${a.satisfied}%`), el("td", {}, bars(a.distribution)),
      el("td", {}, pct(slaOf[a.agent]?.first_response_met)), el("td", {}, pct(slaOf[a.agent]?.resolution_met)))));
  table("csat-reasons", ["reports.reason", "reports.responses", "reports.average", "reports.satisfied", "reports.scores"],
    csat.reasons.map((r) => el("tr", {}, el("td", {}, label(t, has, "reason", r.reason)), el("td", {}, String(r.responses)),
      el("td", {}, r.average.toFixed(2)), el("td", {}, `${r.satisfied}%`), el("td", {}, bars(r.distribution)))));
  table("csat-recent", ["reports.when", "reports.agent", "reports.reason", "reports.score"],
    csat.recent.map((r) => el("tr", {}, el("td", {}, clock(r.at, ctx.me.brand.timezone)), el("td", {}, r.agent_name),
      el("td", {}, label(t, has, "reason", r.reason)), el("td", {}, "★".repeat(r.score) + "☆".repeat(5 - r.score)))));
  table("roster", ["reports.agent", "reports.status", "reports.open", ""],
    agents.map((a) => el("tr", {}, el("td", {}, a.name),
      el("td", {}, a.available ? (a.online ? t("me.available") : t("reports.available_offline")) : t("reports.away")),
      el("td", {}, `${a.open} / ${a.capacity}`),
      el("td", {}, a.open && (ctx.me.role === "admin" || a.username === ctx.me.username)
        ? el("button", { onclick: () => release(a.username) }, t("reports.release")) : ""))));
}

async function release(username) {
  try {
    const { moved } = await api("POST", `/console/api/desk/agents/${encodeURIComponent(username)}/transfer`, { to: null });
    toast(t("reports.released", { n: moved }));
  } catch (e) { toast(e.message); }
  await loadReports();
}
