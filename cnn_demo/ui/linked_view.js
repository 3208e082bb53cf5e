// CNN Explainer's linked view, drawn in the browser: hovering (or focusing) an output cell lights up the input
// window and the kernel it reads and writes its products below, with no rerun; a click (or Enter) sends the cell
// to Python as the trigger value "cell". Data: cnn_demo.viz_filters.linked_conv_data. All text goes in through
// textContent or SVG attributes, never as markup.

const SVG = "http://www.w3.org/2000/svg";
const UNIT = 10; // one cell in SVG units

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function html(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fontSize(texts) {
  const longest = texts.reduce((m, t) => Math.max(m, t.length), 1);
  return Math.min(3.6, (0.78 * UNIT) / (0.6 * longest)); // the longest number fits its cell
}

// One panel: a caption, an SVG grid of coloured cells (with a marks layer on top for outlines) and a footnote.
function panel(grid, kind, channel, tip) {
  const fig = html("figure", `lv-panel lv-${kind}`);
  fig.dataset.channel = String(channel);
  fig.appendChild(html("figcaption", "lv-label", grid.label));
  const svg = el("svg", {
    viewBox: `-1 -1 ${grid.cols * UNIT + 2} ${grid.rows * UNIT + 2}`,
    class: "lv-svg",
    role: kind === "output" ? "group" : "img",
    "aria-label": grid.label,
  });
  // Layers, bottom to top: the coloured cells (hover targets), the orange tint of a window, the numbers (so the
  // tint never dims them), the outlines.
  const cells = el("g");
  const tints = el("g", { class: "lv-marks" });
  const texts = el("g", { class: "lv-texts" });
  const marks = el("g", { class: "lv-marks" });
  const size = fontSize(grid.text);
  const nodes = [];
  for (let r = 0; r < grid.rows; r++) {
    for (let q = 0; q < grid.cols; q++) {
      const n = r * grid.cols + q;
      const g = el("g", { class: "lv-cell", "data-r": r, "data-c": q });
      g.appendChild(el("rect", { x: q * UNIT, y: r * UNIT, width: UNIT, height: UNIT, fill: grid.bg[n] }));
      g.appendChild(el("title", {}, tip(r, q, grid.text[n])));
      cells.appendChild(g);
      nodes.push(g);
      if (grid.showText) {
        const at = { x: q * UNIT + UNIT / 2, y: r * UNIT + UNIT / 2, fill: grid.fg[n], "font-size": size };
        texts.appendChild(el("text", { ...at, "data-r": r, "data-c": q }, grid.text[n]));
      }
    }
  }
  svg.append(cells, tints, texts, marks);
  fig.appendChild(svg);
  return { fig, svg, nodes, tints, marks, grid };
}

function span(labels) {
  const a = labels[0];
  const b = labels[labels.length - 1];
  const num = (v) => String(v).replace("-", "−");
  return a === b ? num(a) : `${num(a)} to ${num(b)}`;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const host = parentElement.querySelector(".lv-root");
  if (!host || !data) return;
  const { read: READ, current: CURRENT } = data.colours;
  // A rerun (after Enter on a cell) redraws everything: keep the keyboard focus on the same output cell.
  const focused = (parentElement.activeElement || document.activeElement)?.closest?.(".lv-output .lv-cell");
  const refocus = focused && host.contains(focused) ? [focused.dataset.r, focused.dataset.c] : null;
  host.replaceChildren();

  const nIn = data.inputs.length;
  const out = data.output;
  const kCols = Math.max(data.kernels[0].cols, 3);
  // Columns share the width by cells, so a cell has one size in every panel; with a large kernel the output
  // still gets a third of the room, or its numbers would not fit.
  const oCols = Math.max(out.cols, 0.35 * (data.inputs[0].cols + kCols));
  const across = data.inputs[0].cols + kCols + oCols;
  const view = html("div", "lv-view");
  view.style.maxWidth = `${across * 52 + 64}px`;

  const title = html("div", "lv-title");
  title.setAttribute("aria-live", "polite");
  view.appendChild(title);

  const grids = html("div", "lv-grids");
  grids.style.gridTemplateColumns = `${data.inputs[0].cols}fr ${kCols}fr ${oCols}fr`;
  view.appendChild(grids);

  const inputs = [];
  const kernels = [];
  for (let c = 0; c < nIn; c++) {
    const p = panel(data.inputs[c], "input", c, (r, q, t) => {
      const where = `input row ${data.inRows[r]}, col ${data.inCols[q]}: ${t.replace("*", "")}`;
      return t.endsWith("*") ? `${where} (outside the image)` : where;
    });
    p.fig.style.gridRow = String(c + 1);
    p.fig.style.gridColumn = "1";
    grids.appendChild(p.fig);
    inputs.push(p);
    const k = panel(data.kernels[c], "kernel", c, (r, q, t) => `weight row ${r}, col ${q}: ${t}`);
    k.fig.style.gridRow = String(c + 1);
    k.fig.style.gridColumn = "2";
    k.svg.style.width = `${(100 * data.kernels[c].cols) / kCols}%`;
    grids.appendChild(k.fig);
    kernels.push(k);
  }
  const output = panel(out, "output", 0, (r, q, t) => `output row ${data.outRows[r]}, col ${data.outCols[q]}: ${t}`);
  output.fig.style.gridRow = `1 / span ${nIn}`;
  output.fig.style.gridColumn = "3";
  grids.appendChild(output.fig);

  const where = (rows, cols) => `image rows ${span(rows)}, cols ${span(cols)}`;
  for (const p of inputs) p.fig.appendChild(html("div", "lv-sub", where(data.inRows, data.inCols)));
  output.fig.appendChild(html("div", "lv-sub", where(data.outRows, data.outCols)));

  const readout = html("div", "lv-readout");
  readout.setAttribute("aria-live", "polite");
  view.appendChild(readout);
  host.appendChild(view);

  let selected = data.selected ? data.selected.slice() : null;
  let lit = [];

  function clear() {
    for (const n of lit) n.classList.remove("lv-on", "lv-current", "lv-selected");
    lit = [];
    for (const p of [...inputs, ...kernels, output]) {
      p.tints.replaceChildren();
      p.marks.replaceChildren();
    }
    for (const k of kernels) k.fig.dataset.lit = "false";
  }

  function mark(p, r, q, h, w, colour, width, fill, dashed) {
    const attrs = {
      x: q * UNIT,
      y: r * UNIT,
      width: w * UNIT,
      height: h * UNIT,
      fill: fill ? colour : "none",
      "fill-opacity": fill ? 0.28 : 1,
      stroke: colour,
      "stroke-width": width,
      "vector-effect": "non-scaling-stroke",
    };
    if (dashed) attrs["stroke-dasharray"] = "4 3";
    (fill ? p.tints : p.marks).appendChild(el("rect", attrs));
  }

  // Light up output cell (i, j): its window in every input channel, the kernels, the cell itself.
  function show(cell, mode) {
    clear();
    if (selected) {
      const s = output.nodes[selected[0] * out.cols + selected[1]];
      s.classList.add("lv-selected");
      lit.push(s);
    }
    view.dataset.mode = cell ? mode : "none";
    view.dataset.active = cell ? `${cell[0]},${cell[1]}` : "";
    if (!cell) {
      title.textContent = "Hover an output cell to trace it back to its window and kernel.";
      readout.replaceChildren();
      return;
    }
    const [i, j] = cell;
    const t = data.traces[i * out.cols + j];
    for (const p of inputs) {
      for (const r of t.rows) {
        for (const q of t.cols) {
          const n = p.nodes[r * p.grid.cols + q];
          n.classList.add("lv-on");
          lit.push(n);
          mark(p, r, q, 1, 1, READ, data.contiguous ? 0 : 2, true);
        }
      }
      if (data.contiguous) {
        const r0 = t.rows[0];
        const q0 = t.cols[0];
        mark(p, r0, q0, t.rows[t.rows.length - 1] - r0 + 1, t.cols[t.cols.length - 1] - q0 + 1, READ, 3, false);
      }
    }
    for (const k of kernels) {
      k.fig.dataset.lit = "true";
      for (const n of k.nodes) {
        n.classList.add("lv-on");
        lit.push(n);
      }
      mark(k, 0, 0, k.grid.rows, k.grid.cols, READ, 3, false);
    }
    const o = output.nodes[i * out.cols + j];
    o.classList.add("lv-current");
    lit.push(o);
    if (selected && (selected[0] !== i || selected[1] !== j)) {
      mark(output, selected[0], selected[1], 1, 1, CURRENT, 2, false, true); // the selected cell, while away
    }
    mark(output, i, j, 1, 1, "#ffffff", 7, false);
    mark(output, i, j, 1, 1, CURRENT, 4, false);
    title.textContent = t.title;
    const lines = html("div", "lv-lines");
    for (const line of t.lines) lines.appendChild(html("div", "lv-line", line));
    readout.replaceChildren(html("div", "lv-readout-head", "Σ window × kernel"), lines);
  }

  function restore() {
    show(selected, "selected");
  }

  function pick(cell) {
    selected = cell.slice();
    for (const n of output.nodes) n.setAttribute("tabindex", "-1");
    output.nodes[cell[0] * out.cols + cell[1]].setAttribute("tabindex", "0");
    show(cell, "selected");
    setTriggerValue("cell", cell);
  }

  const cellOf = (node) => {
    const g = node && node.closest ? node.closest(".lv-cell") : null;
    return g ? [Number(g.dataset.r), Number(g.dataset.c)] : null;
  };

  // Roving focus: one tab stop for the output grid (the selected cell), arrows move, Enter or Space picks.
  const start = selected || [0, 0];
  for (const n of output.nodes) {
    const here = Number(n.dataset.r) === start[0] && Number(n.dataset.c) === start[1];
    n.setAttribute("tabindex", here ? "0" : "-1");
    n.setAttribute("role", "button");
    n.setAttribute("aria-label", n.querySelector("title").textContent);
  }
  output.svg.addEventListener("mouseover", (e) => {
    const cell = cellOf(e.target);
    if (cell) show(cell, "hover");
  });
  output.svg.addEventListener("mouseleave", () => {
    if (!output.svg.contains(parentElement.activeElement || document.activeElement)) restore();
  });
  output.svg.addEventListener("mousedown", (e) => e.preventDefault()); // a click selects; focus is the keyboard's
  output.svg.addEventListener("click", (e) => {
    const cell = cellOf(e.target);
    if (cell) pick(cell);
  });
  output.svg.addEventListener("focusin", (e) => {
    const cell = cellOf(e.target);
    if (cell) show(cell, "focus");
  });
  output.svg.addEventListener("focusout", (e) => {
    if (!output.svg.contains(e.relatedTarget)) restore();
  });
  output.svg.addEventListener("keydown", (e) => {
    const cell = cellOf(e.target);
    if (!cell) return;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pick(cell);
    } else if (moves[e.key]) {
      e.preventDefault();
      const i = Math.min(out.rows - 1, Math.max(0, cell[0] + moves[e.key][0]));
      const j = Math.min(out.cols - 1, Math.max(0, cell[1] + moves[e.key][1]));
      const next = output.nodes[i * out.cols + j];
      e.target.setAttribute("tabindex", "-1");
      next.setAttribute("tabindex", "0");
      next.focus();
    }
  });
  restore();
  if (refocus) {
    const again = output.svg.querySelector(`.lv-cell[data-r="${refocus[0]}"][data-c="${refocus[1]}"]`);
    if (again) {
      for (const n of output.nodes) n.setAttribute("tabindex", n === again ? "0" : "-1");
      again.focus({ preventScroll: true });
    }
  }
}
