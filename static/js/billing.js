// Card payments with Stripe.js: the card's details go from its Element to Stripe, never here.
// - #card-top-up: the server makes a PaymentIntent for the chosen amount, Stripe.js confirms
//   it with the card, then the payment's page follows it until the webhook grants the credits.
// - #card-setup: the server makes a SetupIntent, Stripe.js saves the card with it, then the
//   form posts the SetupIntent's id, which the server checks with Stripe.
"use strict";

(() => {
  const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

  // Stripe's card Element draws in an iframe that the site's CSS does not reach: it takes the
  // text colour of the page's scheme, and again whenever the scheme changes.
  function cardStyle(container) {
    const color = getComputedStyle(container).color;
    return { base: { color, iconColor: color } };
  }

  function cardFor(form, elementId) {
    const stripe = Stripe(form.dataset.stripeKey);
    const container = document.getElementById(elementId);
    const card = stripe.elements().create("card", { style: cardStyle(container) });
    card.mount(container);
    const restyle = () => card.update({ style: cardStyle(container) });
    document.addEventListener("theme-changed", restyle);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", restyle);
    return { stripe, card };
  }

  async function postForm(url, form) {
    const response = await fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(answer.error || `The server answered ${response.status}.`);
    }
    return answer;
  }

  function busy(form, on) {
    form.querySelector("button[type=submit]").disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  function topUp(form) {
    const { stripe, card } = cardFor(form, "card-element");
    const error = document.getElementById("card-error");
    const total = document.getElementById("top-up-total");
    const other = form.elements.other;

    function amount() {
      const choice = form.elements.amount.value;
      return Number(choice === "other" ? other.value : choice);
    }
    function showTotal() {
      const value = amount();
      other.closest(".other-amount").hidden = form.elements.amount.value !== "other";
      total.textContent = Number.isFinite(value) && value > 0 ? dollars.format(value) : "—";
    }
    form.addEventListener("input", showTotal);
    showTotal();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      busy(form, true);
      try {
        const started = await postForm(form.action, form);
        const result = await stripe.confirmCardPayment(started.client_secret, {
          payment_method: { card },
        });
        if (result.error) {
          throw new Error(result.error.message || "The card was not charged.");
        }
        window.location.assign(started.payment_url);
      } catch (failure) {
        error.textContent = failure.message;
        busy(form, false);
      }
    });
  }

  function cardSetup(form) {
    const { stripe, card } = cardFor(form, "setup-card-element");
    const error = document.getElementById("setup-error");

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      busy(form, true);
      try {
        const started = await postForm(form.dataset.setupUrl, form);
        const result = await stripe.confirmCardSetup(started.client_secret, {
          payment_method: { card },
        });
        if (result.error) {
          throw new Error(result.error.message || "The card was not saved.");
        }
        form.elements.setup_intent.value = result.setupIntent.id;
        form.submit();
      } catch (failure) {
        error.textContent = failure.message;
        busy(form, false);
      }
    });
  }

  const topUpForm = document.getElementById("card-top-up");
  if (topUpForm) topUp(topUpForm);
  const setupForm = document.getElementById("card-setup");
  if (setupForm) cardSetup(setupForm);
})();
