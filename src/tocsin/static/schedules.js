// Schedule page: pick an override's range on the timeline, by dragging across it or by
// clicking a start and then an end. The times fill the form's From and To fields in the
// viewer's time zone (the one the page is drawn in), rounded to 15 minutes.
(function () {
  "use strict";
  var svg = document.getElementById("timeline");
  var startInput = document.getElementById("override-start");
  var endInput = document.getElementById("override-end");
  if (!svg || !startInput || !endInput || !svg.getScreenCTM) { return; }
  var selection = document.getElementById("timeline-selection");
  var hint = document.getElementById("timeline-hint");
  var t0 = Number(svg.dataset.start), t1 = Number(svg.dataset.end);
  var left = Number(svg.dataset.left), right = Number(svg.dataset.right);
  var tz = svg.dataset.tz || "UTC";
  var STEP = 15 * 60 * 1000;
  var format;
  try {
    format = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  } catch (e) { return; }

  function svgX(event) {
    var point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    return point.matrixTransform(svg.getScreenCTM().inverse()).x;
  }
  function timeAt(x) {
    var fraction = Math.min(1, Math.max(0, (x - left) / (right - left)));
    return Math.round((t0 + fraction * (t1 - t0)) / STEP) * STEP;
  }
  function xOf(t) { return left + (t - t0) / (t1 - t0) * (right - left); }
  function local(t) {
    var parts = {};
    format.formatToParts(new Date(t)).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }
  function show(a, b) {
    var lo = Math.min(a, b), hi = Math.max(a, b);
    selection.setAttribute("x", xOf(lo));
    selection.setAttribute("width", Math.max(1, xOf(hi) - xOf(lo)));
  }
  function fill(a, b) {
    var lo = Math.min(a, b), hi = Math.max(a, b);
    if (hi === lo) { hi = lo + STEP; }
    startInput.value = local(lo);
    endInput.value = local(hi);
    show(lo, hi);
    if (hint) { hint.textContent = "Override from " + startInput.value.replace("T", " ") + " to " + endInput.value.replace("T", " ") + " (" + tz + "). Pick who, then Add override."; }
  }

  var dragFrom = null, clickFrom = null, moved = false;
  svg.addEventListener("pointerdown", function (event) {
    var x = svgX(event);
    if (x < left) { return; }
    dragFrom = timeAt(x); moved = false;
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", function (event) {
    if (dragFrom === null) { return; }
    var t = timeAt(svgX(event));
    if (Math.abs(xOf(t) - xOf(dragFrom)) > 4) { moved = true; show(dragFrom, t); }
  });
  svg.addEventListener("pointerup", function (event) {
    if (dragFrom === null) { return; }
    var t = timeAt(svgX(event));
    if (moved) {
      fill(dragFrom, t); clickFrom = null;
    } else if (clickFrom === null) {
      clickFrom = dragFrom; show(clickFrom, clickFrom);
      startInput.value = local(clickFrom);
      if (hint) { hint.textContent = "Start " + local(clickFrom).replace("T", " ") + ": now click where the override ends."; }
    } else {
      fill(clickFrom, t); clickFrom = null;
    }
    dragFrom = null;
  });
})();
