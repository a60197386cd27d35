"""The report page's inline style and script: no network, no external files.

The script sorts any ``table.sortable`` by the clicked header (numbers as numbers, from ``data-v``),
and with ``?selftest=1`` in the page's address checks the page in the browser that shows it (every
headline table's rows, every image decoded, sorting reorders rows) and writes the outcome as JSON
into ``#selftest-result``, which a headless browser's ``--dump-dom`` reads (tests/test_report.py).
"""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:0 16px 48px;
color:#1b1f24}
h1{margin:20px 0 4px}h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:36px}
.meta,.note{color:#57606a;font-size:13px}nav a{margin-right:14px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;cursor:pointer;user-select:none;min-width:4em}
.scroll{overflow-x:auto;max-width:100%}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fbfcfd}
details>summary{cursor:pointer;color:#0969da}details dl{margin:4px 0;font-size:12px}
dt{font-weight:600;margin-top:3px}dd{margin-left:10px;word-break:break-all}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(430px,1fr));gap:14px}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:8px;background:#fff}
figure img{max-width:100%;height:auto;display:block;margin:auto}figcaption{font-size:12px;color:#57606a}
#selftest-result{white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:8px}
"""

JS = """
(function () {
  function key(td) {
    var v = td.getAttribute('data-v');
    if (v === null) { v = td.textContent.trim(); }
    var n = Number(v);
    return (v !== '' && isFinite(n)) ? n : v.toLowerCase();
  }
  function compare(x, y) {
    if (typeof x !== typeof y) { return typeof x === 'number' ? -1 : 1; }
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0];
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) { var c = compare(key(a.cells[idx]), key(b.cells[idx])); return asc ? c : -c; });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable thead th').forEach(function (th) {
    th.tabIndex = 0;
    th.title = 'sort by this column (click again to reverse)';
    th.addEventListener('click', function () { sortBy(th); });
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sortBy(th); } });
  });

  function order(table) { return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.id; }); }
  function keys(table, idx) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return key(r.cells[idx]); });
  }
  function monotone(values, sign) {
    for (var i = 1; i < values.length; i++) { if (sign * compare(values[i - 1], values[i]) > 0) { return false; } }
    return true;
  }
  function selftest() {
    var out = {tables: {}, images: {total: 0, broken: []}, sorts: []};
    document.querySelectorAll('table.headline').forEach(function (t) {
      out.tables[t.dataset.suite] = t.tBodies[0].rows.length;
    });
    document.querySelectorAll('img').forEach(function (img) {
      out.images.total++;
      if (!(img.complete && img.naturalWidth > 0)) { out.images.broken.push(img.getAttribute('src')); }
    });
    document.querySelectorAll('table.sortable').forEach(function (t) {
      var th = t.querySelector('thead th[data-col=mean]') || t.querySelector('thead th');
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      if (t.tBodies[0].rows.length < 2) { return; }
      var before = order(t);
      th.click();
      var up = order(t), ascending = monotone(keys(t, idx), 1);
      th.click();
      var down = order(t), descending = monotone(keys(t, idx), -1);
      out.sorts.push({table: t.id, column: th.textContent.trim(), rows: before.length, ascending: ascending,
                      descending: descending, reordered: before.join() !== up.join() || up.join() !== down.join(),
                      distinct: new Set(keys(t, idx)).size});
    });
    var pre = document.createElement('pre');
    pre.id = 'selftest-result';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (/[?&]selftest=1/.test(window.location.search)) { window.addEventListener('load', selftest); }
})();
"""
