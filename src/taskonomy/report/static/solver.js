// Taskonomy solver page. Every answer comes from POST /api/solve (the server runs the same
// plan() as `taskonomy solve`); this script only collects choices and draws the answer.
// No libraries, no network beyond this server.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
// Family colours and order come from GET /api/tasks (family_colors, owned by the task
// registry); filled by applyFamilyColors().
const FAMILY_COLOR = {};
const FAMILY_RANK = {};
const DEBOUNCE_MS = 250;
const ROLE_LABEL = {
  target: "target", novel: "novel target", source: "source only", off: "off",
};

const state = {
  meta: null, // GET /api/tasks
  family: {}, // task -> family
  rows: {}, // task -> {row, role, importance, cost, info}
  seq: 0, // id of the latest solve request
  solves: 0, // answers shown (success or error), for tests and people alike
  timer: null,
  downloadUrl: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function fmt(x, digits) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

// ---- controls -------------------------------------------------------------------------
function rolesFor(info) {
  const roles = [];
  if (info.can_target) roles.push("target");
  if (info.can_target && info.can_source) roles.push("novel");
  if (info.can_source) roles.push("source");
  roles.push("off");
  return roles;
}

function defaultRole(info) {
  if (info.can_target) return "target";
  return info.can_source ? "source" : "off";
}

function buildPicker() {
  const picker = $("picker");
  picker.replaceChildren();
  const infos = Object.fromEntries(state.meta.tasks.map((t) => [t.name, t]));
  for (const [family, names] of Object.entries(state.meta.families)) {
    const box = el("fieldset", { class: "family", "data-family": family });
    box.append(el("legend", { class: `fam-${family}` }, family));
    for (const name of names) {
      const info = infos[name];
      state.family[name] = family;
      const row = el("div", { class: "task", "data-task": name });
      const label = el("span", { class: `name fam-${family}`, title: name }, name);
      const role = el("select", { class: "role", "aria-label": `role of ${name}` });
      for (const r of rolesFor(info)) role.append(el("option", { value: r }, ROLE_LABEL[r]));
      role.value = defaultRole(info);
      const importance = el("input", {
        class: "importance", type: "number", min: "0", step: "any", value: "1",
        "aria-label": `importance of ${name}`,
      });
      const cost = el("input", {
        class: "cost", type: "number", min: "0", step: "any", value: "1",
        "aria-label": `label cost of ${name}`,
      });
      row.append(label, role, importance, cost);
      box.append(row);
      state.rows[name] = { row, role, importance, cost, info };
      role.addEventListener("change", () => { syncRow(name); changed(); });
      importance.addEventListener("input", changed);
      cost.addEventListener("input", () => { syncBudgetRange(); changed(); });
      syncRow(name);
    }
    picker.append(box);
  }
}

function inSources(name) {
  const r = state.rows[name];
  const role = r.role.value;
  return (role === "target" && r.info.can_source) || role === "source";
}

function syncRow(name) {
  const r = state.rows[name];
  const role = r.role.value;
  r.row.className = `task role-${role}${role === "off" ? " off" : ""}`;
  r.importance.disabled = !(role === "target" || role === "novel");
  r.cost.disabled = !inSources(name);
}

function syncBudgetRange() {
  // The slider spans 0 .. the cost of training every selectable source.
  let total = 0;
  for (const name of Object.keys(state.rows)) {
    const r = state.rows[name];
    if (r.info.can_source) total += Math.max(0, Number(r.cost.value) || 0);
  }
  const range = $("budget-range");
  range.max = String(Math.max(1, Math.ceil(total)));
}

function buildControls() {
  const meta = state.meta;
  $("origin").textContent = meta.affinities +
    (meta.estimated ? " (ESTIMATED affinities: no transfer was trained for them)" : "");
  $("winrates-note").textContent = meta.has_winrates
    ? "· with win rates (Gain/Quality)"
    : "· no win rates found: Gain/Quality are not shown";
  const order = $("max-order");
  order.replaceChildren();
  for (let k = 1; k <= meta.max_order; k++) order.append(el("option", { value: String(k) }, String(k)));
  order.append(el("option", { value: "unlimited" }, "unlimited"));
  order.value = String(meta.defaults.max_order);
  $("budget").value = String(meta.defaults.budget);
  $("budget-range").value = String(meta.defaults.budget);
  buildPicker();
  syncBudgetRange();
  $("budget-range").value = String(meta.defaults.budget);

  const legend = $("family-legend");
  legend.replaceChildren();
  for (const family of Object.keys(meta.families)) {
    legend.append(el("span", { class: `fam-${family}` }, family));
  }

  $("budget").addEventListener("input", () => {
    const v = Number($("budget").value);
    if ($("budget").value !== "" && Number.isFinite(v)) $("budget-range").value = String(v);
    changed();
  });
  $("budget-range").addEventListener("input", () => {
    $("budget").value = $("budget-range").value;
    changed();
  });
  order.addEventListener("change", changed);
  // Intervals, stability and the robust objective need the run's per-image losses.
  $("objective-field").hidden = !meta.has_uncertainty;
  $("objective-kind").addEventListener("change", changed);
  $("solve").addEventListener("click", solveNow);
  $("reset-tasks").addEventListener("click", () => {
    for (const name of Object.keys(state.rows)) {
      state.rows[name].role.value = defaultRole(state.rows[name].info);
      syncRow(name);
    }
    changed();
  });
  $("all-sources").addEventListener("click", () => {
    for (const name of Object.keys(state.rows)) {
      const r = state.rows[name];
      if (r.role.value === "target" || r.role.value === "novel") {
        r.role.value = r.info.can_source ? "source" : "off";
        syncRow(name);
      }
    }
    changed();
  });
}

// ---- the request ------------------------------------------------------------------------
// Numbers go as numbers; anything else goes as typed so that the server (not this page)
// decides what is valid and says why.
function numberOrRaw(text) {
  const t = text.trim();
  const v = Number(t);
  return t !== "" && Number.isFinite(v) ? v : text;
}

function collect() {
  const targets = [];
  const sources = [];
  const importance = {};
  const labelCost = {};
  // The table's own target order, so that the default page asks exactly what
  // `taskonomy solve` without --targets does (the policy lists targets in this order).
  const names = [...new Set([...state.meta.targets, ...Object.keys(state.rows)])];
  for (const name of names) {
    const r = state.rows[name];
    const role = r.role.value;
    if (role === "target" || role === "novel") {
      targets.push(name);
      const w = numberOrRaw(r.importance.value);
      if (w !== 1) importance[name] = w;
    }
    if (inSources(name)) {
      sources.push(name);
      const c = numberOrRaw(r.cost.value);
      if (c !== 1) labelCost[name] = c;
    }
  }
  // `random` (untrained, free) stays available: an explicit source list is used as is.
  for (const name of state.meta.free_sources || []) if (!sources.includes(name)) sources.push(name);
  const order = $("max-order").value;
  const req = {
    budget: numberOrRaw($("budget").value),
    max_order: order === "unlimited" ? "unlimited" : Number(order),
    targets,
    sources,
    importance,
    label_cost: labelCost,
  };
  if (state.meta.has_uncertainty && $("objective-kind").value !== "mean") req.objective = $("objective-kind").value;
  return req;
}

function sameSet(a, b) {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function cliCommand(req) {
  const parts = [state.meta.cli, `--budget ${req.budget}`, `--max-order ${req.max_order}`];
  if (!sameSet(req.targets, state.meta.targets)) parts.push(`--targets ${req.targets.join(",") || "''"}`);
  const chosen = req.sources.filter((s) => !(state.meta.free_sources || []).includes(s));
  if (!sameSet(chosen, state.meta.sources)) parts.push(`--sources ${req.sources.join(",") || "''"}`);
  const pairs = (obj) => Object.entries(obj).map(([k, v]) => `${k}=${v}`).join(",");
  if (Object.keys(req.importance).length) parts.push(`--importance ${pairs(req.importance)}`);
  if (Object.keys(req.label_cost).length) parts.push(`--label-cost ${pairs(req.label_cost)}`);
  if (req.objective) parts.push(`--objective ${req.objective}`);
  parts.push("--json");
  return parts.join(" ");
}

function changed() {
  if (!$("auto").checked) return;
  // Whatever is in flight answers an older question: drop it, and say a solve is due.
  state.seq += 1;
  document.body.dataset.state = "pending";
  clearTimeout(state.timer);
  state.timer = setTimeout(solveNow, DEBOUNCE_MS);
}

async function solveNow() {
  clearTimeout(state.timer);
  const req = collect();
  const seq = ++state.seq;
  document.body.dataset.state = "solving";
  let status = 0;
  let text = "";
  try {
    const resp = await fetch("/api/solve", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(req),
    });
    status = resp.status;
    text = await resp.text();
  } catch (err) {
    if (seq !== state.seq) return;
    showError("lost contact with the solver server (is `taskonomy serve` still running?).");
    return;
  }
  if (seq !== state.seq) return; // a newer request is on its way; show only the latest answer
  let body = null;
  try {
    body = JSON.parse(text);
  } catch (err) {
    body = null;
  }
  if (status === 200 && body && body.policy) {
    showPolicy(body, text, req);
  } else if (body && typeof body.error === "string") {
    showError(body.error);
  } else {
    showError(`the server answered HTTP ${status} without an explanation.`);
  }
}

function finish(stateName) {
  state.solves += 1;
  document.body.dataset.solves = String(state.solves);
  document.body.dataset.state = stateName;
}

function showError(message) {
  const box = $("message");
  box.textContent = message;
  box.hidden = false;
  const result = $("result");
  result.classList.add("stale");
  box.classList.toggle("over-stale", !result.hidden);
  const link = $("download");
  link.removeAttribute("href");
  link.setAttribute("aria-disabled", "true");
  finish("error");
}

// ---- the answer -------------------------------------------------------------------------
function showPolicy(policy, text, req) {
  $("message").hidden = true;
  $("message").textContent = "";
  const result = $("result");
  result.hidden = false;
  result.classList.remove("stale");

  const choices = policy.policy;
  const targets = Object.keys(choices);
  const nTransfer = targets.filter((t) => choices[t].kind === "transfer").length;
  const cost = (name) => (name in req.label_cost ? Number(req.label_cost[name]) : 1);
  const spent = policy.scratch.reduce((acc, name) => acc + cost(name), 0);
  $("objective").textContent = fmt(policy.objective, 4);
  $("objective").dataset.value = String(policy.objective);
  $("spent").textContent = `${spent} / ${policy.budget}`;
  $("n-scratch").textContent = String(policy.scratch.length);
  $("n-transfer").textContent = `${nTransfer} of ${targets.length}`;
  $("shown-order").textContent = policy.max_order === null ? "unlimited" : String(policy.max_order);

  const stab = policy.uncertainty ? policy.uncertainty.stability : null;
  $("optimum-stat").hidden = !stab;
  $("optimum").textContent = stab ? `${Math.round(100 * stab.optimum_probability)}% of ${stab.replicates}` : "–";
  if (stab) $("optimum").dataset.value = String(stab.optimum_probability);

  renderTable(policy, req);
  renderGraph(policy);

  if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
  // The server's own text: byte for byte what `taskonomy solve --json` prints.
  state.downloadUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = $("download");
  link.href = state.downloadUrl;
  link.removeAttribute("aria-disabled");
  $("cli").textContent = cliCommand(req);
  finish("solved");
}

// "[lower, upper] (level); chosen in x% of bootstrap optima" for one target's edge, or "".
function uncertaintyNote(policy, target) {
  const u = policy.uncertainty;
  if (!u) return "";
  const iv = u.intervals[target];
  const e = u.stability.edge_frequency[target];
  const parts = [];
  if (iv) parts.push(`${Math.round(100 * u.level)}% interval [${fmt(iv.lower, 4)}, ${fmt(iv.upper, 4)}]`);
  if (e) parts.push(`chosen in ${Math.round(100 * e.frequency)}% of bootstrap optima`);
  return parts.join("; ");
}

function edgeOpacity(policy, target) {
  const u = policy.uncertainty;
  const e = u ? u.stability.edge_frequency[target] : null;
  return e ? 0.15 + 0.85 * e.frequency : 1;
}

function renderTable(policy, req) {
  const tbody = $("policy-table").querySelector("tbody");
  tbody.replaceChildren();
  for (const [target, c] of Object.entries(policy.policy)) {
    const tr = el("tr", { "data-target": target, "data-kind": c.kind, class: `kind-${c.kind}` });
    const w = target in req.importance ? req.importance[target] : 1;
    const cells = [
      ["target", target, "", null],
      ["kind", c.kind === "scratch" ? "scratch (self)" : "transfer", "", null],
      ["sources", c.sources.join(" + "), "", null],
      ["order", String(c.sources.length), "num", null],
      ["affinity", fmt(c.affinity, 4), "num", c.affinity],
      ["importance", String(w), "num", null],
      ["gain", fmt(c.gain, 3), "num", c.gain],
      ["quality", fmt(c.quality, 3), "num", c.quality],
    ];
    for (const [key, text, cls, value] of cells) {
      const td = el("td", { class: `${key} ${cls}`.trim(), "data-col": key }, text);
      // Full precision for anyone comparing with the JSON (the text is rounded).
      if (value !== null && value !== undefined) td.dataset.value = String(value);
      if (key === "affinity" && policy.uncertainty) td.title = uncertaintyNote(policy, target);
      tr.append(td);
    }
    tr.addEventListener("mouseenter", () => highlight(target, true));
    tr.addEventListener("mouseleave", () => highlight(target, false));
    tbody.append(tr);
  }
}

function highlight(target, on) {
  for (const e of document.querySelectorAll(`#graph .edge[data-target="${target}"]`)) {
    e.classList.toggle("hot", on);
  }
}

function byFamily(a, b) {
  const fa = FAMILY_RANK[state.family[a]] ?? 9;
  const fb = FAMILY_RANK[state.family[b]] ?? 9;
  return fa - fb || a.localeCompare(b);
}

// Two columns: tasks trained from scratch (left) feed the targets served by a transfer
// (right). A transfer of order ≥ 2 meets in a junction dot before its target.
function renderGraph(policy) {
  const choices = policy.policy;
  const transferTargets = Object.keys(choices).filter((t) => choices[t].kind === "transfer");
  const usesRandom = transferTargets.some((t) => choices[t].sources.includes("random"));
  const left = [...policy.scratch].sort(byFamily);
  if (usesRandom) left.push("random");
  const leftIndex = Object.fromEntries(left.map((n, i) => [n, i]));
  // Order targets by the mean position of their sources: fewer crossing edges.
  const bary = (t) => {
    const idx = choices[t].sources.map((s) => leftIndex[s] ?? 0);
    return idx.reduce((a, b) => a + b, 0) / idx.length;
  };
  const right = [...transferTargets].sort((a, b) => bary(a) - bary(b) || byFamily(a, b));

  const rowH = 26;
  const top = 34;
  const xL = 210;
  const xR = 640;
  const xJ = 545;
  const width = 860;
  const rows = Math.max(left.length, right.length, 1);
  const height = top + rows * rowH + 12;
  const offL = ((rows - left.length) * rowH) / 2;
  const offR = ((rows - right.length) * rowH) / 2;
  const yL = (i) => top + offL + i * rowH + rowH / 2;
  const yR = (i) => top + offR + i * rowH + rowH / 2;
  const r = 8;

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": "taxonomy graph: tasks trained from scratch and the transfers they serve",
  });
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" }));
  defs.append(marker);
  root.append(defs);
  root.append(svg("text", { x: xL, y: 16, "text-anchor": "middle", class: "col-title" },
    "trained from scratch"));
  root.append(svg("text", { x: xR, y: 16, "text-anchor": "middle", class: "col-title" },
    "targets served by transfer"));

  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  root.append(edges, nodes);

  right.forEach((t, i) => {
    const c = choices[t];
    const yt = yR(i);
    const srcs = c.sources;
    const note = uncertaintyNote(policy, t);
    const tip = `${srcs.join(" + ")} → ${t}  (affinity ${fmt(c.affinity, 4)})${note ? "\n" + note : ""}`;
    const opacity = edgeOpacity(policy, t);
    const endX = xR - r - 1;
    if (srcs.length === 1) {
      const ys = yL(leftIndex[srcs[0]]);
      const mid = (xL + endX) / 2;
      const path = svg("path", {
        class: "edge", "data-target": t, "data-sources": srcs.join("+"),
        d: `M${xL + r},${ys} C${mid},${ys} ${mid},${yt} ${endX},${yt}`,
        "marker-end": "url(#arrow)", opacity,
      });
      path.append(svg("title", {}, tip));
      edges.append(path);
    } else {
      const group = svg("g", { class: "hyperedge", "data-target": t, "data-sources": srcs.join("+"), opacity });
      for (const s of srcs) {
        const ys = yL(leftIndex[s]);
        const mid = (xL + xJ) / 2;
        const leg = svg("path", {
          class: "edge", "data-target": t, "data-source": s,
          d: `M${xL + r},${ys} C${mid},${ys} ${mid},${yt} ${xJ},${yt}`,
        });
        leg.append(svg("title", {}, tip));
        group.append(leg);
      }
      const stem = svg("path", {
        class: "edge", "data-target": t, d: `M${xJ},${yt} L${endX},${yt}`,
        "marker-end": "url(#arrow)",
      });
      stem.append(svg("title", {}, tip));
      group.append(stem);
      const dot = svg("circle", {
        class: "junction", cx: xJ, cy: yt, r: 4, "data-target": t, "data-order": srcs.length,
      });
      dot.append(svg("title", {}, tip));
      group.append(dot);
      edges.append(group);
    }
  });

  left.forEach((name, i) => {
    const y = yL(i);
    const isRandom = name === "random";
    const servesSelf = !isRandom && choices[name] && choices[name].kind === "scratch";
    const cls = isRandom ? "node free" : `node scratch${servesSelf ? " serves-self" : ""}`;
    const g = svg("g", { class: cls, "data-task": name });
    if (servesSelf) g.append(svg("circle", { cx: xL, cy: y, r: r + 3.5, fill: "none", stroke: "#1f2328", "stroke-width": 1.5 }));
    g.append(svg("circle", {
      cx: xL, cy: y, r,
      fill: isRandom ? "#ffffff" : "#fdb863",
      stroke: isRandom ? "#808080" : "#b35806",
      "stroke-width": 1.5,
      "stroke-dasharray": isRandom ? "3 2" : "none",
    }));
    const color = FAMILY_COLOR[state.family[name]] || "#4d4d4d";
    g.append(svg("text", { x: xL - r - 8, y, "text-anchor": "end", fill: color }, name));
    g.append(svg("title", {}, servesSelf
      ? `${name}: trained from scratch; serves itself (affinity ${fmt(choices[name].affinity, 4)})` +
        (policy.uncertainty ? `\n${uncertaintyNote(policy, name)}` : "")
      : isRandom ? "random: an untrained encoder (no labels, free)" : `${name}: trained from scratch`));
    nodes.append(g);
  });

  right.forEach((t, i) => {
    const y = yR(i);
    const g = svg("g", { class: "node target", "data-task": t });
    g.append(svg("circle", { cx: xR, cy: y, r, fill: "#b2d7ec", stroke: "#2166ac", "stroke-width": 1.5 }));
    const color = FAMILY_COLOR[state.family[t]] || "#4d4d4d";
    g.append(svg("text", { x: xR + r + 8, y, fill: color }, t));
    g.addEventListener("mouseenter", () => highlight(t, true));
    g.addEventListener("mouseleave", () => highlight(t, false));
    nodes.append(g);
  });

  if (left.length === 0 && right.length === 0) {
    root.append(svg("text", { x: width / 2, y: top + 14, "text-anchor": "middle", class: "col-title" },
      "nothing to train: every target is served for free"));
  }
  $("graph").replaceChildren(root);
}

// ---- start ------------------------------------------------------------------------------
function applyFamilyColors(colors) {
  // one .fam-<family> rule per family, so labels and legends use the server's colours
  const rules = [];
  Object.entries(colors).forEach(([family, color], i) => {
    FAMILY_COLOR[family] = color;
    FAMILY_RANK[family] = i;
    rules.push(`.fam-${CSS.escape(family)} { color: ${color}; }`);
  });
  document.head.append(el("style", { id: "family-colors" }, rules.join("\n")));
}

async function init() {
  try {
    const resp = await fetch("/api/tasks");
    state.meta = await resp.json();
  } catch (err) {
    $("message").textContent = "could not load the task list from the server.";
    $("message").hidden = false;
    document.body.dataset.state = "error";
    return;
  }
  applyFamilyColors(state.meta.family_colors || {});
  buildControls();
  document.body.dataset.state = "ready";
  await solveNow();
}

document.addEventListener("DOMContentLoaded", init);
