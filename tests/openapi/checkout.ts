// Checks out one lamp with the client generated from tally's OpenAPI document: quote,
// then checkout with the quoted total, then read the order back. Prints "ORDER <id>".
// Node's globals, without @types/node.
declare const process: { argv: string[]; exit(code: number): never };

import { OpenAPI, QuoteService, CheckoutService, OrdersService, ApiError } from "./gen/index";

async function main(): Promise<void> {
  const [base, token] = process.argv.slice(2);
  OpenAPI.BASE = base;
  OpenAPI.TOKEN = token;
  const cart = { currency: "USD", ship_to_country: "US", lines: [{ sku: "lamp", quantity: 1 }] };
  const quote = await QuoteService.postQuote({ requestBody: cart });
  console.log(`quoted ${quote.total_minor} ${quote.currency}`);
  const placed = await CheckoutService.postCheckout({
    idempotencyKey: `generated-client-${Date.now()}`,
    requestBody: { ...cart, expected_total_minor: quote.total_minor },
  });
  // Orders are read from a projection: a moment after checkout, 404 until it catches up.
  let order;
  for (let attempt = 0; ; ++attempt) {
    try {
      order = await OrdersService.getOrdersByOrder({ order: placed.order_id });
      break;
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404 || attempt >= 100) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (order.total_minor !== quote.total_minor || order.customer_id === undefined) {
    throw new Error(`the order does not match the quote: ${JSON.stringify(order)}`);
  }
  console.log(`ORDER ${placed.order_id}`);
  // A total the server does not quote (two lamps at the price of one) is refused with 409
  // price_changed, as a typed error. (The same cart again would be answered with the
  // order already placed: a duplicate checkout guard.)
  try {
    const accepted = await CheckoutService.postCheckout({
      idempotencyKey: `generated-client-drift-${Date.now()}`,
      requestBody: { ...cart, lines: [{ sku: "lamp", quantity: 2 }], expected_total_minor: quote.total_minor },
    });
    throw new Error(`a drifted price was accepted: ${JSON.stringify(accepted)}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409 || e.body.title !== "price_changed") throw e;
    console.log(`drift refused: ${e.status} ${e.body.title}`);
  }
}

main().catch((e) => {
  console.error(e instanceof ApiError ? `${e.status} ${JSON.stringify(e.body)}` : e);
  process.exit(1);
});
