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

  // the 添加 picker's search: the server filters and pages (an enterprise may have hundreds of
  // locked people); the results replace the choice list as the user types or turns a page
  document.querySelectorAll("form[data-pick-search]").forEach(function (search) {
    var input = search.querySelector("input[name=q]");
    var results = search.parentElement.querySelector("[data-pick-results]");
    if (!input || !results || !window.fetch) return;
    var timer = null, latest = 0;
    var load = function (page) {
      var url = new URL(search.action, window.location.href);
      if (input.value.trim()) url.searchParams.set("q", input.value.trim());
      url.searchParams.set("page", page || 1);
      url.searchParams.set("partial", "1");
      var mine = ++latest;   // an older answer arriving late does not replace a newer one
      fetch(url, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null && mine === latest) results.innerHTML = html; })
        .catch(function () {});
    };
    search.addEventListener("submit", function (ev) { ev.preventDefault(); clearTimeout(timer); load(1); });
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 250); });
    results.addEventListener("click", function (ev) {
      var link = ev.target.closest("a[data-pick-page]");
      if (!link) return;
      ev.preventDefault();
      load(link.getAttribute("data-pick-page"));
    });
  });

  // a second click while the first POST is on its way does nothing
  document.querySelectorAll("form[method=post]").forEach(function (form) {
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
