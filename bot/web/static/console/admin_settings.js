// The brand's settings: a form for the common ones, every setting as JSON beside it
// (kept in step both ways), and the desk's own: SLAs, capacity, business hours, CSAT.
import { $, api, el } from "./api.js";
import { t } from "./i18n.js";

// One line per field: a new setting in the form is one more entry here.
export const SETTINGS_FIELDS = [
  { key: "display_name", type: "text" },
  { key: "sender_name", type: "text" },
  { key: "timezone", type: "text" },
  { key: "default_locale", type: "select", options: (s) => s.locales },
  { key: "escalation_limit_min", type: "number" },
  { key: "survey_enabled", type: "checkbox" },
  { key: "webhook_url", type: "text", empty: null },
  { key: "help_text", type: "textarea" },
];
const DESK_FIELDS = [
  { key: "auto_assign", type: "checkbox" },
  { key: "agent_capacity", type: "number" },
  { key: "first_response_min", type: "number" },
  { key: "resolution_min", type: "number" },
  { key: "csat_enabled", type: "checkbox" },
];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
let settings = null;

function input(field, value, prefix, onchange) {
  const id = `${prefix}-${field.key}`;
  const common = { id, name: field.key, onchange, oninput: onchange };
  let control;
  if (field.type === "checkbox") control = el("input", { ...common, type: "checkbox", checked: Boolean(value) });
  else if (field.type === "textarea") control = el("textarea", { ...common, rows: "2" }, value ?? "");
  else if (field.type === "select") control = el("select", common, ...field.options(settings).map((o) => el("option", { value: o, selected: o === value }, o)));
  else control = el("input", { ...common, type: field.type, value: value ?? "" });
  return el("label", { class: field.type === "checkbox" ? "check" : null, for: id }, control, " ", el("span", {}, t(`${prefix}.${field.key}`)));
}

function valueOf(field, prefix) {
  const e = $(`${prefix}-${field.key}`);
  if (field.type === "checkbox") return e.checked;
  if (field.type === "number") return e.value === "" ? null : Number(e.value);
  return e.value === "" && "empty" in field ? field.empty : e.value;
}

function problems(id, e) {
  $(id).replaceChildren(...(e.fields && e.fields.length ? e.fields : [{ field: "", message: e.message }])
    .map((f) => el("li", {}, f.field ? `${f.field}: ${f.message}` : f.message)));
}

function fillSettings() {
  $("settings-form").replaceChildren(...SETTINGS_FIELDS.map((f) => input(f, settings[f.key], "settings", () => {
    settings = { ...settings, [f.key]: valueOf(f, "settings") };
    $("settings-json").value = JSON.stringify(settings, null, 2);
  })));
  $("settings-json").value = JSON.stringify(settings, null, 2);
}

function shiftsText(shifts) { return (shifts || []).map((s) => `${s.start.slice(0, 5)}-${s.end.slice(0, 5)}`).join(", "); }

function fillDesk() {
  const desk = settings.desk;
  $("desk-form").replaceChildren(...DESK_FIELDS.map((f) => input(f, desk[f.key], "desk", () => {})));
  const hours = desk.business_hours;
  $("hours").replaceChildren(...DAYS.map((d) => el("tr", {}, el("th", {}, t(`day.${d}`)),
    el("td", {}, el("input", { id: `hours-${d}`, value: hours ? shiftsText(hours.weekly[d]) : "", placeholder: "09:00-17:00", "aria-label": t(`day.${d}`) })))));
  $("holidays").value = hours ? hours.holidays.join(", ") : "";
}

function readHours() {
  const weekly = {};
  for (const d of DAYS) {
    const raw = $(`hours-${d}`).value.trim();
    if (!raw) continue;
    weekly[d] = raw.split(",").map((part) => {
      const [start, end] = part.split("-").map((x) => x.trim());
      return { start, end };
    });
  }
  const holidays = $("holidays").value.split(",").map((x) => x.trim()).filter(Boolean);
  return Object.keys(weekly).length ? { weekly, holidays } : null;
}

async function save(body, problemsId, savedId) {
  $(problemsId).replaceChildren();
  $(savedId).textContent = "";
  try {
    settings = await api("PUT", "/console/api/admin/settings", body);
    fillSettings();
    fillDesk();
    $(savedId).textContent = t("settings.saved");
    return true;
  } catch (e) { problems(problemsId, e); return false; }
}

export async function loadSettings(onSaved) {
  settings = await api("GET", "/console/api/admin/settings");
  fillSettings();
  fillDesk();
  $("settings-json").oninput = () => {
    try { settings = JSON.parse($("settings-json").value); $("settings-problems").replaceChildren(); } catch (e) { return; }
    $("settings-form").querySelectorAll("input, select, textarea").forEach((c) => {
      const f = SETTINGS_FIELDS.find((x) => x.key === c.name);
      if (f.type === "checkbox") c.checked = Boolean(settings[f.key]); else c.value = settings[f.key] ?? "";
    });
  };
  $("settings-save").onclick = async () => {
    let body;
    try { body = JSON.parse($("settings-json").value); } catch (e) { problems("settings-problems", { message: t("settings.not_json", { why: e.message }) }); return; }
    if (await save(body, "settings-problems", "settings-saved")) onSaved();
  };
  $("desk-save").onclick = async () => {
    let hours;
    try { hours = readHours(); } catch (e) { problems("desk-problems", e); return; }
    const desk = { ...settings.desk, business_hours: hours };
    for (const f of DESK_FIELDS) desk[f.key] = valueOf(f, "desk");
    if (await save({ desk }, "desk-problems", "desk-saved")) onSaved();
  };
}
