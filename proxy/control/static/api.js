// The control API from the browser: the bearer key lives in this tab's sessionStorage only.
const KEY = "modeltrail.control-key";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export const key = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const k = key.get();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function failure(res) {
  let body = null;
  let message = `${res.status} ${res.statusText}`;
  try {
    body = await res.json();
    message = body?.error?.message || body?.detail || message;
    if (body?.error?.problems) message += ": " + body.error.problems.join("; ");
  } catch (_) {
    /* not JSON */
  }
  if (res.status === 401) onUnauthorized(message);
  return new ApiError(res.status, message, body);
}

/** GET or POST JSON; state-changing calls always send a JSON body. */
export async function api(path, { method = "GET", body, signal, raw = false } = {}) {
  const init = { method, headers: headers(), signal, credentials: "omit", cache: "no-store" };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  return raw ? res : res.json();
}

/** POST a text body (policy YAML); the answer is JSON. */
export async function postText(path, text, type = "application/yaml") {
  const res = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": type }),
    body: text,
    credentials: "omit",
  });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Follow a Server-Sent Events endpoint with the bearer header (EventSource cannot
 * send one). Reconnects after `retry` ms until `signal` aborts.
 */
export async function follow(path, onEvent, { signal, onState = () => {} } = {}) {
  let retry = 2000;
  while (!signal?.aborted) {
    try {
      const res = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
      if (!res.ok) throw await failure(res);
      onState("live");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let event = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
            else if (line.startsWith("retry:")) retry = Number(line.slice(6)) || retry;
          }
          if (data.length) onEvent(event, JSON.parse(data.join("\n")));
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof ApiError && err.status === 401) return;
    }
    onState("reconnecting");
    await new Promise((r) => setTimeout(r, retry));
  }
}

/** Download `blob` as `name` (no navigation, no popup). */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
