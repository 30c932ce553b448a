// The form comes from GET /model; answers go to POST /predict; the chart asks for every experience band at once.
"use strict";
const $ = (s) => document.querySelector(s);
const SVG = "http://www.w3.org/2000/svg";
const money = (v) => "$" + Math.round(v).toLocaleString("en-US");
let model;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A field's label: its name, and the question where it says more than the name (not "gender (gender)"); a
// multi-select shown as checkboxes is not "comma-separated".
function fieldLabel(f, boxes) {
  const label = el("label", { for: "f-" + f.name });
  const name = f.name.replaceAll("_", " ");
  let question = f.question;
  if (boxes) question = question.replace(/\s*\((multi-select, )?comma-separated[^)]*\)/, "").replace(/multi-select, /, "");
  if (question.toLowerCase().startsWith(name.toLowerCase())) {  // "country (free text)", not "country (country ...)"
    label.append(name, el("span", { class: "q" }, question.slice(name.length)));
  } else {
    label.append(name, " ", el("span", { class: "q" }, "(" + question + ")"));
  }
  if (f.required) label.append(" ", el("span", { class: "req", title: "required" }, "*"));
  return label;
}

function fieldInput(f) {
  const wrap = el("div");
  const boxes = f.kind === "multi" && f.allowed.length <= 8;
  const label = fieldLabel(f, boxes);
  if (boxes) {
    const box = el("fieldset", { id: "f-" + f.name, "data-multi": f.name });
    for (const v of f.allowed) {
      const id = "f-" + f.name + "-" + v.replace(/\W+/g, "-");
      const opt = el("label", { for: id });
      opt.prepend(el("input", { type: "checkbox", id, value: v }), " " + v);
      box.append(opt);
    }
    wrap.append(label, box);
  } else if (f.kind === "choice" || f.kind === "multi") {
    // Nothing chosen until the person chooses: a required question must be answered before Predict does anything
    const select = el("select", f.required ? { id: "f-" + f.name, name: f.name, required: "" } : { id: "f-" + f.name, name: f.name });
    select.append(el("option", { value: "" }, f.required ? "(choose one)" : "(no answer)"));
    for (const v of f.allowed) select.append(el("option", { value: v }, v));
    wrap.append(label, select);
  } else {
    const input = el("input", { type: "text", id: "f-" + f.name, name: f.name });
    if (f.allowed.length) {
      const list = el("datalist", { id: "l-" + f.name });
      for (const v of f.allowed.slice(0, 500)) list.append(el("option", { value: v }));
      input.setAttribute("list", list.id);
      wrap.append(list);
    }
    wrap.append(label, input);
  }
  return wrap;
}

function answers() {
  const out = {};
  for (const f of model.fields) {
    const box = document.querySelector(`[data-multi="${f.name}"]`);
    if (box) {
      out[f.name] = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      continue;
    }
    const v = $("#f-" + f.name).value.trim();
    out[f.name] = v === "" ? null : v;
  }
  const year = $("#f-year") && $("#f-year").value.trim();
  out.year = year ? Number(year) : null;
  return out;
}

// The year whose dollars the answer is in: any year of the wage index for a range model, else a year it learned.
function yearInput(years) {
  const wrap = el("div");
  const label = el("label", { for: "f-year" });
  label.append("year ", el("span", { class: "q" }, "(the answer in this year's dollars)"));
  let input;
  if (years.any_year) {
    input = el("input", { type: "number", id: "f-year", name: "year", min: years.index[0], max: years.index[1], step: 1, value: years.default });
  } else {
    input = el("select", { id: "f-year", name: "year" });
    for (const y of years.learned) input.append(el("option", { value: y }, String(y)));
    input.value = String(years.default);
  }
  wrap.append(label, input);
  return wrap;
}

async function predict(body) {
  const r = await fetch("predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) {
    const d = data.detail;
    throw new Error(Array.isArray(d) ? d.map((e) => `${e.field}: ${e.msg}`).join("\n") : d);
  }
  return data;
}

function describe(p) {
  const dollars = p.year ? ` in ${p.year} dollars` : "";
  if (model.task === "regression") return [`about ${money(p.salary)} a year${dollars}`, `80% range ${money(p.low)} – ${money(p.high)}`];
  if (model.task === "bands") return [`band ${p.band}${dollars}`, `probability ${p.probability.toFixed(2)}`];
  const when = p.year ? ` in ${p.year}` : "";
  return [`${(100 * p.probability).toFixed(0)}% chance of earning over ${money(model.threshold)}${when}`,
          `P(salary > ${money(model.threshold)}${when}) = ${p.probability.toFixed(3)}: ${p.answer}`];
}

function value(p) {
  if (model.task === "regression") return p.salary;
  if (model.task === "bands") return p.class;
  return p.probability;
}

function chart(name, bands, preds) {
  const svg = $("#chart");
  svg.replaceChildren();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), L = 90, R = 16, T = 12, B = 70;
  const reg = model.task === "regression";
  let lo = 0, hi = model.task === "bands" ? model.bands.length - 1 : 1;
  if (reg) { lo = Math.min(...preds.map((p) => p.low)) * 0.9; hi = Math.max(...preds.map((p) => p.high)) * 1.05; }
  const x = (i) => L + (bands.length === 1 ? 0.5 : i / (bands.length - 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo || 1)) * (H - T - B);
  const add = (tag, attrs, text) => { const e = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; svg.append(e); return e; };
  const ticks = model.task === "bands" ? model.bands.map((b, i) => [i, b])
    : [0, 0.25, 0.5, 0.75, 1].map((t) => lo + t * (hi - lo)).map((v) => [v, reg ? money(v) : v.toFixed(2)]);
  for (const [v, text] of ticks) {
    add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e4e7eb" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, text);
  }
  if (reg) add("path", { d: preds.map((p, i) => `${i ? "L" : "M"}${x(i)},${y(p.high)}`).join("") + preds.map((p, i) => `L${x(preds.length - 1 - i)},${y(preds[preds.length - 1 - i].low)}`).join("") + "Z", fill: "#bfdbfe" });
  add("path", { d: preds.map((p, i) => `${i ? "L" : "M"}${x(i)},${y(value(p))}`).join(""), fill: "none", stroke: "#2563eb", "stroke-width": 2 });
  preds.forEach((p, i) => {
    const current = bands[i] === $("#f-" + name).value;
    add("circle", { cx: x(i), cy: y(value(p)), r: current ? 6 : 4, fill: current ? "#1d4ed8" : "#60a5fa" });
    add("text", { x: x(i), y: H - B + 14, "text-anchor": "end", transform: `rotate(-35 ${x(i)} ${H - B + 14})` }, bands[i]);
  });
}

// What the model made of answers it did not learn: a note under each such field.
function showFlags(flags) {
  for (const old of document.querySelectorAll(".flag")) old.remove();
  for (const f of flags || []) {
    const input = document.getElementById("f-" + f.field);
    const note = el("div", { class: "flag", "data-testid": "flag-" + f.field }, f.message);
    (input ? input.parentElement : $("#detail")).append(note);
  }
}

async function submit(event) {
  event.preventDefault();
  $("#error").textContent = "";
  const body = answers();
  try {
    const p = await predict(body);
    $("#result").hidden = false;
    $("#prompt").hidden = true;
    const [big, small] = describe(p);
    $("#answer").textContent = big;
    $("#detail").textContent = small;
    showFlags(p.flags);
    $("#why").textContent = p.explanation ? p.explanation.sentence : "";
    $("#change").textContent = p.explanation ? p.explanation.counterfactual_sentence : "";
    const choices = model.fields.filter((f) => f.kind === "choice");  // experience in the field moves pay most
    const exp = choices.find((f) => f.name === "experience_field") || choices.find((f) => f.name.startsWith("experience"));
    if (exp) {
      const preds = (await predict(exp.allowed.map((v) => ({ ...body, [exp.name]: v })))).predictions;
      $("#chart-title").textContent = `Across ${exp.name.replaceAll("_", " ")} bands, other answers fixed`;
      chart(exp.name, exp.allowed, preds);
    }
  } catch (e) {
    $("#answer").textContent = "";
    $("#detail").textContent = "";
    $("#why").textContent = "";
    $("#change").textContent = "";
    showFlags([]);
    $("#error").textContent = e.message;
  }
}

async function start() {
  model = await (await fetch("model")).json();
  const m = model.metrics || {};
  const score = m.auc !== undefined ? `test accuracy ${(+m.accuracy).toFixed(3)}, ROC AUC ${(+m.auc).toFixed(3)}`
    : m.median_absolute_error !== undefined ? `median error ${money(m.median_absolute_error)}` : "";
  $("#about").textContent = `Run ${model.run} (recipe ${model.recipe}, ${model.task})` + (score ? `: ${score}.` : ".");
  const years = (model.years && model.years.learned) || [];
  if (years.length) $("#surveys").textContent = `${years.join(" and ")} salary survey${years.length > 1 ? "s" : ""}`;
  for (const f of model.fields) $("#fields").append(fieldInput(f));
  if (model.years) $("#fields").append(yearInput(model.years));
  $("#form").addEventListener("submit", submit);
}
start();
