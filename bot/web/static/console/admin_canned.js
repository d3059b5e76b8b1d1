// Canned responses for admins: the list, and an editor with a text per language,
// previewed for a sample customer and checked like a template before it is saved.
import { $, api, el } from "./api.js";
import { cannedList } from "./canned.js";
import { t } from "./i18n.js";
import { ctx } from "./state.js";

const VARIABLES = ["name", "brand", "order_id", "window|window", "window|day", "agent", "address", "eta|time", "driver", "status", "safe_place"];
let editing = null;
let timer = null;

function texts() {
  const out = {};
  document.querySelectorAll("#canned-texts textarea").forEach((a) => { if (a.value.trim()) out[a.dataset.locale] = a.value; });
  return out;
}

function form(c) {
  editing = c ? c.shortcut : null;
  $("canned-shortcut").value = c ? c.shortcut : "";
  $("canned-shortcut").disabled = Boolean(c);
  $("canned-title").value = c ? c.title : "";
  $("canned-delete").hidden = !c;
  $("canned-saved").textContent = "";
  $("canned-problems").replaceChildren();
  $("canned-texts").replaceChildren(...ctx.me.brand.locales.map((l) => el("label", {},
    el("span", {}, t("canned.text_in", { locale: l })),
    el("textarea", { rows: "3", "data-locale": l, oninput: schedule }, c?.texts[l] ?? ""))));
  document.querySelectorAll("#canned-list li").forEach((li) => li.setAttribute("aria-selected", String(li.dataset.shortcut === editing)));
  preview();
}

function schedule() { clearTimeout(timer); timer = setTimeout(preview, 300); }

async function preview() {
  const body = texts();
  const box = $("canned-preview");
  if (!Object.keys(body).length) { box.replaceChildren(); return; }
  const r = await api("POST", "/console/api/admin/canned/preview", { texts: body });
  $("canned-problems").replaceChildren(...(r.problems || []).map((p) => el("li", {}, `${p.field}: ${p.message}`)));
  box.replaceChildren(...Object.entries(r.texts || {}).map(([l, text]) => el("p", { class: "bubble", lang: l }, `${l}: ${text}`)));
}

async function list(select) {
  const all = await cannedList(true);
  $("canned-list").replaceChildren(...all.map((c) => el("li", { "data-shortcut": c.shortcut, onclick: () => form(c) },
    el("code", {}, `/${c.shortcut}`), " ", c.title)));
  form(all.find((c) => c.shortcut === select) || null);
}

export async function loadCanned() {
  $("canned-vars").textContent = t("canned.variables", { list: VARIABLES.map((v) => `{{ ${v} }}`).join(" ") });
  $("canned-new").onclick = () => form(null);
  $("canned-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const shortcut = editing || $("canned-shortcut").value.trim();
    try {
      await api("PUT", `/console/api/admin/canned/${encodeURIComponent(shortcut)}`, { title: $("canned-title").value, texts: texts() });
      await list(shortcut);
      $("canned-saved").textContent = t("canned.saved");
    } catch (e) {
      $("canned-problems").replaceChildren(...(e.fields.length ? e.fields : [{ field: "", message: e.message }]).map((p) => el("li", {}, `${p.field}: ${p.message}`)));
    }
  };
  $("canned-delete").onclick = async () => {
    if (!editing) return;
    await api("DELETE", `/console/api/admin/canned/${encodeURIComponent(editing)}`);
    await list(null);
  };
  await list(editing);
}
