// Shared pieces: the vendored Preact + htm, polling, formatting, badges, tables, charts.
export {
  html,
  render,
  useState,
  useEffect,
  useRef,
  useMemo,
  useCallback,
} from "./vendor/htm-preact-standalone.module.js";
import { html, useEffect, useRef, useState } from "./vendor/htm-preact-standalone.module.js";

/** Call `fn` now and every `ms` while mounted; returns [data, error, reload]. */
export function usePoll(fn, ms, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    let timer = null;
    const run = async () => {
      try {
        const value = await fn();
        if (alive) {
          setData(value);
          setError(null);
        }
      } catch (err) {
        if (alive) setError(err.message || String(err));
      }
      if (alive && ms) timer = setTimeout(run, ms);
    };
    run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return [data, error, () => setTick((t) => t + 1)];
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function fmtDateTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function ago(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function num(v, digits = 0) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export const Sev = ({ s }) => (s ? html`<span class=${"badge sev-" + s}>${s}</span>` : "–");

export const Flag = ({ on, label, cls }) =>
  on ? html`<span class=${"badge " + cls}>${label}</span>` : null;

export const Err = ({ error }) => (error ? html`<p class="error" role="alert">${error}</p>` : null);

export function sessionHref(id) {
  return "#/session/" + encodeURIComponent(id);
}

/** A column header that sorts: click or Enter; aria-sort says the state. */
export function SortTh({ col, label, sort, order, onSort }) {
  const active = sort === col;
  const dir = active ? (order === "asc" ? "ascending" : "descending") : "none";
  return html`<th aria-sort=${dir} scope="col">
    <button class="sort" type="button" data-col=${col} onClick=${() => onSort(col)}>
      ${label}${active ? (order === "asc" ? " ▲" : " ▼") : ""}
    </button>
  </th>`;
}

/** A uPlot chart sized to its box; `data` is uPlot's column arrays. */
export function Chart({ title, series, data, bars = false, height = 180 }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!window.uPlot || !box.current) return undefined;
    const width = Math.max(240, box.current.clientWidth);
    const opts = {
      title,
      width,
      height,
      // Bars centred on their minute need half a minute of room on each side.
      scales: { x: bars ? { time: true, range: (u, min, max) => [min - 45, max + 45] } : { time: true } },
      // One-line clock labels (uPlot's default adds a second, overlapping date line).
      axes: [
        {
          space: 70,
          values: (u, splits) =>
            splits.map((v) =>
              new Date(v * 1000).toLocaleTimeString([], {
                hour12: false,
                hour: "2-digit",
                minute: "2-digit",
                second: bars ? undefined : "2-digit",
              }),
            ),
        },
        { size: 50 },
      ],
      legend: { live: false },
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: bars ? s.color + "99" : undefined,
          width: 2,
          spanGaps: true,
          paths: bars ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        })),
      ],
    };
    plot.current = new window.uPlot(opts, data, box.current);
    const resize = new ResizeObserver(() => {
      if (plot.current && box.current) {
        plot.current.setSize({ width: Math.max(240, box.current.clientWidth), height });
      }
    });
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.map((s) => s.label).join(","), bars]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`<div class="chart" ref=${box} role="img" aria-label=${title}></div>`;
}
