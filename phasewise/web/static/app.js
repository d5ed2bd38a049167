// The phasewise dashboard: renders the snapshots the server sends each second (/api/events)
// and sends the actions the user's role allows. Plain DOM, no framework, nothing loaded from
// the network but this server.
"use strict";

const ROLES = ["viewer", "engineer", "operator"];
const QUEUE_AMBER_VEH = 5, QUEUE_RED_VEH = 15; // colours of the intersections list
let session = null;
let shownPlanKey = "";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const allows = (needed) => session && ROLES.indexOf(session.role) >= ROLES.indexOf(needed);
const fmtTime = (t) => new Date(t * 1000).toISOString().slice(11, 19);
const level = (q) => (q >= QUEUE_RED_VEH ? "red" : q >= QUEUE_AMBER_VEH ? "amber" : "green");

function say(text, ok) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.className = ok ? "ok" : "error";
}

async function call(method, path, body) {
  const headers = { "X-CSRF-Token": session.csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : body, credentials: "same-origin" });
  let data = {};
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  if (r.status === 401) { location.href = "/login?error=expired"; }
  const text = data.detail || (r.ok ? "done" : `HTTP ${r.status}`);
  say(`${method} ${path}: ${typeof text === "string" ? text : JSON.stringify(text)}`, r.ok);
  if (allows("engineer")) loadAudit();
  return { status: r.status, data };
}

function facts(x, live) {
  if (!live) return [h("span", {}, `cycle ${x.cycle_s.toFixed(0)} s`), h("span", { class: "mode" }, "plan from results")];
  return [h("span", { class: "queue" }, `queue ${x.queue_veh.toFixed(0)} veh`), h("span", {}, `wait ${x.max_wait_s.toFixed(0)} s`),
    h("span", {}, `green ${x.green_s.toFixed(0)} s`), h("span", {}, `cycle ${x.cycle_s.toFixed(0)} s`),
    h("span", { class: `mode ${x.mode}` }, x.mode)];
}

function renderIntersections(snap) {
  const box = document.getElementById("intersections");
  box.replaceChildren(...snap.intersections.map((x) => {
    const phases = x.phases.map((p) => {
      const shown = p.phase === x.phase;
      const state = shown ? (x.in_clearance ? "clearance" : "green") : (x.in_clearance && p.phase === x.next_phase ? "next" : "red");
      return h("span", { class: `phase ${state}`, title: p.movements.join(" ") || `phase ${p.phase}` },
        `${p.phase}`, h("small", {}, ` ${Math.round(p.plan_green_s)}s`));
    });
    const unwatched = (x.unwatched || []).length
      ? [h("div", { class: "unwatched" }, `no camera: ${x.unwatched.join(", ")} (plan greens)`)] : [];
    return h("div", { class: `intersection ${level(x.queue_veh)}`, "data-tls": x.tls },
      h("div", { class: "name" }, x.tls),
      h("div", { class: "signal" }, ...phases),
      h("div", { class: "facts" }, ...facts(x, snap.live)), ...unwatched);
  }));
}

function renderCameras(snap) {
  const box = document.getElementById("cameras");
  const maxQ = Math.max(10, ...snap.cameras.flatMap((c) => c.lanes.map((l) => l.queue_veh)));
  box.replaceChildren(...snap.cameras.map((c) => {
    const lanes = c.lanes.map((l) => {
      const bar = h("span", { class: "bar" });
      bar.style.width = `${(100 * l.queue_veh) / maxQ}%`;
      return h("div", { class: "lane" }, h("span", { class: "lane-id", title: l.lane }, l.lane),
        h("span", { class: "track" }, bar), h("span", { class: "num" }, `${l.queue_veh.toFixed(0)}`));
    });
    const thumb = c.image ? h("img", { class: "thumb", alt: `last frame of ${c.camera}`,
      src: `/api/cameras/${encodeURIComponent(c.camera)}/thumbnail.jpg?t=${Math.floor(snap.t_s / 10)}` })
      : h("div", { class: "muted no-image" }, "no image (virtual camera or no frames)");
    return h("div", { class: `camera ${c.up ? "up" : "down"}`, "data-camera": c.camera },
      h("div", { class: "name" }, `${c.camera} `, h("small", {}, c.tls), " ",
        h("span", { class: "badge" }, c.up ? "up" : `out: ${c.reason}`)),
      ...lanes, thumb);
  }));
}

function renderCounts(snap) {
  // one bar group per 15-min bin: vehicles per intersection (or camera), stacked
  const bins = [...new Set(snap.counts.map((c) => c.bin_start_s))].sort((a, b) => a - b).slice(-16);
  const groups = [...new Set(snap.counts.map((c) => c.tls))].sort();
  const totals = bins.map((b) => groups.map((g) => snap.counts
    .filter((c) => c.bin_start_s === b && c.tls === g).reduce((s, c) => s + c.count, 0)));
  const W = 640, H = 200, pad = 30, maxT = Math.max(1, ...totals.map((t) => t.reduce((a, b) => a + b, 0)));
  const bw = bins.length ? (W - pad) / bins.length : 0;
  const colours = ["#3b7dd8", "#e08a1e", "#3aa655", "#b04fc1", "#c23b3b", "#7a7a7a"];
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H + 30}`, class: "counts", role: "img" });
  plot.append(svg("text", { x: 0, y: 12, class: "axis" }, `${maxT} veh`));
  bins.forEach((b, i) => {
    let y = H;
    totals[i].forEach((n, g) => {
      const hgt = (n / maxT) * (H - 20);
      y -= hgt;
      plot.append(svg("rect", { x: pad + i * bw + 2, y, width: Math.max(bw - 4, 1), height: hgt, fill: colours[g % colours.length] },
        svg("title", {}, `${groups[g]} ${fmtTime(b)}: ${n} veh`)));
    });
    plot.append(svg("text", { x: pad + i * bw + 2, y: H + 14, class: "axis" }, fmtTime(b).slice(0, 5)));
  });
  const legend = groups.map((g, i) => {
    const sw = h("span", { class: "swatch" });
    sw.style.background = colours[i % colours.length];
    return h("span", { class: "legend" }, sw, g);
  });
  const total = snap.counts.reduce((s, c) => s + c.count, 0);
  document.getElementById("counts").replaceChildren(plot, h("div", {}, ...legend, h("span", { id: "counts-total" }, ` total ${total} veh`)));
}

function renderPlans(snap) {
  const rows = snap.plans.map((p) => {
    const cycles = Object.values(p.cycle_s).map((c) => c.toFixed(0)).join(" / ");
    const buttons = [];
    if (allows("engineer") && snap.live) buttons.push(h("button", { class: "check", "data-plan": p.id, onclick: () => call("POST", `/api/plans/${p.id}/check`) }, "Check"));
    if (allows("operator") && snap.live && p.id !== "running")
      buttons.push(h("button", { class: "apply", "data-plan": p.id, onclick: () => call("POST", `/api/plans/${p.id}/apply`) }, "Apply"));
    return h("tr", { "data-plan": p.id }, h("td", {}, p.id), h("td", {}, p.created_by), h("td", {}, p.source), h("td", {}, cycles), h("td", {}, ...buttons));
  });
  document.querySelector("#plans tbody").replaceChildren(...rows);
  const shown = snap.plans.find((p) => p.id === "running") || snap.plans.find((p) => p.id === "plan");
  if (shown) {
    const key = `${shown.id}:${shown.created_by}:${JSON.stringify(shown.cycle_s)}:${JSON.stringify(shown.plan.intersections.map((i) => i.offset_s))}`;
    if (key !== shownPlanKey) {
      shownPlanKey = key;
      document.getElementById("ts-plan").textContent = `${shown.id} (${shown.created_by})`;
      document.getElementById("time-space").src = `/api/plans/${shown.id}/time-space.png?k=${encodeURIComponent(key.length + key.slice(-40))}`;
    }
  }
}

function renderGate(snap) {
  const fmt = (v, d) => (v === null || v === undefined ? "" : Number(v).toFixed(d));
  document.querySelector("#gate tbody").replaceChildren(...snap.gate.slice(-20).reverse().map((g) => h("tr", {},
    h("td", {}, fmtTime(g.t_s)), h("td", { class: `result ${g.result}` }, g.result),
    h("td", {}, g.improvement === null ? "" : `${(100 * g.improvement).toFixed(1)} %`), h("td", {}, fmt(g.p_value, 3)),
    h("td", {}, g.delay_current_s.length ? `${g.delay_current_s.map((d) => d.toFixed(1)).join(" ")} / ${g.delay_candidate_s.map((d) => d.toFixed(1)).join(" ")}` : ""),
    h("td", {}, g.detail))));
}

function renderAlarms(snap) {
  const items = snap.alarms.map((a) => h("li", { class: `alarm ${a.active ? "active" : "cleared"}`, "data-alarm": a.id },
    `${fmtTime(a.since_s)} ${a.text}`, a.active ? "" : " (cleared)",
    a.acknowledged_by ? h("small", {}, ` acknowledged by ${a.acknowledged_by}`) :
      allows("operator") && snap.live ? h("button", { class: "ack", onclick: () => call("POST", `/api/alarms/${a.id}/acknowledge`) }, "Acknowledge") : ""));
  document.getElementById("alarms").replaceChildren(...(items.length ? items : [h("li", { class: "muted" }, "none")]));
}

function renderPriority(snap) {
  const items = (snap.priority || []).map((p) => h("li", { class: `priority ${p.vehicle_class}`, "data-call": p.id },
    `${fmtTime(p.since_s)} ${p.vehicle_class} at ${p.tls} from ${p.approach}`,
    p.eta_s === null ? "" : `, due in ${Math.round(p.eta_s)} s`, h("small", {}, ` called by ${p.by}`)));
  document.getElementById("priority").replaceChildren(...(items.length ? items : [h("li", { class: "muted" }, "none")]));
}

function render(snap) {
  document.getElementById("site").textContent = snap.site;
  document.getElementById("mode").textContent = snap.live ? "live" : "results";
  document.getElementById("clock").textContent = snap.live ? fmtTime(snap.t_s) + " UTC" : "";
  document.getElementById("seq").textContent = `#${snap.seq}`;
  // results: nothing to control, no site model to check or propose against
  document.getElementById("control-section").style.display = snap.live ? "" : "none";
  document.getElementById("propose-box").style.display = snap.live ? "" : "none";
  const health = document.getElementById("health");
  if (snap.health) {
    health.textContent = snap.health.ready ? "ready" : `not ready: ${snap.health.ready_reason}`;
    health.className = `badge ${snap.health.ready ? "green" : "amber"}`;
    document.getElementById("control-state").textContent = snap.health.control_released
      ? `Control is with the controllers' own schedule${snap.health.held_by_operator ? " (handed back by an operator)" : " (cameras out)"}.`
      : "phasewise controls the signals.";
  } else { health.textContent = ""; health.className = ""; }
  renderIntersections(snap);
  renderCameras(snap);
  renderCounts(snap);
  renderPlans(snap);
  renderGate(snap);
  renderAlarms(snap);
  renderPriority(snap);
}

async function loadAudit() {
  const r = await fetch("/api/audit?n=20", { credentials: "same-origin" });
  if (!r.ok) return;
  const rows = (await r.json()).reverse().map((e) => h("tr", {}, h("td", {}, e.t.slice(0, 19)), h("td", {}, `${e.who || "?"} (${e.role || "-"})`),
    h("td", {}, `${e.method} ${e.path}`), h("td", {}, e.status), h("td", {}, e.result || "")));
  document.querySelector("#audit tbody").replaceChildren(...rows);
}

// Signal performance (ATSPM measures of the hi-res event log): reloaded every MEASURES_EVERY_MS,
// the charts computed by the server for the chosen window of hours.
const MEASURES_EVERY_MS = 5 * 60 * 1000;

async function loadMeasures() {
  const section = document.getElementById("measures-section");
  const hours = document.getElementById("measures-hours").value;
  const r = await fetch(`/api/measures?hours=${hours}`, { credentials: "same-origin" });
  if (!r.ok) { section.hidden = true; return; }
  section.hidden = false;
  const data = await r.json();
  const stamp = Date.now();
  const charts = data.devices.map((d) => h("div", { class: "device-measures" },
    h("h3", {}, `${d.tls} (device ${d.device})`),
    h("img", { src: `/api/measures/${d.device}/coordination.png?hours=${hours}&k=${stamp}`, alt: `Purdue coordination diagram of ${d.tls}` }),
    h("img", { src: `/api/measures/${d.device}/split-failures.png?hours=${hours}&k=${stamp}`, alt: `split failures of ${d.tls}` })));
  document.getElementById("measures").replaceChildren(...charts);
  document.getElementById("heat-map").src = `/api/measures/heat-map.png?k=${stamp}`;
}

async function start() {
  const r = await fetch("/api/session", { credentials: "same-origin" });
  if (!r.ok) { location.href = "/login?error=expired"; return; }
  session = await r.json();
  document.getElementById("user").textContent = `${session.name} (${session.role})`;
  document.body.classList.add(...ROLES.filter((role) => allows(role)).map((role) => `can-${role}`));
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": session.csrf }, credentials: "same-origin" });
    location.href = "/login";
  });
  document.getElementById("hand-back").addEventListener("click", () => call("POST", "/api/control/hand-back"));
  document.getElementById("take-back").addEventListener("click", () => call("POST", "/api/control/take-back"));
  document.getElementById("propose").addEventListener("click", () => call("POST", "/api/plans", document.getElementById("propose-text").value));
  document.getElementById("check-text").addEventListener("click", () => call("POST", "/api/plans/check", document.getElementById("propose-text").value));
  const first = await fetch("/api/snapshot", { credentials: "same-origin" });
  if (first.ok) render(await first.json());
  if (allows("engineer")) loadAudit();
  document.getElementById("measures-hours").addEventListener("change", loadMeasures);
  loadMeasures();
  setInterval(loadMeasures, MEASURES_EVERY_MS);
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
  events.addEventListener("expired", () => { location.href = "/login?error=expired"; });
}

document.addEventListener("DOMContentLoaded", start);
