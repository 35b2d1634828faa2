// Sessions: a live table (2 s), filtered, sorted and paginated by the server.
import { api } from "../api.js";
import { Err, Flag, Sev, SortTh, ago, html, num, sessionHref, usePoll, useState } from "../ui.js";
import { KillControls } from "./kill.js";

const PAGE = 25;
const COLUMNS = [
  ["session_id", "Session"],
  ["last_seen", "Last seen"],
  ["backend", "Backend"],
  ["model", "Model"],
  ["requests", "Requests"],
  ["total_tokens", "Tokens"],
  ["violations", "Violations"],
  ["killed", "State"],
];

function Tri({ name, label, value, onChange }) {
  return html`<label>${label}
    <select name=${name} value=${value} onChange=${(e) => onChange(e.target.value)}>
      <option value="">any</option><option value="true">yes</option><option value="false">no</option>
    </select></label>`;
}

export function Sessions({ me }) {
  const [f, setF] = useState({ flagged: "", killed: "", active: "", backend: "", model: "", key: "" });
  const [sort, setSort] = useState("last_seen");
  const [order, setOrder] = useState("desc");
  const [offset, setOffset] = useState(0);
  const query = () => {
    const q = new URLSearchParams({ sort, order, offset, limit: PAGE });
    for (const [k, v] of Object.entries(f)) if (v.trim()) q.set(k, v.trim());
    return api("/control/sessions?" + q);
  };
  const [data, error, reload] = usePoll(query, 2000, [JSON.stringify(f), sort, order, offset]);
  const set = (k) => (v) => {
    setOffset(0);
    setF({ ...f, [k]: v });
  };
  const onSort = (col) => {
    if (col === sort) setOrder(order === "asc" ? "desc" : "asc");
    else {
      setSort(col);
      setOrder(col === "session_id" || col === "backend" || col === "model" ? "asc" : "desc");
    }
    setOffset(0);
  };
  const total = data?.total ?? 0;
  return html`<h1>Sessions</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()} aria-label="Filters">
      <${Tri} name="flagged" label="Flagged" value=${f.flagged} onChange=${set("flagged")} />
      <${Tri} name="killed" label="Killed" value=${f.killed} onChange=${set("killed")} />
      <${Tri} name="active" label="Active" value=${f.active} onChange=${set("active")} />
      <label>Backend <input name="backend" value=${f.backend} onChange=${(e) => set("backend")(e.target.value)} /></label>
      <label>Model <input name="model" value=${f.model} onChange=${(e) => set("model")(e.target.value)} /></label>
      <label>Key <input name="key" value=${f.key} placeholder="fingerprint prefix"
        onChange=${(e) => set("key")(e.target.value)} /></label>
    </form>
    <${Err} error=${error} />
    <div class="table-wrap">
      <table class="sessions" aria-label="Sessions">
        <thead><tr>
          ${COLUMNS.map(([col, label]) => html`<${SortTh} col=${col} label=${label} sort=${sort} order=${order} onSort=${onSort} />`)}
          ${me.kill && html`<th scope="col">Action</th>`}
        </tr></thead>
        <tbody>
          ${(data?.sessions ?? []).map(
            (s) => html`<tr data-session=${s.session_id} class=${s.killed ? "killed" : s.flagged ? "flagged" : ""}>
              <td><a href=${sessionHref(s.session_id)}>${s.session_id}</a></td>
              <td title=${s.last_seen}>${ago(s.last_seen)}</td>
              <td>${s.backend ?? "–"}</td>
              <td>${s.model ?? "–"}</td>
              <td>${num(s.requests)}</td>
              <td>${num(s.total_tokens)}</td>
              <td>${s.violations ? html`${num(s.violations)} <${Sev} s=${s.last_severity} />` : "0"}</td>
              <td class="state">
                <${Flag} on=${s.killed} label="killed" cls="killed" />
                <${Flag} on=${s.flagged && !s.killed} label="flagged" cls="flagged" />
                ${!s.killed && !s.flagged && html`<span class="muted">ok</span>`}
              </td>
              ${me.kill && html`<td><${KillControls} id=${s.session_id} killed=${s.killed} onChange=${reload} /></td>`}
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${data && data.sessions.length === 0 && html`<p class="muted">No sessions match.</p>`}
    <nav class="pager" aria-label="Pages of sessions">
      <button type="button" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹ Previous</button>
      <span data-testid="page-info">${total === 0 ? 0 : offset + 1}–${Math.min(offset + PAGE, total)} of ${total}${data?.capped ? "+" : ""}</span>
      <button type="button" disabled=${offset + PAGE >= total} onClick=${() => setOffset(offset + PAGE)}>Next ›</button>
    </nav>`;
}
