// The colour scheme and the phone menu. Loaded in <head> without `defer`, so that the scheme
// chosen earlier is on <html> before the first paint (no light flash on a dark page); the
// header's buttons are wired once the page is parsed. Without JavaScript both buttons stay
// hidden: the page follows the system's scheme and the nav shows in full.
(() => {
  const root = document.documentElement;
  const KEY = "theme";
  const NEXT = { system: "light", light: "dark", dark: "system" };
  const ICONS = { system: "◐", light: "☀", dark: "☾" };

  // localStorage throws where the browser blocks storage: the system's scheme then.
  function stored() {
    try {
      const theme = localStorage.getItem(KEY);
      return Object.hasOwn(NEXT, theme) ? theme : "system";
    } catch {
      return "system";
    }
  }

  function remember(theme) {
    try {
      if (theme === "system") localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, theme);
    } catch {
      // Not remembered: this page still switches.
    }
  }

  function apply(theme) {
    if (theme === "system") delete root.dataset.theme;
    else root.dataset.theme = theme;
  }

  apply(stored());

  // One button cycles system → light → dark; its name says the scheme in use (on phones it
  // shows only the scheme's icon). A change is announced as `theme-changed` on the document,
  // for what CSS cannot restyle (Stripe's card Element).
  function wireThemeToggle(button) {
    const show = (theme) => {
      button.setAttribute("aria-label", `Theme: ${theme}`);
      button.querySelector(".theme-icon").textContent = ICONS[theme];
      button.querySelector(".theme-name").textContent = theme;
    };
    show(root.dataset.theme || "system");
    button.hidden = false;
    button.addEventListener("click", () => {
      const theme = NEXT[root.dataset.theme || "system"];
      apply(theme);
      remember(theme);
      show(theme);
      document.dispatchEvent(new CustomEvent("theme-changed"));
    });
  }

  // Under the 48rem breakpoint the CSS hides the nav while its button says it is collapsed.
  function wireMenu(button) {
    const nav = document.getElementById(button.getAttribute("aria-controls"));
    const open = (isOpen) => button.setAttribute("aria-expanded", String(isOpen));
    button.hidden = false;
    button.addEventListener("click", () => open(button.getAttribute("aria-expanded") !== "true"));
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || button.getAttribute("aria-expanded") !== "true") return;
      open(false);
      if (nav.contains(document.activeElement)) button.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireThemeToggle(document.querySelector(".theme-toggle"));
    wireMenu(document.querySelector(".menu-button"));
  });
})();
