// Shared helpers for Mötesvakt's pages: boot data, messages, JSON calls.
export const boot = JSON.parse(document.getElementById('boot')?.textContent || '{}');

// t renders a shipped message; {count} is replaced for plural messages.
export function t(key, count) {
  const m = boot.messages || {};
  let s = (count === 1 && m[key + '.one']) || m[key] || key;
  if (count !== undefined) s = s.replace('{count}', String(count));
  return s;
}

// api sends JSON and returns the parsed body, throwing {status, code, message}.
export async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || res.statusText);
    err.status = res.status;
    err.code = data && data.error && data.error.code;
    err.field = data && data.error && data.error.field;
    throw err;
  }
  return data;
}

export function showError(el, msg) {
  if (!el) return;
  el.textContent = msg || '';
  el.hidden = !msg;
}
