// The brand's message templates: edit, preview with SMS cost, save, versions, reset.
import { $, api, el } from "./api.js";
import { t } from "./i18n.js";

let previewTimer = null;
let info = null;

function slot() {
  return { type: $("tpl-type").value, channel: $("tpl-channel").value, locale: $("tpl-locale").value };
}

function options(select, values, labelOf = (v) => v) {
  select.replaceChildren(...values.map((v) => el("option", { value: v }, labelOf(v))));
}

async function loadTemplate() {
  const s = slot();
  const tpl = await api("GET", `/console/api/admin/templates/${s.type}?channel=${encodeURIComponent(s.channel)}&locale=${s.locale}`);
  $("tpl-source").value = tpl.source ?? tpl.default_source ?? "";
  $("tpl-saved").textContent = tpl.source ? "" : t("admin.default");
  $("tpl-versions").replaceChildren(...tpl.versions.slice().reverse().map((v) => el("li", {},
    t("admin.version", { n: v.version, by: v.by, at: v.at.slice(0, 16).replace("T", " ") }), " ",
    el("button", {
      onclick: async () => {
        await api("POST", `/console/api/admin/templates/${s.type}/rollback`, { ...s, version: v.version });
        await loadTemplate();
      },
    }, t("admin.make_live")))));
  await preview();
}

async function preview() {
  const r = await api("POST", "/console/api/admin/templates/preview", { ...slot(), source: $("tpl-source").value });
  $("tpl-problems").replaceChildren(...(r.problems || []).map((p) => el("li", {}, p.message)));
  if (!r.ok) return;
  $("tpl-text").textContent = r.sms.text;
  $("tpl-whatsapp").textContent = r.whatsapp.text;
  $("tpl-telegram").textContent = r.telegram.text;
  const sms = r.sms;
  $("tpl-sms").textContent = t(sms.segments === 1 ? "admin.sms_one" : "admin.sms_many", {
    encoding: sms.encoding, characters: sms.characters, segments: sms.segments, cost: sms.cost_per_1000.toFixed(2),
  });
}

export async function loadTemplates() {
  if (info) return;
  info = await api("GET", "/console/api/admin/templates");
  options($("tpl-type"), Object.keys(info.types));
  $("tpl-type").value = "delivery_scheduled";
  options($("tpl-channel"), info.channels, (v) => (v === "*" ? t("admin.every_channel") : v));
  options($("tpl-locale"), info.locales);
  const showVars = () => { $("tpl-vars").textContent = t("admin.variables", { list: info.types[slot().type].join(", ") }); };
  ["tpl-type", "tpl-channel", "tpl-locale"].forEach((id) => { $(id).onchange = () => { showVars(); loadTemplate(); }; });
  showVars();
  $("tpl-source").oninput = () => { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); };
  $("tpl-save").onclick = async () => {
    const s = slot();
    try {
      const r = await api("PUT", `/console/api/admin/templates/${s.type}`, { ...s, source: $("tpl-source").value });
      await loadTemplate();
      $("tpl-saved").textContent = t("admin.saved_version", { n: r.version });
    } catch (e) { $("tpl-saved").textContent = t("admin.not_saved", { why: e.message }); await preview(); }
  };
  $("tpl-reset").onclick = async () => {
    const s = slot();
    await api("DELETE", `/console/api/admin/templates/${s.type}?channel=${encodeURIComponent(s.channel)}&locale=${s.locale}`);
    await loadTemplate();
  };
  await loadTemplate();
}
