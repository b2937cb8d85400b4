// Drop-down menus: open on click/tap (hover also works via CSS), close on outside click or Escape.
(function () {
  function closeAll(except) {
    document.querySelectorAll('.menu.open').forEach(function (m) {
      if (m !== except) {
        m.classList.remove('open');
        var b = m.querySelector('.menu-button');
        if (b) b.setAttribute('aria-expanded', 'false');
      }
    });
  }
  document.addEventListener('click', function (e) {
    var button = e.target.closest('.menu-button');
    if (button) {
      var menu = button.parentElement;
      closeAll(menu);
      var open = menu.classList.toggle('open');
      button.setAttribute('aria-expanded', open ? 'true' : 'false');
      return;
    }
    if (!e.target.closest('.menu-panel')) closeAll(null);
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeAll(null); });
  // <a data-history-back>: back to the previous page (the link itself leads home without script)
  document.addEventListener('click', function (e) {
    var back = e.target.closest('a[data-history-back]');
    if (back && window.history.length > 1) { e.preventDefault(); window.history.back(); }
  });
  // Confirm dangerous actions: <button data-confirm="...">
  document.addEventListener('submit', function (e) {
    var btn = e.submitter;
    if (btn && btn.dataset.confirm && !window.confirm(btn.dataset.confirm)) e.preventDefault();
  });
})();
