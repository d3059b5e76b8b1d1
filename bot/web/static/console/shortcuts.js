// Keyboard shortcuts, ignored while typing (Esc leaves a field); ? lists them.
import { $, el } from "./api.js";
import { t } from "./i18n.js";

const KEYS = [
  ["j", "keys.next"], ["k", "keys.prev"], ["r", "keys.reply"], ["/", "keys.canned"], ["n", "keys.note"],
  ["c", "keys.claim"], ["e", "keys.resolve"], ["t", "keys.transfer"], ["a", "keys.available"],
  ["d", "keys.delivery"], ["?", "keys.help"], ["Esc", "keys.escape"],
];

export function showHelp(open = true) {
  $("shortcut-list").replaceChildren(...KEYS.flatMap(([k, w]) => [el("dt", {}, el("kbd", {}, k)), el("dd", {}, t(w))]));
  $("shortcuts").hidden = !open;
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function setUpShortcuts(actions) {
  $("help").onclick = () => showHelp(true);
  $("shortcuts-close").onclick = () => showHelp(false);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      showHelp(false);
      $("panel").classList.remove("open");
      if (typing(ev.target)) ev.target.blur();
      return;
    }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey || $("desk").hidden) return;
    const action = actions[ev.key];
    if (action) { ev.preventDefault(); action(); }
  });
}
