// Tollgate dashboard: the little the server cannot do alone.
// - Sortable tables: click a header of a `table.sortable` to sort by that
//   column (cells sort by `data-sort` when present, numerically when the
//   header has `data-type="num"`).
// - SQL console: Ctrl/Cmd+Enter runs the query.
"use strict";

function sortTable(table, col, th) {
  const numeric = th.dataset.type === "num";
  const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
  table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", dir);
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[col];
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const c = x < y ? -1 : x > y ? 1 : 0;
    return dir === "ascending" ? c : -c;
  });
  rows.forEach((r) => body.appendChild(r));
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead th").forEach((th, i) => {
      th.addEventListener("click", () => sortTable(table, i, th));
      th.setAttribute("tabindex", "0");
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, i, th); }
      });
    });
    table.dataset.ready = "true";
  });
  const sql = document.querySelector("form.sql textarea");
  if (sql) {
    sql.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); sql.form.submit(); }
    });
  }
  document.body.dataset.js = "ready";
});
