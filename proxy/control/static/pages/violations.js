// Violations: the live feed (SSE from audit.violations via the control plane), filterable.
import { feed } from "../feed.js";
import { Sev, fmtTime, html, sessionHref, useState } from "../ui.js";

export function Violations() {
  const [sev, setSev] = useState("");
  const [owasp, setOwasp] = useState("");
  const [text, setText] = useState("");
  const owasps = [...new Set(feed.items.map((v) => v.owasp))].sort();
  const rows = feed.items.filter(
    (v) =>
      (!sev || v.severity === sev) &&
      (!owasp || v.owasp === owasp) &&
      (!text || v.rule_id.includes(text) || v.session_id.includes(text)),
  );
  return html`<h1>Violations <span class=${"badge feed-" + feed.state} data-testid="feed-state">${feed.state}</span></h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()} aria-label="Filters">
      <label>Severity <select name="severity" value=${sev} onChange=${(e) => setSev(e.target.value)}>
        <option value="">any</option>
        ${["critical", "high", "warning", "info"].map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <label>OWASP <select name="owasp" value=${owasp} onChange=${(e) => setOwasp(e.target.value)}>
        <option value="">any</option>${owasps.map((o) => html`<option value=${o}>${o}</option>`)}
      </select></label>
      <label>Rule or session <input name="text" value=${text} onInput=${(e) => setText(e.target.value)} /></label>
    </form>
    <div class="table-wrap">
      <table aria-label="Violations" class="violations">
        <thead><tr><th scope="col">Time</th><th scope="col">Severity</th><th scope="col">Rule</th>
          <th scope="col">OWASP</th><th scope="col">Action</th><th scope="col">Session</th><th scope="col">Evidence</th></tr></thead>
        <tbody>${rows.map(
          (v) => html`<tr data-event=${v.event_id} data-session=${v.session_id}>
            <td>${fmtTime(v.time)}</td><td><${Sev} s=${v.severity} /></td>
            <td><code>${v.rule_id}</code></td><td>${v.owasp}</td>
            <td>${v.action}${v.mode === "audit" ? " (audit)" : ""}</td>
            <td><a href=${sessionHref(v.session_id)}>${v.session_id}</a></td>
            <td>${v.evidence.map((e) => html`<code class="excerpt">${e.excerpt}</code> `)}</td>
          </tr>`,
        )}</tbody>
      </table>
    </div>
    ${rows.length === 0 && html`<p class="muted">No violations ${feed.items.length ? "match" : "in the last hour"}.</p>`}`;
}
