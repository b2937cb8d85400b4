// The review pages: 退回 checks its opinion before it asks for confirmation; 常用意见 fill the
// opinion; 全选 ticks every row for 批量签收. (审核通过's confirmation is nav.js's data-confirm.)
(function () {
  document.addEventListener('submit', function (e) {
    var btn = e.submitter;
    if (!btn || !btn.dataset.confirmReturn) return;
    var form = btn.form;
    var opinion = form.querySelector('textarea[name="opinion"]');
    var error = form.querySelector('#opinion-error');
    var field = form.querySelector('#opinion-field');
    if (opinion && !opinion.value.trim()) {
      e.preventDefault();
      if (error) error.hidden = false;
      if (field) field.classList.add('has-error');
      opinion.setAttribute('aria-invalid', 'true');
      opinion.focus();
      return;
    }
    if (!window.confirm(btn.dataset.confirmReturn)) e.preventDefault();
  });
  document.addEventListener('input', function (e) {
    if (e.target.name === 'opinion' && e.target.value.trim()) {
      var error = document.getElementById('opinion-error');
      var field = document.getElementById('opinion-field');
      if (error) error.hidden = true;
      if (field) field.classList.remove('has-error');
      e.target.removeAttribute('aria-invalid');
    }
  });
  document.addEventListener('click', function (e) {
    var phrase = e.target.closest('button[data-phrase]');
    if (phrase) {
      var opinion = document.querySelector('textarea[name="opinion"]');
      if (!opinion) return;
      var text = phrase.dataset.phrase;
      opinion.value = opinion.value.trim() ? opinion.value.replace(/\s+$/, '') + '\n' + text : text;
      opinion.dispatchEvent(new Event('input', { bubbles: true }));
      opinion.focus();
    }
  });
  document.addEventListener('change', function (e) {
    if (e.target.matches('input[data-select-all]')) {
      document.querySelectorAll('input.batch-box').forEach(function (box) { box.checked = e.target.checked; });
    }
  });
})();
