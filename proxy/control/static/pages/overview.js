// Overview: traffic, added latency, sessions, violations per minute, health. Live (2 s).
import { api } from "../api.js";
import { feed } from "../feed.js";
import { Chart, Err, Sev, fmtTime, html, num, sessionHref, usePoll, useMemo } from "../ui.js";

const SEVERITIES = [
  ["critical", "#b3261e"],
  ["high", "#e8710a"],
  ["warning", "#c9a400"],
  ["info", "#5f6b7a"],
];

function Tile({ label, value, note, id }) {
  return html`<div class="tile" data-testid=${id}>
    <span class="tile-label">${label}</span>
    <span class="tile-value">${value}</span>
    ${note && html`<span class="tile-note">${note}</span>`}
  </div>`;
}

function Health({ name, ok, detail }) {
  const state = ok === null || ok === undefined ? "unknown" : ok ? "ok" : "down";
  return html`<li class=${"health " + state} data-testid=${"health-" + name}>
    <span class="dot ${state}"></span><strong>${name}</strong> ${state}
    ${detail && html`<span class="muted"> · ${detail}</span>`}
  </li>`;
}

export function Overview() {
  const [data, error] = usePoll(() => api("/control/overview"), 2000);
  const series = data?.series ?? [];
  const traffic = useMemo(
    () => [series.map((p) => p.t), series.map((p) => p.rps)],
    [data],
  );
  const latency = useMemo(
    () => [series.map((p) => p.t), series.map((p) => p.p50_ms), series.map((p) => p.p99_ms)],
    [data],
  );
  const minutes = data?.violations.per_minute ?? [];
  const perMinute = useMemo(
    () => [
      minutes.map((m) => m.minute),
      ...SEVERITIES.map(([s]) => minutes.map((m) => m.severity[s] ?? 0)),
    ],
    [data],
  );
  const owasp = useMemo(() => {
    const out = {};
    for (const m of minutes) for (const [k, n] of Object.entries(m.owasp)) out[k] = (out[k] ?? 0) + n;
    return Object.entries(out).sort();
  }, [data]);
  if (!data) return html`<h1>Overview</h1><${Err} error=${error} /><p class="loading">Loading…</p>`;
  const last = series[series.length - 1];
  const s = data.sessions;
  const h = data.health;
  const broker = h.broker;
  return html`<h1>Overview</h1>
    <${Err} error=${error} />
    <section class="tiles" aria-label="Now">
      <${Tile} id="tile-rps" label="Requests/s" value=${num(last?.rps, 1)} note=${num(data.totals.requests) + " total"} />
      <${Tile} id="tile-active" label="Active sessions" value=${num(s.active)} note=${num(s.total) + " known"} />
      <${Tile} id="tile-flagged" label="Flagged" value=${num(s.flagged)} note="sessions with a violation (idle window)" />
      <${Tile} id="tile-killed" label="Killed" value=${num(s.killed)} />
      <${Tile} id="tile-latency" label="Added latency p50 / p99"
        value=${`${num(data.totals.p50_ms, 3)} / ${num(data.totals.p99_ms, 3)} ms`} note="since start" />
      <${Tile} id="tile-spend" label="Spend today"
        value=${data.spend_today.available ? "$" + num(data.spend_today.usd, 2) : "n/a"}
        note=${data.spend_today.note} />
    </section>
    <section class="charts" aria-label="Charts">
      <${Chart} title="Requests/s" data=${traffic} series=${[{ label: "req/s", color: "#1a73e8" }]} />
      <${Chart} title="Added latency (ms)" data=${latency}
        series=${[{ label: "p50", color: "#188038" }, { label: "p99", color: "#b3261e" }]} />
      <${Chart} title="Violations per minute by severity" data=${perMinute} bars=${true}
        series=${SEVERITIES.map(([label, color]) => ({ label, color }))} />
    </section>
    <div class="columns">
      <section aria-labelledby="owasp-title">
        <h2 id="owasp-title">Violations by OWASP category (30 min)</h2>
        ${owasp.length === 0
          ? html`<p class="muted">None.</p>`
          : html`<table class="compact"><thead><tr><th scope="col">Category</th><th scope="col">Count</th></tr></thead>
            <tbody>${owasp.map(([k, n]) => html`<tr><td>${k}</td><td>${n}</td></tr>`)}</tbody></table>`}
      </section>
      <section aria-labelledby="health-title">
        <h2 id="health-title">Health</h2>
        <ul class="healths">
          <${Health} name="broker" ok=${broker ? broker.broker_up : null}
            detail=${broker ? `mode ${broker.mode}, queue ${broker.queue_depth}, sent ${broker.sent}` : "no emitter"} />
          <${Health} name="spool" ok=${broker ? !broker.spilling : null}
            detail=${broker ? `${num(broker.spool_bytes)} bytes pending` : ""} />
          <${Health} name="sink" ok=${h.sink?.ok} detail=${"group " + (h.sink?.group ?? "?")} />
          <${Health} name="streams" ok=${h.streams?.ok} detail=${"group " + (h.streams?.group ?? "?")} />
          <${Health} name="session store" ok=${h.store.ok} detail=${h.store.kind} />
          <${Health} name="violation feed" ok=${h.feed.ok} detail=${h.feed.error ?? `${data.violations.received} received`} />
        </ul>
      </section>
      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Latest violations</h2>
        <ul class="recent">
          ${feed.items.slice(0, 6).map(
            (v) => html`<li><${Sev} s=${v.severity} />${" "}<code>${v.rule_id}</code>${" "}
              <a href=${sessionHref(v.session_id)}>${v.session_id}</a>${" "}
              <span class="muted">${fmtTime(v.time)}</span></li>`,
          )}
          ${feed.items.length === 0 && html`<li class="muted">None yet.</li>`}
        </ul>
      </section>
    </div>`;
}
