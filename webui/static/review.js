// The review pages: a choice such as 退回 checks the fields it needs before it asks for confirmation; 常用意见 fill the
// opinion; 全选 ticks every row for 批量签收. (审核通过's confirmation is nav.js's data-confirm.)
(function () {
  // <button data-requires="opinion" data-requires-message="…" data-confirm-after="…">: the fields this
  // choice needs are checked first (error under the field, field focused), and only then confirmed
  document.addEventListener('submit', function (e) {
    var btn = e.submitter;
    if (!btn || !(btn.dataset.requires || btn.dataset.confirmAfter)) return;
    var form = btn.form, first = null;
    (btn.dataset.requires || '').split(' ').filter(Boolean).forEach(function (name) {
      var input = form.elements[name];
      if (input && !String(input.value).trim()) {
        showError(input, btn.dataset.requiresMessage || '请填写此项');
        first = first || input;
      }
    });
    if (first) { e.preventDefault(); first.focus(); return; }
    if (btn.dataset.confirmAfter && !window.confirm(btn.dataset.confirmAfter)) e.preventDefault();
  });
  function errorOf(input) {
    var field = input.closest('.field');
    var error = field && field.querySelector('.field-error[data-client]');
    if (field && !error) {
      error = document.createElement('span');
      error.className = 'field-error';
      error.dataset.client = '1';
      error.id = input.name + '-error';
      error.setAttribute('role', 'alert');
      field.appendChild(error);
    }
    return error;
  }
  function showError(input, message) {
    var error = errorOf(input);
    if (error) { error.textContent = message; error.hidden = false; }
    input.closest('.field').classList.add('has-error');
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', input.name + '-error');
  }
  document.addEventListener('input', function (e) {
    var field = e.target.closest && e.target.closest('.field.has-error');
    var error = field && field.querySelector('.field-error[data-client]');
    if (error && String(e.target.value).trim()) {
      error.hidden = true;
      field.classList.remove('has-error');
      e.target.removeAttribute('aria-invalid');
    }
  });
  document.addEventListener('click', function (e) {
    var phrase = e.target.closest('button[data-phrase]');
    if (phrase) {
      var opinion = phrase.form && phrase.form.elements[phrase.dataset.phraseFor || 'opinion'];
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
