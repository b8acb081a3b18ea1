// Response timers on the incident list and page: "due in 23 min" counts down (and turns
// amber past 80% of the time, "missed by …" once due) without reloading. The server writes
// the same words; without this script they are correct when the page is loaded.
(function () {
  "use strict";
  var WARN_AT = 0.8;
  var STATES = ["response-pending", "response-warning", "response-missed"];

  var span = function (seconds) {
    var minutes = Math.max(0, Math.floor(seconds / 60));
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 48) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    var days = Math.floor(hours / 24);
    hours = hours % 24;
    return hours ? days + " d " + hours + " h" : days + " d";
  };

  var tick = function () {
    var now = Date.now();
    document.querySelectorAll("time[data-response-due]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("data-response-due"));
      var start = Date.parse(element.getAttribute("data-response-from"));
      if (isNaN(due) || isNaN(start)) { return; }
      var state;
      if (now > due) {
        element.textContent = "missed by " + span(Math.max(now - due, 60000) / 1000);
        state = "response-missed";
      } else {
        element.textContent = "due in " + span(Math.ceil((due - now) / 60000) * 60);
        var total = due - start;
        state = total <= 0 || now - start >= WARN_AT * total ? "response-warning" : "response-pending";
      }
      STATES.forEach(function (name) { element.classList.toggle(name, name === state); });
    });
  };

  tick();
  window.setInterval(tick, 30000);
})();
