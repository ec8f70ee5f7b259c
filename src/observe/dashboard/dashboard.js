// Ferry's dashboard: polls /api/dashboard and draws the groups, the last hour
// of lag and throughput (from Ferry's in-memory history) and recent notices.
// Plain browser JavaScript, no build step; charts by uPlot.
(function () {
  'use strict';
  var REFRESH_MS = 2000;
  var COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#db2777', '#0891b2', '#65a30d', '#dc2626'];
  var charts = {};
  var chartGroups = '';

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }
  function seconds(s) {
    if (s === null || s === undefined) return '–';
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 3600) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  function count(n) {
    if (n === null || n === undefined) return '–';
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n));
  }
  function cssState(state) { return String(state).replace(/ /g, '_'); }

  /** Rows per second of each group between consecutive samples. */
  function rates(history, group) {
    var out = [];
    for (var i = 0; i < history.length; i++) {
      var a = history[i - 1], b = history[i];
      var ga = a && a.groups[group], gb = b.groups[group];
      out.push(ga && gb && b.t > a.t ? Math.max(0, (gb.rowsApplied - ga.rowsApplied) / ((b.t - a.t) / 1000)) : null);
    }
    return out;
  }

  function lastRate(history, group) {
    var r = rates(history, group);
    return r.length ? r[r.length - 1] : null;
  }

  function stat(value, label, cls) {
    var s = el('div', 'stat');
    s.appendChild(el('div', 'v' + (cls ? ' ' + cls : ''), value));
    s.appendChild(el('div', 'k', label));
    return s;
  }

  function bar(label, right, share, cls) {
    var b = el('div', 'bar');
    var l = el('div', 'label');
    l.appendChild(el('span', '', label));
    l.appendChild(el('span', '', right));
    var track = el('div', 'track');
    var fill = el('div', 'fill' + (cls ? ' ' + cls : ''));
    fill.style.width = Math.max(0, Math.min(100, share * 100)).toFixed(1) + '%';
    track.appendChild(fill);
    b.appendChild(l);
    b.appendChild(track);
    return b;
  }

  function renderGroups(data) {
    var box = $('groups');
    box.textContent = '';
    var status = data.status || [];
    var limits = data.limits;
    status.forEach(function (g) {
      var lagging = g.lagSeconds !== null && g.lagSeconds > limits.lagWarnSeconds;
      var card = el('article', 'group ' + cssState(g.state) + (lagging && g.state === 'streaming' ? ' lagging' : ''));
      card.setAttribute('data-group', g.group);
      card.setAttribute('data-state', g.state);
      var h = el('h3');
      h.appendChild(el('span', 'name', g.group));
      h.appendChild(el('span', 'pill ' + cssState(g.state), g.state));
      card.appendChild(h);
      var stats = el('div', 'stats');
      var lagCls = g.lagSeconds === null ? '' : g.lagSeconds > limits.lagLimitSeconds ? 'bad' : lagging ? 'warn' : '';
      stats.appendChild(stat(seconds(g.lagSeconds), 'lag', lagCls));
      stats.appendChild(stat(g.queue ? count(g.queue.lagTicks) + ' ticks' : bytes(g.lagBytes), g.queue ? 'lag (queue)' : 'lag (WAL)'));
      stats.appendChild(stat(count(lastRate(data.history, g.group)) + '/s', 'rows applied now'));
      stats.appendChild(stat(count(g.rowsApplied), 'rows applied'));
      stats.appendChild(stat(count(g.transactionsApplied), 'transactions'));
      stats.appendChild(stat(count(g.batches.setBased) + ' / ' + count(g.batches.inOrder), 'batches set / in order'));
      card.appendChild(stats);
      if (g.slot && g.slot.retainedBytes !== null) {
        var safe = g.slot.safeWalSize;
        var share = safe === null ? null : g.slot.retainedBytes / (g.slot.retainedBytes + Math.max(0, safe));
        var cls = g.slot.walStatus === 'lost' || g.slot.walStatus === 'unreserved' ? 'bad' : share !== null && share >= limits.slotWarnShare ? 'warn' : '';
        card.appendChild(bar('slot ' + g.slot.name + (g.slot.walStatus ? ' · ' + g.slot.walStatus : ''),
          bytes(g.slot.retainedBytes) + (safe === null ? ' retained · no limit' : ' of ' + bytes(g.slot.retainedBytes + Math.max(0, safe))),
          share === null ? 0 : share, cls));
      }
      if (g.queue) {
        card.appendChild(el('div', 'meta', 'queue: ' + count(g.queue.pendingEvents) + ' events waiting · ' + bytes(g.queue.queueBytes) + ' on disk'));
      }
      if (g.copy && g.copy.chunks > 0 && (g.state === 'copying' || g.copy.chunksDone < g.copy.chunks)) {
        card.appendChild(bar('copy ' + g.copy.chunksDone + '/' + g.copy.chunks + ' chunks', count(g.copy.rows) + ' rows · ' + bytes(g.copy.bytes),
          g.copy.estimatedBytes > 0 ? g.copy.bytes / g.copy.estimatedBytes : g.copy.chunksDone / g.copy.chunks, 'copy'));
      }
      card.appendChild(el('div', 'meta', 'applied ' + (g.appliedPosition || '–') + ' · source ' + (g.sourcePosition || '–')));
      if (g.lastError) card.appendChild(el('div', 'error', g.lastError));
      box.appendChild(card);
    });
  }

  function renderHealth(data) {
    var h = $('health');
    h.className = 'health ' + (data.health.healthy ? 'ok' : 'bad');
    h.setAttribute('data-healthy', String(data.health.healthy));
    var n = (data.status || []).length;
    $('health-text').textContent = data.health.healthy ? 'Healthy · ' + n + ' group' + (n === 1 ? '' : 's') : 'Needs attention';
    var reasons = $('reasons');
    reasons.textContent = '';
    data.health.reasons.forEach(function (r) { reasons.appendChild(el('li', '', r)); });
    $('updated').textContent = 'updated ' + new Date(data.at).toLocaleTimeString();
  }

  function renderNotices(data) {
    var list = $('notices');
    list.textContent = '';
    if (!data.notices.length) list.appendChild(el('li', 'none', 'none in this run'));
    data.notices.forEach(function (n) {
      var li = el('li');
      li.appendChild(el('time', '', new Date(n.at).toLocaleTimeString()));
      li.appendChild(el('span', 'lvl ' + n.level, n.level));
      li.appendChild(el('strong', '', n.group + ' '));
      li.appendChild(document.createTextNode(n.message));
      list.appendChild(li);
    });
  }

  function chartWidth(id) { return Math.max(300, $(id).clientWidth || 560); }

  function makeChart(id, series, yLabel, fmt) {
    var opts = {
      width: chartWidth(id), height: 220,
      // Room on the right for the last time label.
      padding: [12, 36, null, null],
      series: [{}].concat(series),
      axes: [
        // Whole seconds and wall-clock labels: the default would label a short span in fractions of a second.
        { stroke: '#6b7785', grid: { stroke: '#eef1f5' }, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
          values: function (u, vals) { return vals.map(function (t) { return new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }); }); } },
        { stroke: '#6b7785', grid: { stroke: '#eef1f5' }, size: 64, values: function (u, vals) { return vals.map(fmt); }, label: yLabel },
      ],
      scales: { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } } },
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
    };
    $(id).textContent = '';
    return new uPlot(opts, [[]].concat(series.map(function () { return []; })), $(id));
  }

  function buildCharts(groups, slotGroups) {
    var line = function (g, i, extra) {
      var s = { label: g, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: false } };
      for (var k in extra) s[k] = extra[k];
      return s;
    };
    charts.lag = makeChart('chart-lag', groups.map(function (g, i) { return line(g, i, { value: function (u, v) { return seconds(v); } }); }), 'seconds', function (v) { return seconds(v); });
    charts.rows = makeChart('chart-rows', groups.map(function (g, i) { return line(g, i, { fill: COLORS[i % COLORS.length] + '22', value: function (u, v) { return count(v) + '/s'; } }); }), 'rows/s', count);
    charts.bytes = makeChart('chart-bytes', groups.map(function (g, i) { return line(g, i, { value: function (u, v) { return bytes(v); } }); }), 'bytes', bytes);
    var slotSeries = [];
    slotGroups.forEach(function (g) {
      var i = groups.indexOf(g);
      slotSeries.push(line(g + ' retained', i, { value: function (u, v) { return bytes(v); } }));
      slotSeries.push(line(g + ' safe_wal_size', i, { dash: [6, 5], width: 1.5, value: function (u, v) { return bytes(v); } }));
    });
    charts.slot = makeChart('chart-slot', slotSeries, 'bytes', bytes);
  }

  function renderCharts(data) {
    var history = data.history;
    var groups = (data.status || []).map(function (g) { return g.group; });
    var slotGroups = (data.status || []).filter(function (g) { return g.slot; }).map(function (g) { return g.group; });
    var key = groups.join(',') + '|' + slotGroups.join(',');
    if (key !== chartGroups) {
      buildCharts(groups, slotGroups);
      chartGroups = key;
    }
    var xs = history.map(function (s) { return s.t / 1000; });
    var pick = function (group, field) { return history.map(function (s) { var g = s.groups[group]; return g ? g[field] : null; }); };
    charts.lag.setData([xs].concat(groups.map(function (g) { return pick(g, 'lagSeconds'); })));
    charts.rows.setData([xs].concat(groups.map(function (g) { return rates(history, g); })));
    charts.bytes.setData([xs].concat(groups.map(function (g) { return pick(g, 'lagBytes'); })));
    var slotData = [xs];
    slotGroups.forEach(function (g) { slotData.push(pick(g, 'retainedBytes')); slotData.push(pick(g, 'safeWalSize')); });
    charts.slot.setData(slotData);
    document.body.setAttribute('data-points', String(xs.length));
  }

  function refresh() {
    fetch('api/dashboard', { cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        renderHealth(data);
        renderGroups(data);
        renderCharts(data);
        renderNotices(data);
      })
      .catch(function (err) {
        var h = $('health');
        h.className = 'health unknown';
        $('health-text').textContent = 'Ferry is not answering';
        $('updated').textContent = String(err && err.message || err);
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) { var c = charts[k]; c.setSize({ width: chartWidth(c.root.parentNode.id), height: 220 }); });
  });
  refresh();
})();
