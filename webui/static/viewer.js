// Attachment viewer: <a data-preview="pdf|image" href="…/view"> opens the file inside the page
// (an <iframe> for a PDF, an <img> for a picture) instead of downloading it. Without script the
// link opens the same inline view in a new tab.
(function () {
  var viewer = document.getElementById('attachment-viewer');
  if (!viewer) return;
  var body = viewer.querySelector('.viewer-body');
  var title = viewer.querySelector('.viewer-title');
  function close() { viewer.hidden = true; body.textContent = ''; }
  document.addEventListener('click', function (e) {
    var link = e.target.closest('a[data-preview]');
    if (link) {
      e.preventDefault();
      body.textContent = '';
      var el = document.createElement(link.dataset.preview === 'pdf' ? 'iframe' : 'img');
      el.src = link.href;
      el.className = 'viewer-frame';
      if (el.tagName === 'IMG') el.alt = link.dataset.title || '';
      else el.title = link.dataset.title || '';
      body.appendChild(el);
      title.textContent = link.dataset.title || '';
      viewer.hidden = false;
      viewer.scrollIntoView({ block: 'nearest' });
      return;
    }
    if (e.target.closest('.viewer-close')) close();
  });
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape' && !viewer.hidden) close(); });
})();
