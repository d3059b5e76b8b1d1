// Brand settings (admins): messages, canned responses, the desk's SLAs and hours, settings.
import { $ } from "./api.js";
import { loadCanned } from "./admin_canned.js";
import { loadSettings } from "./admin_settings.js";
import { loadTemplates } from "./admin_templates.js";

const LOADERS = { messages: loadTemplates, canned: loadCanned, "desk-settings": () => {}, settings: () => {} };
let loaded = false;

export async function showSection(name) {
  document.querySelectorAll("#admin-tabs [data-section]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.section === name)));
  document.querySelectorAll("#admin .admin-section").forEach((s) => { s.hidden = s.id !== name; });
  await LOADERS[name]();
}

export async function loadAdmin(onSaved) {
  if (!loaded) {
    loaded = true;
    document.querySelectorAll("#admin-tabs [data-section]").forEach((b) => { b.onclick = () => showSection(b.dataset.section); });
    await loadSettings(onSaved);
  }
  await showSection($("messages").hidden ? document.querySelector("#admin .admin-section:not([hidden])").id : "messages");
}
