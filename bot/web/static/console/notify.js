// A new conversation rings: a short chime, and a browser notification when the agent
// allowed them (asked from a button: browsers ignore a request nobody clicked for).
import { $ } from "./api.js";
import { t } from "./i18n.js";

let audio = null;

export function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    [880, 1320].forEach((f, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, now + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.12 + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.12);
      osc.stop(now + i * 0.12 + 0.3);
    });
  } catch { /* no audio device: the title and the list still show it */ }
}

// What was announced, newest last: `window.doorstep.rung` in the browser's console
// shows why a chime sounded (and lets the browser tests see it without a speaker).
export const rung = [];
window.doorstep = { rung };

export function announce(title, body, onClick) {
  rung.push({ title, body });
  chime();
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const n = new Notification(title, { body, tag: `doorstep-${body}` });
  n.onclick = () => { window.focus(); onClick(); n.close(); };
}

export function setUpNotifications() {
  const button = $("notify-on");
  if (!("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.onclick = async () => {
    await Notification.requestPermission();
    button.hidden = true;
    if (audio === null) chime(); // a click also unlocks the sound
  };
  button.title = t("me.notifications_hint");
}
