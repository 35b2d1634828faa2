// Session detail: live record + the timeline from the Parquet trail; kill and resume.
import { api } from "../api.js";
import { Err, Flag, Sev, fmtDateTime, fmtTime, html, num, usePoll } from "../ui.js";
import { KillControls } from "./kill.js";

function Evidence({ items }) {
  if (!items?.length) return null;
  return html`<ul class="evidence">${items.map(
    (e) => html`<li><span class="muted">${e.field} [${e.start}–${e.end}]</span> <code>${e.excerpt}</code></li>`,
  )}</ul>`;
}

function Text({ text }) {
  if (text === undefined) return null;
  if (!text) return html`<span class="muted">(empty)</span>`;
  return html`<pre class="text">${text}</pre>`;
}

function Body({ e, content }) {
  switch (e.kind) {
    case "request":
      return html`<div>
        <strong>${e.method} ${e.path}</strong> · ${e.model ?? "no model"}${e.stream ? " · stream" : ""}
        · ${num(e.body_bytes)} bytes${e.client_ip ? " · from " + e.client_ip : ""}
        ${content && e.messages?.length > 0 && html`<ol class="messages">${e.messages.map(
          (m) => html`<li><span class="role">${m.role}</span><${Text} text=${m.content} /></li>`,
        )}</ol>`}
      </div>`;
    case "response":
      return html`<div>
        <strong>${e.status_code}</strong> ${e.outcome} · ${num(e.latency_ms, 1)} ms
        · tokens ${num(e.input_tokens)} in / ${num(e.output_tokens)} out
        ${e.finish_reason ? " · " + e.finish_reason : ""}${e.error_type ? " · " + e.error_type + " " : ""}
        ${content && e.text != null && html`<${Text} text=${e.text} />`}
        ${content && e.tool_calls?.length > 0 && html`<ul class="tools">${e.tool_calls.map(
          (t) => html`<li><code>${t.name}(${t.arguments})</code></li>`,
        )}</ul>`}
      </div>`;
    case "stream_window":
      return html`<div>window ${e.window_index} at char ${num(e.offset_chars)}
        ${content && html`<${Text} text=${e.text} />`}</div>`;
    case "violation":
      return html`<div>
        <${Sev} s=${e.severity} /> <code>${e.rule_id}</code> · ${e.owasp} · ${e.action}
        ${e.mode === "audit" ? " (audit: would have)" : e.enforced ? " (enforced)" : ""}
        ${e.description && html`<div class="muted">${e.description}</div>`}
        <${Evidence} items=${e.evidence} />
      </div>`;
    case "command":
      return html`<div><strong>${e.command}</strong>${e.block_mode ? " · " + e.block_mode : ""}
        ${e.expires_at ? " until " + fmtDateTime(e.expires_at) : ""} · by ${e.issuer}
        ${e.reason && html`<div class="muted">${e.reason}</div>`}</div>`;
    default:
      return null;
  }
}

export function SessionDetail({ id, me }) {
  const path = `/control/sessions/${encodeURIComponent(id)}/timeline`;
  const [data, error, reload] = usePoll(() => api(path), 3000, [id]);
  if (!data) return html`<h1>Session</h1><${Err} error=${error} /><p class="loading">Loading…</p>`;
  const s = data.session;
  const seen = new Set(data.timeline.map((e) => e.event_id));
  const live = data.live_violations
    .filter((v) => !seen.has(v.event_id))
    .map((v) => ({ ...v, kind: "violation", live: true }));
  const events = [...data.timeline, ...live].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  return html`<h1>Session <code class="sid">${id}</code></h1>
    <${Err} error=${error} />
    <section class="summary" aria-label="Live state">
      ${s
        ? html`<dl>
          <div><dt>State</dt><dd data-testid="session-state">
            ${s.killed ? html`<${Flag} on label="killed" cls="killed" />` : s.flagged ? html`<${Flag} on label="flagged" cls="flagged" />` : "ok"}
          </dd></div>
          <div><dt>Requests</dt><dd>${num(s.requests)}</dd></div>
          <div><dt>Responses</dt><dd>${num(s.responses)} (${num(s.errors)} errors)</dd></div>
          <div><dt>Tokens</dt><dd>${num(s.input_tokens)} in / ${num(s.output_tokens)} out</dd></div>
          <div><dt>Backend · model</dt><dd>${s.backend ?? "–"} · ${s.model ?? "–"}</dd></div>
          <div><dt>Violations</dt><dd>${num(s.violations)} ${s.last_rule_id && html`(last <code>${s.last_rule_id}</code>)`}</dd></div>
          <div><dt>First / last seen</dt><dd>${fmtDateTime(s.first_seen)} / ${fmtDateTime(s.last_seen)}</dd></div>
          ${s.kill && html`<div><dt>Last command</dt><dd>${s.kill.command} by ${s.kill.issuer}${s.kill.reason ? ": " + s.kill.reason : ""}</dd></div>`}
        </dl>`
        : html`<p class="muted">Not in the live session store (it may have expired); the trail below still has it.</p>`}
      ${me.kill && html`<div class="actions"><${KillControls} id=${id} killed=${s?.killed} onChange=${reload} /></div>`}
    </section>
    <h2>Timeline <span class="muted">(${data.timeline.length} from the trail, ${live.length} live)</span></h2>
    ${data.trail_error && html`<p class="error">Trail: ${data.trail_error}</p>`}
    ${!data.content && html`<p class="muted">Prompt and answer text are hidden: your key lacks the content scope.</p>`}
    ${events.length === 0 && html`<p class="muted">Nothing in the trail yet: the sink writes files every few seconds.</p>`}
    <ol class="timeline" aria-label="Timeline">
      ${events.map(
        (e) => html`<li class=${"ev ev-" + e.kind} data-kind=${e.kind}>
          <span class="when" title=${e.time}>${fmtTime(e.time)}</span>
          <span class="kind">${e.kind.replace("_", " ")}${e.live ? " · live" : ""}</span>
          <div class="what"><${Body} e=${e} content=${data.content} /></div>
        </li>`,
      )}
    </ol>`;
}
