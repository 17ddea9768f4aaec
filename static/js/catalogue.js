// Catalogue, course and trainer pages: progressive enhancements only.
document.addEventListener('DOMContentLoaded', () => {
  // Filters and sort apply on change (the submit buttons remain for keyboards and no-JS).
  document.querySelectorAll('form[data-autosubmit]').forEach((form) => {
    form.addEventListener('change', (event) => {
      if (event.target.matches('select, input[type=checkbox], input[type=radio]')) form.requestSubmit();
    });
  });
  // Copy-to-clipboard buttons: data-copy="#id-of-input".
  document.querySelectorAll('[data-copy]').forEach((button) => {
    button.addEventListener('click', async () => {
      const field = document.querySelector(button.dataset.copy);
      if (!field) return;
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (err) {
        document.execCommand('copy');
      }
      const label = button.textContent;
      button.textContent = button.dataset.copied || 'Copied';
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  });
  // Photo upload: preview the chosen file before sending it.
  const photo = document.querySelector('input[type=file][data-preview]');
  if (photo) {
    photo.addEventListener('change', () => {
      const target = document.querySelector(photo.dataset.preview);
      const file = photo.files && photo.files[0];
      if (!target || !file || !file.type.startsWith('image/')) return;
      target.src = URL.createObjectURL(file);
      target.classList.remove('d-none');
    });
  }
});
