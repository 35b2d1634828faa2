// Trail: SQL over the same views as `modeltrail query`, a result table, CSV download.
import { api, download } from "../api.js";
import { Err, html, useState } from "../ui.js";

const EXAMPLES = [
  "SELECT * FROM sessions ORDER BY last_seen DESC LIMIT 50",
  "SELECT rule_id, owasp, severity, count(*) AS hits FROM violations GROUP BY ALL ORDER BY hits DESC",
  "SELECT time, session_id, model, status_code, latency_ms FROM responses ORDER BY time DESC LIMIT 100",
  "SELECT time, session_id, command, reason, issuer FROM session_commands ORDER BY time DESC",
];

function cell(v) {
  if (v === null || v === undefined) return html`<span class="muted">null</span>`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function Trail({ me }) {
  const [sql, setSql] = useState(EXAMPLES[0]);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!me.content) {
    return html`<h1>Trail</h1><p class="muted">SQL over the trail needs a key with the content scope (it can read prompts).</p>`;
  }
  const run = async (e) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(await api("/control/trail/query", { method: "POST", body: { sql } }));
    } catch (err) {
      setError(err.message);
      setResult(null);
    } finally {
      setBusy(false);
    }
  };
  const csv = async () => {
    setError(null);
    try {
      const res = await api("/control/trail/query.csv", { method: "POST", body: { sql }, raw: true });
      const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "")?.[1] || "trail.csv";
      download(await res.blob(), name);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<h1>Trail</h1>
    <form class="sql" onSubmit=${run} aria-label="SQL query">
      <label for="sql">SQL over <code>requests</code>, <code>responses</code>, <code>stream_windows</code>,
        <code>violations</code>, <code>session_commands</code>, <code>deadletter</code>, <code>sessions</code> (one SELECT; Ctrl+Enter runs)</label>
      <textarea id="sql" name="sql" rows="5" spellcheck="false" value=${sql}
        onInput=${(e) => setSql(e.target.value)}
        onKeyDown=${(e) => e.key === "Enter" && (e.ctrlKey || e.metaKey) && run(e)}></textarea>
      <div class="actions">
        <button type="submit" disabled=${busy}>Run</button>
        <button type="button" onClick=${csv} disabled=${busy}>Download CSV</button>
        <label>Examples <select onChange=${(e) => e.target.value && setSql(e.target.value)}>
          <option value="">pick one…</option>
          ${EXAMPLES.map((x) => html`<option value=${x}>${x.slice(0, 60)}</option>`)}
        </select></label>
      </div>
    </form>
    <${Err} error=${error} />
    ${result &&
    html`<p class="muted" data-testid="row-count">${result.count} rows${result.truncated ? " (truncated)" : ""}</p>
      <div class="table-wrap">
        <table aria-label="Result" class="result">
          <thead><tr>${result.columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
          <tbody>${result.rows.map((r) => html`<tr>${r.map((v) => html`<td>${cell(v)}</td>`)}</tr>`)}</tbody>
        </table>
      </div>`}`;
}
