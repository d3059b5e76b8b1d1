// What every module of the console shares: who is logged in, their brand, what is open.
export const ctx = {
  me: null,        // /console/api/desk/me: the agent, their availability and brand
  current: null,   // the delivery id of the open conversation
  conversation: null,
  agents: [],      // the brand's agents (transfer targets)
};

export function brandZone() { return ctx.me ? ctx.me.brand.timezone : "UTC"; }

// Words for what a person sees, by a code the server sends (reasons, intents...).
export function label(t, has, group, code) {
  const key = `${group}.${code}`;
  return has(key) ? t(key) : String(code || "").replaceAll("_", " ");
}
