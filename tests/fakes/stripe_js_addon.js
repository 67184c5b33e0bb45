/*
 * Ours, appended by tests/fakes/stripe.py to the Stripe.js that localstripe serves (which is not
 * in this repository): `stripe.confirmCardPayment(clientSecret, data, options)` behaves as
 * Stripe.js documents it (https://docs.stripe.com/js/payment_intents/confirm_card_payment):
 *
 * - `data.payment_method` is `{card: cardElement, billing_details}` or a PaymentMethod id: the
 *   PaymentIntent is confirmed with it, with the publishable key and the client secret, the card
 *   read from localstripe's card element (`element.value.card`);
 * - an answer in `requires_action` goes on to localstripe's own confirmCardPayment, its 3D Secure
 *   dialog (unless `options.handleActions` is false);
 * - the Promise resolves with `{paymentIntent}`, or `{error}`: Stripe's error object (type, code,
 *   decline_code, message, payment_intent, ...).
 *
 * Called without a payment method, confirmCardPayment is localstripe's.
 *
 * localstripe's card Element ignores the options it is created with and has no `update`: ours
 * keeps them as `element.options`, `update` merges into them, and each Element made is listed in
 * `window.stripeElements`, for tests to read the style a page gives Stripe's iframe.
 */
(function () {
  'use strict';

  const apiBase = document.currentScript.src.replace(/\/js\.stripe\.com\/v3\/?(\?.*)?$/, '');
  const localStripe = window.Stripe;

  // {a: {b: 1}} as form fields: {'prefix[a][b]': '1'}
  function flatten(prefix, value, fields) {
    if (value !== null && typeof value === 'object') {
      Object.keys(value).forEach((name) => flatten(`${prefix}[${name}]`, value[name], fields));
    } else if (value !== undefined && value !== null && value !== '') {
      fields[prefix] = String(value);
    }
    return fields;
  }

  function paymentMethodData(method) {
    const value = method.card && method.card.value;
    if (!value || !value.card || !value.card.number) {
      return null;
    }
    const billing = Object.assign({}, method.billing_details);
    if (value.postal_code) {
      billing.address = Object.assign({postal_code: value.postal_code}, billing.address);
    }
    const card = Object.assign({}, value.card, {number: value.card.number.replace(/\s/g, '')});
    return {type: 'card', card: card, billing_details: billing};
  }

  async function confirm(clientSecret, fields) {
    const intent = clientSecret.split('_secret_')[0];
    const response = await fetch(`${apiBase}/v1/payment_intents/${intent}/confirm`, {
      method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams(fields).toString(),
    });
    const body = await response.json().catch(() => ({}));
    return response.ok && !body.error ? {paymentIntent: body} : {error: body.error || {
      type: 'api_error', message: `The payment could not be confirmed (${response.status}).`,
    }};
  }

  // localstripe's dialog ends with the PaymentIntent; a failed authentication is an error.
  function authenticated(result) {
    const intent = result.paymentIntent;
    if (!intent || intent.status !== 'requires_payment_method') {
      return result;
    }
    return {error: Object.assign({}, intent.last_payment_error, {payment_intent: intent})};
  }

  window.stripeElements = [];

  function keepOptions(elements) {
    const create = elements.create;
    elements.create = function (type, options) {
      const element = create.call(this, type, options);
      element.options = Object.assign({}, options);
      element.update = (changes) => Object.assign(element.options, changes);
      window.stripeElements.push(element);
      return element;
    };
    return elements;
  }

  window.Stripe = function (publishableKey, options) {
    const stripe = localStripe(publishableKey, options);
    const localConfirm = stripe.confirmCardPayment;
    const localElements = stripe.elements;
    stripe.elements = () => keepOptions(localElements());

    stripe.confirmCardPayment = async function (clientSecret, data, confirmOptions) {
      const method = data && data.payment_method;
      if (!method) {
        return localConfirm(clientSecret, data);
      }
      const fields = {key: publishableKey, client_secret: clientSecret};
      if (typeof method === 'string') {
        fields.payment_method = method;
      } else {
        const paymentMethod = paymentMethodData(method);
        if (!paymentMethod) {
          return {error: {
            type: 'validation_error', code: 'incomplete_number',
            message: 'Your card number is incomplete.',
          }};
        }
        flatten('payment_method_data', paymentMethod, fields);
      }
      let result;
      try {
        result = await confirm(clientSecret, fields);
      } catch (err) {
        return {error: {type: 'api_connection_error', message: String(err)}};
      }
      const handleActions = !confirmOptions || confirmOptions.handleActions !== false;
      if (result.error || result.paymentIntent.status !== 'requires_action' || !handleActions) {
        return result;
      }
      return authenticated(await localConfirm(clientSecret));
    };
    return stripe;
  };
})();
