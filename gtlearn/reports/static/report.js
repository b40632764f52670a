/* gtlearn HTML reports: interactive charts (log axes, hover values, series toggles), the lineage
   panel and the failure tooltips. Plain ES2017, no library, no network: every number it draws
   comes from the JSON block #report-data written into the page. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg"; // the SVG namespace name; nothing is fetched from it
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var PALETTE = ["#0b5cad", "#d1495b", "#2a9d8f", "#e09f3e", "#6a4c93", "#3d5a80", "#8d6e63", "#c2185b", "#558b2f",
    "#00838f", "#5d4037", "#7b1fa2"];

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }

  function niceTicks(lo, hi, n) {
    if (hi <= lo) { hi = lo + 1; }
    var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    var step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag, out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return out;
  }

  // Ticks of a log axis spanning log10 values [lo, hi]: decades for wide spans, 1-2-5 steps for
  // narrow ones, plain linear ticks when not even those fall inside.
  function logTicks(lo, hi) {
    var out = [], k;
    if (hi - lo > 3) {
      var a = Math.floor(lo), b = Math.ceil(hi), every = Math.max(1, Math.ceil((b - a) / 8));
      for (k = a; k <= b; k += every) out.push(Math.pow(10, k));
      return out;
    }
    for (k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      [1, 2, 5].forEach(function (m) {
        var v = m * Math.pow(10, k), u = Math.log10(v);
        if (u >= lo && u <= hi) out.push(v);
      });
    }
    return out.length >= 3 ? out : niceTicks(Math.pow(10, lo), Math.pow(10, hi), 5).filter(function (v) { return v > 0; });
  }

  function tickLabel(v, log, wide) {
    return log && wide ? "1e" + Math.round(Math.log10(v)) : fmt(v);
  }

  function Chart(root, spec) {
    this.root = root; this.spec = spec;
    this.logx = !!spec.logx; this.logy = !!spec.logy;
    this.hidden = {};
    (spec.hidden || []).forEach(function (k) { this.hidden[k] = true; }, this);
    spec.series.forEach(function (s, i) { s.color = s.color || PALETTE[i % PALETTE.length]; s.legend = s.legend || s.name; });
    this.controls(); this.area = root.querySelector(".chart-area");
    this.tip = document.createElement("div"); this.tip.className = "tooltip"; this.area.appendChild(this.tip);
    this.draw();
  }

  Chart.prototype.controls = function () {
    var self = this, box = this.root.querySelector(".chart-controls");
    [["x", "logx"], ["y", "logy"]].forEach(function (p) {
      if (!self.spec["allow_" + p[1]]) return;
      var lab = document.createElement("label"), cb = document.createElement("input");
      cb.type = "checkbox"; cb.checked = self[p[1]]; cb.className = "toggle-" + p[1];
      cb.addEventListener("change", function () { self[p[1]] = cb.checked; self.draw(); });
      lab.appendChild(cb); lab.appendChild(document.createTextNode(" log " + p[0]));
      box.appendChild(lab);
    });
    var legend = document.createElement("div"), seen = {};
    legend.className = "legend"; legend.setAttribute("role", "group"); legend.setAttribute("aria-label", "series");
    this.spec.series.forEach(function (s) {
      if (seen[s.legend] || s.nolegend) return;
      seen[s.legend] = true;
      var b = document.createElement("button"), sw = document.createElement("span");
      b.type = "button"; b.dataset.series = s.legend; b.setAttribute("aria-pressed", self.hidden[s.legend] ? "false" : "true");
      sw.className = "swatch"; sw.style.background = s.color; b.appendChild(sw); b.appendChild(document.createTextNode(s.legend));
      b.addEventListener("click", function () {
        self.hidden[s.legend] = !self.hidden[s.legend];
        b.setAttribute("aria-pressed", self.hidden[s.legend] ? "false" : "true"); self.draw();
      });
      legend.appendChild(b);
    });
    if (legend.childNodes.length > 1) box.appendChild(legend);
  };

  Chart.prototype.points = function () {
    var self = this, out = [];
    this.spec.series.forEach(function (s) {
      if (self.hidden[s.legend]) return;
      var pts = [];
      for (var i = 0; i < s.y.length; i++) {
        var x = s.x[i], y = s.y[i];
        if (x === null || y === null || !isFinite(x) || !isFinite(y)) continue;
        if ((self.logx && x <= 0) || (self.logy && y <= 0)) continue;
        pts.push({x: x, y: y, lo: s.lo ? s.lo[i] : null, hi: s.hi ? s.hi[i] : null, text: s.text ? s.text[i] : null, s: s});
      }
      out.push({s: s, pts: pts});
    });
    return out;
  };

  Chart.prototype.domain = function (sets, axis) {
    var lo = Infinity, hi = -Infinity, log = axis === "x" ? this.logx : this.logy;
    sets.forEach(function (set) {
      set.pts.forEach(function (p) {
        var vs = [p[axis]];
        if (axis === "y" && p.lo !== null && p.hi !== null) { vs.push(p.lo, p.hi); }
        vs.forEach(function (v) { if (!log || v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
      });
    });
    var ref = axis === "y" ? this.spec.yref : null;
    if (ref !== null && ref !== undefined && (!log || ref > 0) && lo <= hi) { lo = Math.min(lo, ref); hi = Math.max(hi, ref); }
    if (!(lo <= hi)) { lo = log ? 1 : 0; hi = log ? 10 : 1; }
    if (log) { lo = Math.log10(lo); hi = Math.log10(hi); }
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    var pad = (hi - lo) * 0.04;
    return [lo - pad, hi + pad];
  };

  Chart.prototype.draw = function () {
    var W = Math.max(this.area.clientWidth || 800, 320), H = this.spec.height || 340, M = {l: 68, r: 14, t: 10, b: 42};
    var sets = this.points(), dx = this.domain(sets, "x"), dy = this.domain(sets, "y"), self = this;
    var sx = function (v) { var u = self.logx ? Math.log10(v) : v; return M.l + (u - dx[0]) / (dx[1] - dx[0]) * (W - M.l - M.r); };
    var sy = function (v) { var u = self.logy ? Math.log10(v) : v; return H - M.b - (u - dy[0]) / (dy[1] - dy[0]) * (H - M.t - M.b); };
    var old = this.area.querySelector("svg");
    if (old) old.remove();
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": this.spec.title || this.spec.ylabel || "chart"});
    this.area.insertBefore(svg, this.tip);
    this.axes(svg, W, H, M, dx, dy, sx, sy);
    sets.forEach(function (set) { self.series(svg, set, sx, sy, H - M.b); });
    this.screen = [];
    sets.forEach(function (set) { set.pts.forEach(function (p) { self.screen.push({px: sx(p.x), py: sy(p.y), p: p}); }); });
    this.hover(svg);
  };

  Chart.prototype.axes = function (svg, W, H, M, dx, dy, sx, sy) {
    var g = el("g", {"class": "grid"}, svg), ax = el("g", {"class": "axis"}, svg), self = this;
    var xt = this.logx ? logTicks(dx[0], dx[1]) : niceTicks(dx[0], dx[1], 7);
    var yt = this.logy ? logTicks(dy[0], dy[1]) : niceTicks(dy[0], dy[1], 6);
    var wideX = this.logx && dx[1] - dx[0] > 3, wideY = this.logy && dy[1] - dy[0] > 3;
    xt.forEach(function (t) {
      var x = sx(t);
      if (x < M.l - 0.5 || x > W - M.r + 0.5) return;
      el("line", {x1: x, x2: x, y1: M.t, y2: H - M.b}, g);
      el("text", {"class": "xtick", x: x, y: H - M.b + 16, "text-anchor": "middle"}, ax).textContent = tickLabel(t, self.logx, wideX);
    });
    yt.forEach(function (t) {
      var y = sy(t);
      if (y < M.t - 0.5 || y > H - M.b + 0.5) return;
      el("line", {x1: M.l, x2: W - M.r, y1: y, y2: y}, g);
      el("text", {"class": "ytick", x: M.l - 6, y: y + 4, "text-anchor": "end"}, ax).textContent = tickLabel(t, self.logy, wideY);
    });
    el("line", {"class": "axis-line", x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b}, svg);
    el("line", {"class": "axis-line", x1: M.l, x2: M.l, y1: M.t, y2: H - M.b}, svg);
    el("text", {x: (M.l + W - M.r) / 2, y: H - 6, "text-anchor": "middle"}, ax).textContent = this.spec.xlabel || "";
    el("text", {x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (M.t + H - M.b) / 2 + ")"}, ax)
      .textContent = this.spec.ylabel || "";
    var ref = this.spec.yref;
    if (ref !== null && ref !== undefined && (!this.logy || ref > 0)) {
      el("line", {x1: M.l, x2: W - M.r, y1: sy(ref), y2: sy(ref), stroke: "#57606a", "stroke-dasharray": "4 3"}, svg);
    }
  };

  Chart.prototype.series = function (svg, set, sx, sy) {
    var s = set.s, pts = set.pts, g = el("g", {"class": "series", "data-series": s.legend}, svg);
    if (!pts.length) return;
    var mode = s.mode === "lines" ? "line" : s.mode || "line";
    if (mode === "line" || mode === "step" || mode === "lines+markers") {
      var d = "";
      pts.forEach(function (p, i) {
        var X = sx(p.x), Y = sy(p.y);
        if (i === 0) d += "M" + X + " " + Y;
        else if (mode === "step") d += "H" + X + "V" + Y;
        else d += "L" + X + " " + Y;
      });
      el("path", {d: d, fill: "none", stroke: s.color, "stroke-width": s.width || 1.8, "stroke-dasharray": s.dash || ""}, g);
    }
    if (mode === "markers" || mode === "lines+markers" || mode === "errorbar") {
      pts.forEach(function (p) {
        if (mode === "errorbar" && p.lo !== null && p.hi !== null) {
          el("line", {x1: sx(p.x), x2: sx(p.x), y1: sy(p.lo), y2: sy(p.hi), stroke: s.color, "stroke-width": 1.5}, g);
        }
        el("circle", {cx: sx(p.x), cy: sy(p.y), r: s.size || 3, fill: s.color, "fill-opacity": 0.8}, g);
      });
    }
  };

  Chart.prototype.hover = function (svg) {
    var self = this, mark = el("circle", {r: 5, fill: "none", stroke: "#000", "stroke-width": 1.5, visibility: "hidden"}, svg);
    svg.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect(), k = box.width / svg.viewBox.baseVal.width;
      var mx = (ev.clientX - box.left) / k, my = (ev.clientY - box.top) / k, best = null, bd = 400;
      self.screen.forEach(function (q) {
        var d = (q.px - mx) * (q.px - mx) + (q.py - my) * (q.py - my);
        if (d < bd) { bd = d; best = q; }
      });
      if (!best) { self.tip.style.display = "none"; mark.setAttribute("visibility", "hidden"); return; }
      var p = best.p, lines = [p.s.name, (self.spec.xlabel || "x") + ": " + fmt(p.x), (self.spec.ylabel || "y") + ": " + fmt(p.y)];
      if (p.lo !== null && p.hi !== null) lines.push("95% CI: [" + fmt(p.lo) + ", " + fmt(p.hi) + "]");
      if (p.text) lines.push(p.text);
      self.tip.textContent = lines.join("\n"); self.tip.style.display = "block";
      self.tip.style.left = Math.min(best.px * k + 12, box.width - 160) + "px"; self.tip.style.top = (best.py * k + 10) + "px";
      mark.setAttribute("cx", best.px); mark.setAttribute("cy", best.py); mark.setAttribute("visibility", "visible");
    });
    svg.addEventListener("mouseleave", function () { self.tip.style.display = "none"; mark.setAttribute("visibility", "hidden"); });
  };

  /* ---- lineage: click a program to see its code and its diff from the parent ---- */
  function diffNode(text) {
    var pre = document.createElement("pre");
    pre.className = "diff";
    var lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    lines.forEach(function (line) {
      var span = document.createElement("span");
      span.className = /^(\+\+\+|---)/.test(line) ? "meta" : line[0] === "+" ? "add" : line[0] === "-" ? "del" : line[0] === "@" ? "hunk" : "";
      span.textContent = line + "\n";
      pre.appendChild(span);
    });
    return pre;
  }

  function addRow(dl, k, v) {
    if (v === null || v === undefined || v === "") return;
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v; dl.appendChild(dt); dl.appendChild(dd);
  }

  function programPanel(p) {
    var panel = document.getElementById("program-panel");
    panel.textContent = "";
    panel.dataset.program = p.id;
    var h = document.createElement("h3"), dl = document.createElement("dl");
    h.textContent = "Program #" + p.id + (p.champion ? " (champion)" : "");
    panel.appendChild(h);
    addRow(dl, "state", p.state); addRow(dl, "parent", p.parent === null ? "none (seed)" : "#" + p.parent);
    addRow(dl, "island", p.island); addRow(dl, "generation", p.generation); addRow(dl, "patch", p.patch_kind);
    addRow(dl, "public fitness", p.fitness_text); addRow(dl, "held-out fitness", p.heldout_text);
    addRow(dl, "AST nodes", p.ast_nodes); addRow(dl, "duplicate of", p.duplicate_of === null ? null : "#" + p.duplicate_of);
    addRow(dl, "reason", p.reason); addRow(dl, "evaluation", p.usage);
    panel.appendChild(dl);
    if (p.games && p.games.length) {
      var t = document.createElement("table"), head = t.insertRow();
      ["training game", "exploitability", DATA.baseline, "fitness"].forEach(function (c) {
        var th = document.createElement("th"); th.textContent = c; head.appendChild(th);
      });
      p.games.forEach(function (r) {
        var tr = t.insertRow();
        r.forEach(function (c, i) { var td = tr.insertCell(); td.textContent = c; if (i) td.className = "num"; });
      });
      panel.appendChild(t);
    }
    var h4 = document.createElement("h3");
    h4.textContent = p.parent === null ? "Diff from the parent: none (this is the seed)" : "Diff from the parent #" + p.parent;
    panel.appendChild(h4);
    if (p.diff) { var d = diffNode(p.diff); d.id = "program-diff"; panel.appendChild(d); }
    else if (p.parent !== null) {
      var np = document.createElement("p"); np.className = "muted"; np.id = "program-diff";
      np.textContent = p.code ? "identical to the parent" : "the patch was not applied, so there is no program to compare";
      panel.appendChild(np);
    }
    if (p.patch_text && !p.code) {
      var hp = document.createElement("h3"); hp.textContent = "Proposed patch (rejected)"; panel.appendChild(hp);
      var pp = document.createElement("pre"); pp.className = "code"; pp.textContent = p.patch_text; panel.appendChild(pp);
    }
    if (p.code) {
      var det = document.createElement("details"), sum = document.createElement("summary"), pre = document.createElement("pre");
      sum.textContent = "Code (" + p.code.split("\n").length + " lines)"; pre.className = "code"; pre.id = "program-code";
      pre.textContent = p.code; det.appendChild(sum); det.appendChild(pre); panel.appendChild(det);
    }
  }

  function selectProgram(id, scroll) {
    var progs = DATA.programs || {}, p = progs[id];
    if (!p) return;
    document.querySelectorAll("#lineage-svg .selected, #lineage-svg .ancestry").forEach(function (n) {
      n.classList.remove("selected"); n.classList.remove("ancestry");
    });
    var node = document.querySelector('#lineage-svg .node[data-id="' + id + '"]');
    if (node) {
      node.classList.add("selected");
      if (scroll) { // scroll the graph's own box, never the page
        var box = node.closest(".lineage-scroll"), c = node.querySelector("circle");
        box.scrollLeft = Math.max(0, c.cx.baseVal.value - box.clientWidth / 2);
        box.scrollTop = Math.max(0, c.cy.baseVal.value - box.clientHeight / 2);
      }
    }
    for (var cur = p; cur && cur.parent !== null; cur = progs[cur.parent]) {
      var e = document.querySelector('#lineage-svg .edge[data-child="' + cur.id + '"]');
      if (e) e.classList.add("ancestry");
    }
    programPanel(p);
    if (history.replaceState) history.replaceState(null, "", "#program-" + id);
  }

  function lineage() {
    var svg = document.getElementById("lineage-svg");
    if (!svg) return;
    svg.addEventListener("click", function (ev) {
      var n = ev.target.closest(".node");
      if (n) selectProgram(n.dataset.id, false);
    });
    svg.addEventListener("keydown", function (ev) {
      var n = ev.target.closest(".node");
      if (n && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); selectProgram(n.dataset.id, false); }
    });
    var m = /^#program-(\d+)$/.exec(location.hash);
    var first = m && DATA.programs[m[1]] ? m[1] : DATA.selected;
    if (first !== null && first !== undefined) selectProgram(String(first), true);
  }

  /* ---- failure histogram: the full messages of a bar on hover ---- */
  function failures() {
    var tip = document.getElementById("failure-tip");
    if (!tip) return;
    document.querySelectorAll("table.hist tr[data-messages]").forEach(function (tr) {
      tr.addEventListener("mouseenter", function () {
        var msgs = DATA.failures[tr.dataset.messages] || [];
        tip.textContent = msgs.join("\n"); tip.style.display = "block";
        var r = tr.getBoundingClientRect(), host = tip.parentElement.getBoundingClientRect();
        tip.style.left = "12px"; tip.style.top = (r.bottom - host.top + 4) + "px";
      });
      tr.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    });
  }

  document.documentElement.classList.add("js");
  document.querySelectorAll(".needs-js").forEach(function (n) { n.remove(); });
  document.querySelectorAll("figure.chart[data-chart]").forEach(function (f) {
    f.chart = new Chart(f, DATA.charts[f.dataset.chart]);
  });
  var resized = null;
  window.addEventListener("resize", function () {
    clearTimeout(resized);
    resized = setTimeout(function () {
      document.querySelectorAll("figure.chart[data-chart]").forEach(function (f) { if (f.chart) f.chart.draw(); });
    }, 150);
  });
  lineage();
  failures();
})();
