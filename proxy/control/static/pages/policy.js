// Policy: the live rule set with hit counts, mode, validate a YAML document, reload (admin).
import { api, postText } from "../api.js";
import { Err, Sev, html, num, usePoll, useState } from "../ui.js";

const SAMPLE = `# A custom rule layered on the preset (validated, not installed):
rules:
  - id: CUSTOM-001
    description: internal project code name
    owasp: LLM02
    severity: high
    action: block
    target: request
    keywords: [project bluebird]
`;

export function Policy({ me }) {
  const [policy, error, reload] = usePoll(() => api("/control/policy"), 10000);
  const [hits] = usePoll(() => api("/control/violations/hits"), 5000);
  const [doc, setDoc] = useState(SAMPLE);
  const [result, setResult] = useState(null);
  const [filter, setFilter] = useState("");
  const validate = async () => {
    try {
      const r = await postText("/control/policy/validate", doc);
      setResult({ ok: true, text: `valid: ${r.rule_count} rules, mode ${r.mode}, version ${r.version}` });
    } catch (err) {
      setResult({ ok: false, text: err.message });
    }
  };
  const doReload = async () => {
    try {
      const r = await api("/control/policy/reload", { method: "POST", body: {} });
      setResult({ ok: true, text: `reloaded: ${r.rule_count} rules, mode ${r.mode}, ${r.changed ? "changed" : "unchanged"} (version ${r.version})` });
      reload();
    } catch (err) {
      setResult({ ok: false, text: err.message });
    }
  };
  if (!policy) return html`<h1>Policy</h1><${Err} error=${error} /><p class="loading">Loading…</p>`;
  const counts = hits?.hits ?? {};
  const rules = policy.rules.filter(
    (r) => !filter || r.id.includes(filter) || r.owasp.includes(filter) || r.kind.includes(filter),
  );
  return html`<h1>Policy</h1>
    <${Err} error=${error} />
    <section class="tiles" aria-label="Policy state">
      <div class="tile" data-testid="policy-mode"><span class="tile-label">Mode</span>
        <span class=${"tile-value mode-" + policy.mode}>${policy.mode}</span>
        <span class="tile-note">${policy.mode === "audit" ? "records would-have actions, never blocks" : "blocks and kills"}</span></div>
      <div class="tile"><span class="tile-label">Rules</span><span class="tile-value">${policy.rule_count}</span>
        <span class="tile-note">preset ${policy.preset}${policy.files.length ? " + " + policy.files.join(", ") : ""}</span></div>
      <div class="tile"><span class="tile-label">Inline checks</span><span class="tile-value">${policy.inline ? "on" : "off"}</span>
        <span class="tile-note">${num(policy.stats.checked)} checked · ${num(policy.stats.blocked)} blocked</span></div>
      <div class="tile"><span class="tile-label">Version</span><span class="tile-value small">${policy.version}</span>
        <span class="tile-note">${num(policy.stats.reloads)} reloads</span></div>
    </section>
    ${me.admin &&
    html`<section class="policy-edit" aria-labelledby="validate-title">
      <h2 id="validate-title">Validate or reload</h2>
      <label for="policy-doc">Policy YAML (validated on top of the preset, not installed)</label>
      <textarea id="policy-doc" rows="8" spellcheck="false" value=${doc} onInput=${(e) => setDoc(e.target.value)}></textarea>
      <div class="actions">
        <button type="button" onClick=${validate}>Validate</button>
        <button type="button" class="danger" onClick=${doReload}>Reload policy files</button>
      </div>
      ${result && html`<p class=${result.ok ? "ok" : "error"} role="status" data-testid="policy-result">${result.text}</p>`}
    </section>`}
    <h2>Rules <span class="muted">(hits: violations seen by the feed in the last ${num((hits?.lookback_s ?? 0) / 60)} min)</span></h2>
    <label>Filter <input name="filter" value=${filter} onInput=${(e) => setFilter(e.target.value)} placeholder="id, LLM01, kind" /></label>
    <div class="table-wrap">
      <table aria-label="Rules" class="rules">
        <thead><tr><th scope="col">Rule</th><th scope="col">OWASP</th><th scope="col">Severity</th>
          <th scope="col">Action</th><th scope="col">Kind</th><th scope="col">Targets</th><th scope="col">Hits</th></tr></thead>
        <tbody>${rules.map(
          (r) => html`<tr data-rule=${r.id}><td><code>${r.id}</code><div class="muted">${r.description}</div></td>
            <td>${r.owasp}</td><td><${Sev} s=${r.severity} /></td><td>${r.action}</td><td>${r.kind}</td>
            <td>${r.targets.join(", ")}</td><td class="hits">${num(counts[r.id] ?? 0)}</td></tr>`,
        )}</tbody>
      </table>
    </div>`;
}
