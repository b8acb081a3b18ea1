// Tocsin's own small script: auto-submitting pickers, phase templates, runbook checkboxes and
// Copy buttons, live incident pages.
// Everything here is an enhancement; every page works without it.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // A select that re-renders its form (the declare form's type) presses the form's own
  // button for it, so that everything typed is posted along and comes back.
  document.querySelectorAll("select[data-submit-with]").forEach(function (select) {
    var button = document.getElementById(select.getAttribute("data-submit-with"));
    if (!button || !select.form) { return; }
    button.hidden = true;
    select.addEventListener("change", function () {
      if (select.form.requestSubmit) { select.form.requestSubmit(button); } else { button.click(); }
    });
  });

  // A field that matters only for some values of a select ("minutes" for a workflow's
  // timer triggers) is hidden for the others: data-shown-for="select-name:value,value".
  // Without JavaScript it is always shown, with a hint saying when it applies.
  document.querySelectorAll("[data-shown-for]").forEach(function (element) {
    var spec = element.getAttribute("data-shown-for").split(":");
    var form = element.closest("form");
    var select = form ? form.elements.namedItem(spec[0]) : null;
    if (!select) { return; }
    var values = spec[1].split(",");
    var update = function () { element.hidden = values.indexOf(select.value) < 0; };
    select.addEventListener("change", update);
    update();
  });

  // A link to a form's own page ("Resolve…") opens the same form in a dialog of the page.
  // Delegated: the live refresh below replaces the sections such links sit in.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-opens-dialog]") : null;
    if (!link) { return; }
    var dialog = document.getElementById(link.getAttribute("data-opens-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    event.preventDefault();
    dialog.showModal();
  });

  // A runbook step's checkbox saves itself when changed (without JS: tick, then Save).
  var runbookSteps = function (root) {
    root.querySelectorAll("form[data-runbook-step]").forEach(function (form) {
      var box = form.querySelector('input[type="checkbox"]');
      var save = form.querySelector("[data-step-save]");
      if (!box || !save) { return; }
      save.hidden = true;
      box.addEventListener("change", function () { form.submit(); });
    });
  };
  // A runbook's commands get a Copy button (without JS they are plain text to select).
  var copyButtons = function (root) {
    if (!navigator.clipboard) { return; }
    root.querySelectorAll(".runbook pre").forEach(function (pre) {
      if (pre.querySelector(".copy")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy small secondary";
      button.textContent = "Copy";
      button.addEventListener("click", function () {
        var code = pre.querySelector("code") || pre;
        navigator.clipboard.writeText(code.textContent).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
      pre.appendChild(button);
    });
  };
  runbookSteps(document);
  copyButtons(document);

  // Changing the phase refills the update from that phase's template, unless the
  // responder has already written their own text.
  document.querySelectorAll("form[data-template-url]").forEach(function (form) {
    var phase = form.querySelector("[data-template-phase]");
    var body = form.querySelector("[data-template-body]");
    if (!phase || !body) { return; }
    var lastTemplate = body.value;
    phase.addEventListener("change", function () {
      if (body.value.trim() && body.value !== lastTemplate) {
        if (!window.confirm("Replace your text with the " + phase.value + " template?")) { return; }
      }
      var url = form.getAttribute("data-template-url") + "?phase=" + encodeURIComponent(phase.value);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRF-Token": csrf } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data) { body.value = data.body; lastTemplate = data.body; }
        });
    });
  });

  // Live incident page: the server says when the incident changed; we fetch the page and
  // swap the sections, leaving alone any section the user is typing in.
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var SECTIONS = ["incident-header", "summary", "updates", "timeline", "roles", "action-items", "details", "runbooks"];
    var status = document.getElementById("live-status");
    var refreshing = false, again = false;
    var refresh = function () {
      if (refreshing) { again = true; return; }
      refreshing = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          SECTIONS.forEach(function (id) {
            var current = document.getElementById(id), fresh = doc.getElementById(id);
            if (!current || !fresh) { return; }
            if (current.contains(document.activeElement) && document.activeElement !== document.body) { return; }
            if (current.innerHTML !== fresh.innerHTML) {
              current.innerHTML = fresh.innerHTML; current.className = fresh.className;
              runbookSteps(current); copyButtons(current);
            }
          });
          if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
        })
        .finally(function () {
          refreshing = false;
          if (again) { again = false; refresh(); }
        });
    };
    var source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("changed", refresh);
    source.addEventListener("gone", function () { source.close(); });
  }
})();
