(function () {
  "use strict";
  // Data comes from a JSON block and is only ever written with textContent: never as HTML.
  var data = JSON.parse(document.getElementById("report-data").textContent);

  // Heatmap: the evidence behind a cell, on hover or keyboard focus.
  var tip = document.getElementById("tooltip");
  function showTip(cell, anchor) {
    tip.textContent = "";
    var head = document.createElement("strong");
    head.textContent = cell.title;
    tip.appendChild(head);
    cell.lines.forEach(function (line) {
      var div = document.createElement("div");
      div.textContent = line;
      tip.appendChild(div);
    });
    var verdict = document.createElement("div");
    verdict.className = cell.significant ? "verdict sig" : "verdict";
    verdict.textContent = cell.significant ? "Significant" : "Not significant";
    tip.appendChild(verdict);
    tip.hidden = false;
    var box = anchor.getBoundingClientRect();
    var maxLeft = document.documentElement.clientWidth - tip.offsetWidth - 8;
    tip.style.left = window.scrollX + Math.max(8, Math.min(box.left, maxLeft)) + "px";
    tip.style.top = window.scrollY + box.bottom + 6 + "px";
  }
  function hideTip() {
    tip.hidden = true;
  }
  [["data-cell", data.cells], ["data-theme-cell", data.themeCells]].forEach(function (kind) {
    document.querySelectorAll("[" + kind[0] + "]").forEach(function (el) {
      var cell = kind[1][Number(el.getAttribute(kind[0]))];
      el.addEventListener("mouseenter", function () { showTip(cell, el); });
      el.addEventListener("focus", function () { showTip(cell, el); });
      el.addEventListener("mouseleave", hideTip);
      el.addEventListener("blur", hideTip);
    });
  });

  // Heatmap level: issues or themes. Without the script both show, one under the other.
  var levelSwitch = document.getElementById("level-switch");
  if (levelSwitch) {
    var showLevel = function (level) {
      levelSwitch.querySelectorAll("button").forEach(function (button) {
        var on = button.getAttribute("data-level") === level;
        button.setAttribute("aria-pressed", on ? "true" : "false");
        document.getElementById("level-" + button.getAttribute("data-level")).hidden = !on;
      });
      hideTip();
    };
    levelSwitch.querySelectorAll("button").forEach(function (button) {
      button.addEventListener("click", function () { showLevel(button.getAttribute("data-level")); });
    });
    levelSwitch.hidden = false;
    showLevel("issue");
  }

  // Theme rows drill down to their issues: collapsed at first, a click expands one.
  var expand = function (button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var theme = button.getAttribute("data-theme");
    document.querySelectorAll("tr[data-theme-of]").forEach(function (row) {
      if (row.getAttribute("data-theme-of") === theme) { row.hidden = !open; }
    });
  };
  document.querySelectorAll("button.expand[data-theme]").forEach(function (button) {
    expand(button, false);
    button.addEventListener("click", function () {
      expand(button, button.getAttribute("aria-expanded") !== "true");
    });
  });

  // Column groups of the heatmaps (discovered, negative segments) fold into one column that
  // counts their significant over-indexed cells, in both heatmaps at once.
  var fold = function (group, open) {
    document.querySelectorAll("button.collapse[data-group='" + group + "']").forEach(function (button) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.querySelectorAll("[data-colgroup='" + group + "']").forEach(function (th) {
      th.colSpan = open ? Number(th.getAttribute("data-span")) : 1;
    });
    document.querySelectorAll("[data-group='" + group + "']:not(button)").forEach(function (el) {
      el.hidden = !open;
    });
    document.querySelectorAll("[data-summary='" + group + "']").forEach(function (el) {
      el.hidden = open;
    });
    hideTip();
  };
  document.querySelectorAll("button.collapse[data-group]").forEach(function (button) {
    button.addEventListener("click", function () {
      fold(button.getAttribute("data-group"), button.getAttribute("aria-expanded") !== "true");
    });
  });

  // Issue table: sort by any column, filter by text, persona and significance.
  var table = document.getElementById("issue-table");
  if (table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var search = document.getElementById("filter-text");
    var persona = document.getElementById("filter-persona");
    var theme = document.getElementById("filter-theme");
    var finding = document.getElementById("filter-finding");
    var shown = document.getElementById("rows-shown");
    var applyFilter = function () {
      var text = search.value.trim().toLowerCase();
      var count = 0;
      rows.forEach(function (row) {
        var keep = (!text || row.getAttribute("data-text").indexOf(text) !== -1) &&
          (!persona.value || row.getAttribute("data-persona") === persona.value) &&
          (!theme.value || row.getAttribute("data-theme") === theme.value) &&
          (!finding.value || row.getAttribute("data-finding") === finding.value ||
            (finding.value === "sig" && row.getAttribute("data-finding") !== "none"));
        row.hidden = !keep;
        if (keep) { count += 1; }
      });
      shown.textContent = count + " of " + rows.length + " rows";
    };
    [search, persona, theme, finding].forEach(function (el) {
      el.addEventListener("input", applyFilter);
      el.addEventListener("change", applyFilter);
    });
    var compare = function (x, y, numeric) {
      if (x === y) { return 0; }
      if (x === "") { return 1; }
      if (y === "") { return -1; }
      return numeric ? Number(x) - Number(y) : x.localeCompare(y);
    };
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var index = th.cellIndex;
        var numeric = th.getAttribute("data-sort") === "number";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th[data-sort]").forEach(function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var x = a.cells[index].getAttribute("data-value");
          var y = b.cells[index].getAttribute("data-value");
          var result = compare(x, y, numeric);
          return ascending || x === "" || y === "" ? result : -result;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    applyFilter();
  }
})();
