// The console's words in English, Spanish and French: one JSON dictionary per locale,
// chosen from the agent's own setting, else the browser's language.
const SUPPORTED = ["en", "es", "fr"];
let words = {};
let fallback = {};
export let locale = "en";

async function load(lang) {
  const r = await fetch(`/sandbox/static/console/i18n/${lang}.json`);
  return r.ok ? r.json() : {};
}

export function pick(preferred) {
  const wanted = [preferred, ...(navigator.languages || [navigator.language])].filter(Boolean);
  for (const w of wanted) {
    const lang = w.toLowerCase().split("-")[0];
    if (SUPPORTED.includes(lang)) return lang;
  }
  return "en";
}

export async function useLocale(preferred) {
  locale = pick(preferred);
  if (!Object.keys(fallback).length) fallback = await load("en");
  words = locale === "en" ? fallback : await load(locale);
  document.documentElement.lang = locale;
  translatePage();
}

// t("queue.waited", {d: "3 min"}); a missing word falls back to English, then the key.
export function t(key, vars = {}) {
  const text = words[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function has(key) { return key in words || key in fallback; }

export function translatePage(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
}
