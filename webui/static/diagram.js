// The process diagram's zoom: 放大 / 缩小 / 适应 buttons, and Ctrl + wheel over the diagram.
// The diagram is drawn to the card's width (适应); zoomed in, the card scrolls.
(function () {
  document.querySelectorAll('[data-diagram]').forEach(function (card) {
    var wrap = card.querySelector('.diagram-wrap');
    var svg = wrap && wrap.querySelector('svg');
    var tools = card.querySelector('.diagram-tools');
    if (!svg || !tools) return;
    var level = tools.querySelector('[data-zoom-level]');
    var zoom = 1;
    function set(z) {
      zoom = Math.min(4, Math.max(1, z));   // never smaller than the card: 适应 is the smallest
      svg.style.width = (zoom * 100) + '%';
      level.textContent = Math.round(zoom * 100) + '%';
    }
    tools.hidden = false;   // without script the diagram is simply shown at the card's width
    tools.addEventListener('click', function (e) {
      var button = e.target.closest('button[data-zoom]');
      if (!button) return;
      var how = button.dataset.zoom;
      set(how === 'in' ? zoom * 1.25 : how === 'out' ? zoom / 1.25 : 1);
    });
    wrap.addEventListener('wheel', function (e) {
      if (!e.ctrlKey) return;   // a plain wheel scrolls the page as everywhere else
      e.preventDefault();
      set(e.deltaY < 0 ? zoom * 1.1 : zoom / 1.1);
    }, { passive: false });
  });
})();
