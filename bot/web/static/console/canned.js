// Canned responses in the reply box: type "/" and a few letters, pick with the arrows
// and Enter (or a click); the server writes it for this customer, in their language,
// and it lands in the box to read before sending.
import { $, api, el, toast } from "./api.js";
import { t } from "./i18n.js";
import { ctx } from "./state.js";

let all = null;
let shown = [];
let active = 0;

export async function cannedList(refresh = false) {
  if (all === null || refresh) all = (await api("GET", "/console/api/canned")).canned;
  return all;
}

// The "/word" being typed at the cursor, if any.
function token(input) {
  const before = input.value.slice(0, input.selectionStart);
  const m = before.match(/(^|\s)\/([\w-]*)$/);
  return m ? { query: m[2].toLowerCase(), start: before.length - m[2].length - 1 } : null;
}

function close() { $("canned-menu").hidden = true; shown = []; }

function paint() {
  const menu = $("canned-menu");
  menu.replaceChildren(...shown.map((c, i) => el("div", {
    role: "option", "aria-selected": String(i === active), "data-shortcut": c.shortcut,
    onmousedown: (ev) => { ev.preventDefault(); choose(i); },
  }, el("code", {}, `/${c.shortcut}`), el("span", {}, c.title))));
  if (!shown.length) menu.append(el("div", { class: "hint" }, t("canned.none")));
  menu.hidden = false;
}

async function update() {
  const input = $("reply-text");
  const found = token(input);
  if (!found) { close(); return; }
  const list = await cannedList();
  // Shortcuts that start with what was typed first, then titles with a word that does.
  const q = found.query;
  const byShortcut = list.filter((c) => c.shortcut.startsWith(q));
  const byTitle = list.filter((c) => !byShortcut.includes(c) && c.title.toLowerCase().split(/\s+/).some((w) => w.startsWith(q)));
  shown = [...byShortcut, ...byTitle].slice(0, 8);
  active = 0;
  paint();
}

async function choose(i) {
  const input = $("reply-text");
  const found = token(input);
  const canned = shown[i];
  close();
  if (!canned || !found) return;
  try {
    const { text } = await api("POST", `/console/api/conversations/${encodeURIComponent(ctx.current)}/canned/${canned.shortcut}`);
    const end = input.selectionStart;
    input.value = input.value.slice(0, found.start) + text + input.value.slice(end);
    const caret = found.start + text.length;
    input.setSelectionRange(caret, caret);
    input.focus();
  } catch (e) { toast(e.message); }
}

// "/" from anywhere: into the reply box with the menu open.
export function startCanned() {
  const input = $("reply-text");
  if (input.disabled) { toast(t("canned.claim_first")); return; }
  input.focus();
  if (!token(input)) {
    const pos = input.selectionStart;
    const pad = pos > 0 && !/\s$/.test(input.value.slice(0, pos)) ? " " : "";
    input.setRangeText(`${pad}/`, pos, pos, "end");
  }
  update();
}

export function setUpCanned() {
  const input = $("reply-text");
  input.addEventListener("input", update);
  input.addEventListener("blur", () => setTimeout(close, 150));
  // Capture: the picker sees Enter before the reply form does.
  input.addEventListener("keydown", (ev) => {
    if ($("canned-menu").hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      active = (active + (ev.key === "ArrowDown" ? 1 : shown.length - 1)) % Math.max(shown.length, 1);
      paint();
    } else if ((ev.key === "Enter" || ev.key === "Tab") && shown.length) {
      ev.preventDefault();
      choose(active);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  }, true);
}
