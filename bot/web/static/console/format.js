// Times for people: in the brand's zone (and the customer's when it differs), in the
// agent's language: "14:05", "Tue 14:05", "in 12 min", "waited 3 min".
import { locale, t } from "./i18n.js";

const cache = new Map();
function fmt(zone, options) {
  const key = `${locale}|${zone}|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, new Intl.DateTimeFormat(locale, { timeZone: zone, ...options }));
  return cache.get(key);
}

export const when = (v) => (v instanceof Date ? v : typeof v === "number" ? new Date(v * 1000) : new Date(v));

function dayOf(date, zone) { return fmt(zone, { year: "numeric", month: "2-digit", day: "2-digit" }).format(date); }

// "14:05" today, "Tue 14:05" within a week, "Tue 8 Dec, 14:05" further.
export function clock(value, zone, now = new Date()) {
  const date = when(value);
  const time = { hour: "numeric", minute: "2-digit" };
  if (dayOf(date, zone) === dayOf(now, zone)) return fmt(zone, time).format(date);
  if (Math.abs(date - now) < 6 * 86400e3) return fmt(zone, { weekday: "short", ...time }).format(date);
  return fmt(zone, { weekday: "short", day: "numeric", month: "short", ...time }).format(date);
}

// "Tue 14:00–15:00" (one day) or both ends in full.
export function span(window, zone, now = new Date()) {
  const start = when(window.start), end = when(window.end);
  const endText = dayOf(start, zone) === dayOf(end, zone)
    ? fmt(zone, { hour: "numeric", minute: "2-digit" }).format(end) : clock(end, zone, now);
  return `${clock(start, zone, now)}–${endText}`;
}

// The same, with the customer's own clock beside it when their zone differs.
export function both(value, zones, render = clock) {
  const mine = render(value, zones.brand);
  if (!zones.customer || zones.customer === zones.brand) return mine;
  const theirs = render(value, zones.customer);
  return theirs === mine ? mine : t("time.customer_clock", { brand: mine, customer: theirs });
}

// "3 min", "1 h 5 min", "2 d 3 h".
export function duration(seconds) {
  const s = Math.max(0, Math.round(Math.abs(seconds)));
  const unit = (n, u) => new Intl.NumberFormat(locale, { style: "unit", unit: u, unitDisplay: "short" }).format(n);
  if (s < 60) return unit(s, "second");
  const m = Math.round(s / 60);
  if (m < 60) return unit(m, "minute");
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${unit(h, "hour")} ${unit(m % 60, "minute")}` : unit(h, "hour");
  return h % 24 ? `${unit(Math.floor(h / 24), "day")} ${unit(h % 24, "hour")}` : unit(Math.floor(h / 24), "day");
}

// "in 12 min" / "3 min ago".
export function relative(value, now = new Date()) {
  const seconds = (when(value) - now) / 1000;
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto", style: "short" });
  const a = Math.abs(seconds);
  if (a < 45) return rtf.format(0, "second");
  if (a < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (a < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}
