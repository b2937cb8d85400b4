/* Every page: a zh-CN date picker on each date input, a Chinese file-input control. */
(function () {
  "use strict";

  // Date inputs follow the browser's locale (mm/dd/yyyy in an English browser): flatpickr with its
  // zh locale shows 年/月/日 everywhere. The value stays ISO (YYYY-MM-DD), as the server reads it.
  if (window.flatpickr) {
    if (window.flatpickr.l10ns && window.flatpickr.l10ns.zh) window.flatpickr.localize(window.flatpickr.l10ns.zh);
    document.querySelectorAll('input[type="date"]').forEach(function (input) {
      var min = input.getAttribute("min"), max = input.getAttribute("max");
      input.type = "text";
      input.setAttribute("autocomplete", "off");
      input.setAttribute("placeholder", input.getAttribute("placeholder") || "年-月-日");
      input.classList.add("date-input");
      window.flatpickr(input, {
        locale: "zh", dateFormat: "Y-m-d", allowInput: true, disableMobile: true,
        minDate: min || null, maxDate: max || null
      });
    });
  }

  // The native file input speaks the operating system's language: a button and a line of our own.
  document.querySelectorAll('input[type="file"]').forEach(function (input) {
    if (input.closest(".file-picker")) return;
    var box = document.createElement("span");
    box.className = "file-picker";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm file-picker-button";
    button.textContent = "选择文件";
    var name = document.createElement("span");
    name.className = "file-picker-name";
    name.textContent = "未选择文件";
    input.parentNode.insertBefore(box, input);
    box.appendChild(input);
    box.appendChild(button);
    box.appendChild(name);
    input.classList.add("file-picker-native");
    input.tabIndex = -1;
    button.addEventListener("click", function () { input.click(); });
    input.addEventListener("change", function () {
      var files = Array.prototype.map.call(input.files || [], function (f) { return f.name; });
      name.textContent = files.length === 0 ? "未选择文件" : files.length === 1 ? files[0] : "已选择 " + files.length + " 个文件：" + files.join("、");
    });
  });
})();

/* A refused form: every field with an error is marked for assistive technology; the first is focused. */
(function () {
  "use strict";
  var first = null;
  document.querySelectorAll(".field.has-error").forEach(function (field) {
    field.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (control) {
      control.setAttribute("aria-invalid", "true");
      if (!first && !control.classList.contains("file-picker-native")) first = control;
    });
    if (!first) first = field.querySelector(".file-picker-button");
  });
  if (first) first.focus();
})();
