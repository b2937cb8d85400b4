// 扫码登录 on the login page: ask the server for a QR code, show it, and poll until a phone
// confirms it (then this browser is signed in and moves on), it expires (a new code replaces it)
// or it is cancelled or refused (the reason is shown; 刷新二维码 starts again).
(function () {
  var root = document.getElementById('qr-login');
  if (!root) return;
  var box = document.getElementById('qr-box');
  var status = document.getElementById('qr-status');
  var expiry = document.getElementById('qr-expiry');
  var refresh = document.getElementById('qr-refresh');
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute('content');
  var POLL_MS = 2000;
  var code = null;
  var expiresAt = 0;
  var timer = null;
  var clock = null;

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return { state: 'refused', message: '服务器暂时无法响应，请稍后刷新二维码' }; });
    });
  }

  function stop() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (clock) { clearInterval(clock); clock = null; }
  }

  function say(text, kind) {
    status.textContent = text;
    status.className = 'qr-status' + (kind ? ' qr-' + kind : '');
    root.setAttribute('data-state', kind || 'waiting');
  }

  function showCountdown() {
    var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    expiry.textContent = left > 0 ? '二维码 ' + left + ' 秒后过期，过期后自动刷新' : '';
  }

  function fresh(note) {
    stop();
    post(root.getAttribute('data-new')).then(function (data) {
      if (data.state !== 'waiting') { say(data.message, 'refused'); box.classList.add('qr-dim'); return; }
      code = data.code;
      root.setAttribute('data-code', code);
      root.setAttribute('data-url', data.url);
      box.innerHTML = data.svg;   // drawn by the server: an SVG of rectangles, no script
      box.classList.remove('qr-dim');
      expiresAt = Date.now() + data.expires_in * 1000;
      say(note || '请使用手机扫描二维码，在手机上确认登录');
      showCountdown();
      clock = setInterval(showCountdown, 1000);
      timer = setTimeout(poll, POLL_MS);
    }).catch(function () { say('网络异常，请稍后刷新二维码', 'refused'); });
  }

  function poll() {
    timer = null;
    post(root.getAttribute('data-poll'), { code: code, next: root.getAttribute('data-next') }).then(function (data) {
      if (data.state === 'signed_in') {
        stop();
        say('已在手机上确认，正在登录…', 'confirmed');
        window.location.assign(data.next);
      } else if (data.state === 'waiting' || data.state === 'confirmed') {
        if (data.state === 'confirmed') say('已在手机上确认，正在登录…', 'confirmed');
        timer = setTimeout(poll, POLL_MS);
      } else if (data.state === 'expired') {
        fresh('二维码已过期，已自动刷新，请重新扫码');
      } else {
        stop();
        box.classList.add('qr-dim');
        expiry.textContent = '';
        say(data.message || '二维码已失效，请刷新二维码', data.state);
      }
    }).catch(function () { timer = setTimeout(poll, POLL_MS * 2); });
  }

  refresh.addEventListener('click', function () { fresh(); });
  fresh();
}());
