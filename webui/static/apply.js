/* Applicant pages: the 添加 dialog, one-click submit, the replacement check. (data-confirm prompts are
   nav.js's, on every page: asking here as well asked twice.) */
(function () {
  "use strict";

  document.querySelectorAll("[data-open-dialog]").forEach(function (link) {
    var dialog = document.getElementById(link.getAttribute("data-open-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") return;   // falls back to the plain page
    link.addEventListener("click", function (ev) {
      ev.preventDefault();
      dialog.showModal();
    });
    dialog.querySelectorAll("[data-close-dialog]").forEach(function (btn) {
      btn.addEventListener("click", function (ev) {
        ev.preventDefault();
        dialog.close();
      });
    });
  });

  // a second click while the first POST is on its way does nothing
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent) { ev.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[data-once]").forEach(function (b) { b.disabled = true; });
    });
  });

  var select = document.querySelector("select[data-check-url]");
  var note = document.getElementById("replacement-problem");
  if (select && note) {
    var show = function (message) {
      note.textContent = message || "";
      note.hidden = !message;
    };
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      show(option ? option.getAttribute("data-problem") : "");
      if (!select.value) return;
      // the list may be stale: ask the server as well
      fetch(select.getAttribute("data-check-url") + "?person_id=" + encodeURIComponent(select.value),
            {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && select.options[select.selectedIndex] === option) show(data.ok ? "" : data.message); })
        .catch(function () {});
    });
  }

  // the replacement picker: every word typed must appear in a person's name, certificates or projects
  var search = document.getElementById("replacement-search");
  var list = document.getElementById("new_person_id");
  if (search && list) {
    var count = document.getElementById("replacement-count");
    search.addEventListener("input", function () {
      var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      list.querySelectorAll("option[data-search]").forEach(function (option) {
        var text = option.getAttribute("data-search").toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        option.hidden = !match;
        if (match) shown += 1;
      });
      if (count) count.textContent = words.length ? "找到 " + shown + " 人" : "";
    });
  }
})();
