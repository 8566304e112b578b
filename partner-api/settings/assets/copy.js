// The copy button of a newly created API key: the only script of the settings pages (CSP script-src 'self').
// Without JavaScript the button stays hidden and the key is selected and copied by hand.
(function () {
  'use strict';
  document.querySelectorAll('button[data-copy-target]').forEach(function (button) {
    var field = document.getElementById(button.getAttribute('data-copy-target'));
    var status = button.parentNode.querySelector('.copied');
    if (!field) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      field.select();
      var done = function () {
        if (status) status.textContent = 'Copied.';
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          document.execCommand('copy');
          done();
        });
      } else {
        document.execCommand('copy');
        done();
      }
    });
  });
})();
