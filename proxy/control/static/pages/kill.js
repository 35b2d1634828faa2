// Kill (reason, block mode, duration) and resume, for keys with the `kill` scope.
import { api } from "../api.js";
import { Err, html, useEffect, useRef, useState } from "../ui.js";

export function KillForm({ id, onDone, onCancel }) {
  const [reason, setReason] = useState("");
  const [mode, setMode] = useState("duration");
  const [duration, setDuration] = useState(3600);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const first = useRef(null);
  useEffect(() => first.current?.focus(), []);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    const body = { reason, mode };
    if (mode === "duration") body.duration_s = Number(duration);
    try {
      await api(`/control/sessions/${encodeURIComponent(id)}/kill`, { method: "POST", body });
      onDone("killed");
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="kill-form" onSubmit=${submit} aria-label=${"Kill session " + id}
      onKeyDown=${(e) => e.key === "Escape" && onCancel()}>
    <label>Reason <input ref=${first} name="reason" value=${reason} maxlength="1000"
      onInput=${(e) => setReason(e.target.value)} placeholder="why (shown to the client)" /></label>
    <label>Block
      <select name="mode" value=${mode} onChange=${(e) => setMode(e.target.value)}>
        <option value="duration">for a duration</option>
        <option value="permanent">permanently</option>
      </select></label>
    ${mode === "duration" &&
    html`<label>Seconds <input name="duration" type="number" min="1" value=${duration}
      onInput=${(e) => setDuration(e.target.value)} /></label>`}
    <button type="submit" class="danger" disabled=${busy}>Confirm kill</button>
    <button type="button" onClick=${onCancel}>Cancel</button>
    <${Err} error=${error} />
  </form>`;
}

export function KillControls({ id, killed, onChange }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState(null);
  const resume = async () => {
    try {
      await api(`/control/sessions/${encodeURIComponent(id)}/resume`, {
        method: "POST",
        body: { reason: "resumed from the dashboard" },
      });
      onChange("resumed");
    } catch (err) {
      setError(err.message);
    }
  };
  if (killed) {
    return html`<span class="controls"><button type="button" class="resume" onClick=${resume}>Resume</button>
      <${Err} error=${error} /></span>`;
  }
  if (!open) {
    return html`<button type="button" class="danger kill" onClick=${() => setOpen(true)}>Kill…</button>`;
  }
  return html`<${KillForm} id=${id} onCancel=${() => setOpen(false)}
    onDone=${(what) => {
      setOpen(false);
      onChange(what);
    }} />`;
}
