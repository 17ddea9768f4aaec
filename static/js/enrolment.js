// Enrolment pages: widths of progress bars (the CSP forbids inline styles) and
// a filter box for long rosters. Every page works without this file.
document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-width]').forEach((bar) => {
    const value = Math.max(0, Math.min(100, parseFloat(bar.dataset.width) || 0));
    bar.style.width = `${value}%`;
  });
  const box = document.querySelector('[data-roster-search]');
  if (box) {
    const rows = document.querySelectorAll('[data-roster-row]');
    box.addEventListener('input', () => {
      const needle = box.value.trim().toLowerCase();
      rows.forEach((row) => {
        row.hidden = needle !== '' && !row.dataset.rosterRow.includes(needle);
      });
    });
  }
});
