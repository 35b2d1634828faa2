// The modeltrail dashboard: login, navigation, and one page per hash route.
import { api, key, setUnauthorizedHandler } from "./api.js";
import { feed } from "./feed.js";
import { html, render, useEffect, useState } from "./ui.js";
import { Overview } from "./pages/overview.js";
import { Sessions } from "./pages/sessions.js";
import { SessionDetail } from "./pages/session.js";
import { Violations } from "./pages/violations.js";
import { Policy } from "./pages/policy.js";
import { Trail } from "./pages/trail.js";

const PAGES = [
  ["overview", "Overview"],
  ["sessions", "Sessions"],
  ["violations", "Violations"],
  ["policy", "Policy"],
  ["trail", "Trail"],
];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  return { page: parts[0] || "overview", arg: parts.slice(1).map(decodeURIComponent).join("/") };
}

function Login({ onLogin, message }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState(message || null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    key.set(value.trim());
    try {
      onLogin(await api("/control/whoami"));
    } catch (err) {
      key.clear();
      setError(err.status === 401 ? "That key is not valid." : err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form onSubmit=${submit} aria-labelledby="login-title">
      <h1 id="login-title">modeltrail</h1>
      <p>Sign in with a control API key. It is kept in this tab only.</p>
      <label for="key">Control key</label>
      <input id="key" name="key" type="password" autocomplete="off" required
        value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button type="submit" disabled=${busy}>Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
    </form>
  </main>`;
}

function Shell({ me, onLogout }) {
  const [where, setWhere] = useState(route());
  const [, setFeedTick] = useState(0);
  useEffect(() => {
    const on = () => setWhere(route());
    window.addEventListener("hashchange", on);
    on(); // a hash set between the first render and this effect has no event left to fire
    feed.start();
    const off = feed.subscribe(() => setFeedTick((t) => t + 1));
    return () => {
      window.removeEventListener("hashchange", on);
      off();
    };
  }, []);
  const { page, arg } = where;
  let body;
  if (page === "session" && arg) body = html`<${SessionDetail} id=${arg} me=${me} />`;
  else if (page === "sessions") body = html`<${Sessions} me=${me} />`;
  else if (page === "violations") body = html`<${Violations} />`;
  else if (page === "policy") body = html`<${Policy} me=${me} />`;
  else if (page === "trail") body = html`<${Trail} me=${me} />`;
  else body = html`<${Overview} />`;
  const current = page === "session" ? "sessions" : page;
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header>
      <span class="brand">modeltrail</span>
      <nav aria-label="Pages">
        ${PAGES.map(
          ([id, label]) =>
            html`<a href=${"#/" + id} aria-current=${current === id ? "page" : undefined}>${label}</a>`,
        )}
      </nav>
      <span class="who">
        <span class=${"dot " + feed.state} title=${"live feed: " + feed.state}></span>
        <span data-testid="whoami">${me.id} · ${me.scopes.join(", ")}</span>
        <button type="button" class="link" onClick=${onLogout}>Sign out</button>
      </span>
    </header>
    <main id="main" tabindex="-1">${body}</main>
  </div>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [checked, setChecked] = useState(false);
  const [message, setMessage] = useState(null);
  const logout = (why) => {
    feed.stop();
    key.clear();
    setMe(null);
    setMessage(typeof why === "string" ? why : null);
  };
  useEffect(() => {
    const done = () => {
      setUnauthorizedHandler((why) => logout(`Signed out: ${why}`));
      setChecked(true);
    };
    // A key stored in this tab signs in straight away (a reload keeps the session).
    if (!key.get()) return done();
    api("/control/whoami")
      .then(setMe)
      .catch(() => key.clear())
      .finally(done);
  }, []);
  if (!checked) return html`<p class="loading">Loading…</p>`;
  if (!me) return html`<${Login} onLogin=${setMe} message=${message} />`;
  return html`<${Shell} me=${me} onLogout=${() => logout()} />`;
}

render(html`<${App} />`, document.getElementById("app"));
