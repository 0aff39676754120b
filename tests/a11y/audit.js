// Accessibility audit: axe-core (WCAG 2.0/2.1, levels A and AA) in Debian's headless Chromium over
// every page a person sees, in every language, reached the way a person reaches them: the form,
// the form sent back with an error, the receipt page, the status request page, the status page,
// a wrong receipt, the form over its size limit, and an error page.
//
//   node tests/a11y/audit.js https://127.0.0.1:PORT ar en es fr ru zh-Hans
//   node tests/a11y/audit.js https://127.0.0.1:PORT --story NAME REF RECEIPT ... ar en ...
//     (instead: the status pages of those grievances, cases further on)
//
// Prints one line per page and a JSON summary last; exits 1 on any violation or failed step.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

async function audit(page, lang, name, want) {
  const html = page.locator("html");
  const got = { lang: await html.getAttribute("lang"), dir: await html.getAttribute("dir") };
  if (got.lang !== lang || got.dir !== (lang === "ar" ? "rtl" : "ltr"))
    throw new Error(`${name}: <html lang=${got.lang} dir=${got.dir}>, wanted ${lang}`);
  if (want && (await page.locator(want).count()) === 0)
    throw new Error(`${name}: ${want} not on the page`);
  await page.evaluate(AXE);
  const result = await page.evaluate(
    (tags) => axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }),
    TAGS);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}

// Submits the grievance form with a POST body of our choosing (the over-limit case).
async function postForm(page, base, body) {
  await page.route(base + "/grievances", (route) =>
    route.continue({ method: "POST", postData: body,
                     headers: { ...route.request().headers(),
                                "content-type": "application/x-www-form-urlencoded" } }));
  await page.goto(base + "/grievances");
  await page.unroute(base + "/grievances");
}

async function flow(context, base, lang) {
  const page = await context.newPage();
  const pages = [];
  const check = async (name, want) => {
    const violations = await audit(page, lang, name, want);
    pages.push({ lang, name, violations });
    console.log(`${lang} ${name}: ${violations.length} violation(s)`);
  };
  // 1. the form
  await page.goto(`${base}/?lang=${lang}`);
  await check("form", "#grievance");
  // 2. the form sent back with a problem next to a field (anonymous, yet a contact name)
  await page.fill("#description", "a11y audit: the network was shut down for nine days");
  await page.selectOption("#category", "network_shutdown");
  await page.selectOption("#country", "SD");
  await page.check('input[name="complainant_type"][value="anonymous"]');
  await page.fill("#contact_name", "Someone");
  await Promise.all([page.waitForNavigation(), page.click('#grievance button[type="submit"]:not([name])')]);
  await check("form with an error", "#contact-error");
  // 3. the receipt page
  await page.fill("#contact_name", "");
  await Promise.all([page.waitForNavigation(), page.click('#grievance button[type="submit"]:not([name])')]);
  await check("receipt", ".secret");
  const [reference, receipt] = await page.locator(".secret").allTextContents();
  // 4. the status request page, through the receipt page's link
  await Promise.all([page.waitForNavigation(), page.click('main a[href^="/status"]')]);
  await check("status request", "#receipt");
  // 5. a wrong receipt
  await page.fill("#reference", reference);
  await page.fill("#receipt", "0".repeat(26));
  await Promise.all([page.waitForNavigation(), page.click('main button[type="submit"]')]);
  await check("status not found", ".error");
  // 6. the status page (in the grievance's language: the one the form was in)
  await page.fill("#reference", reference);
  await page.fill("#receipt", receipt);
  await Promise.all([page.waitForNavigation(), page.click('main button[type="submit"]')]);
  await check("status", "dl");
  // 7. the form over its size limit, shown again with the text
  const big = new URLSearchParams({ description: "我".repeat(50000), category: "other", country: "CN",
                                    language: lang }).toString();
  await postForm(page, base, big);
  await check("form over the size limit", "#description");
  // 8. an error page
  await page.goto(`${base}/no/such/page?lang=${lang}`);
  await check("error page", "main .error");
  await page.close();
  return pages;
}

// The status page of cases further on (owners, priority, remedies with their buttons, messages,
// the appeal and feedback forms), reached through the status request page in language lang.
async function storyFlow(context, base, lang, stories) {
  const page = await context.newPage();
  const pages = [];
  for (const [name, reference, receipt] of stories) {
    await page.goto(`${base}/status?lang=${lang}`);
    await page.fill("#reference", reference);
    await page.fill("#receipt", receipt);
    await Promise.all([page.waitForNavigation(), page.click('main button[type="submit"]')]);
    // The page speaks the grievance's own language; the switch gives the one audited.
    if ((await page.locator("html").getAttribute("lang")) !== lang)
      await Promise.all([page.waitForNavigation(),
                         page.click(`nav.languages button[value="${lang}"]`)]);
    const violations = await audit(page, lang, name, "main h2");
    pages.push({ lang, name, violations });
    console.log(`${lang} ${name}: ${violations.length} violation(s)`);
  }
  await page.close();
  return pages;
}

async function main() {
  let args = process.argv.slice(2);
  const stories = []; // --story NAME REFERENCE RECEIPT, repeatable
  while (args[1] === "--story") {
    stories.push(args.slice(2, 5));
    args = [args[0], ...args.slice(5)];
  }
  const [base, ...langs] = args;
  if (!base || langs.length === 0 || stories.some((s) => s.length !== 3)) {
    console.error("usage: node audit.js BASE_URL [--story NAME REFERENCE RECEIPT]... LANG...");
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let pages = [];
  try {
    // Our CSP allows no script: let the test inject axe, nothing else changes.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
    // The checker itself: a page with an unlabelled field and no language must fail.
    const probe = await context.newPage();
    await probe.setContent('<!DOCTYPE html><html><title>x</title><input type="text"></html>');
    await probe.evaluate(AXE);
    const found = await probe.evaluate(
      (tags) => axe.run(document, { runOnly: { type: "tag", values: tags } }), TAGS);
    const ids = found.violations.map((v) => v.id);
    if (!ids.includes("label") || !ids.includes("html-has-lang"))
      throw new Error("axe found no violation on a broken page: " + ids.join(","));
    await probe.close();
    for (const lang of langs)
      pages = pages.concat(stories.length ? await storyFlow(context, base, lang, stories)
                                          : await flow(context, base, lang));
  } finally {
    await browser.close();
  }
  const violations = pages.filter((p) => p.violations.length > 0);
  console.log(JSON.stringify({ pages: pages.length, axe: require("axe-core/package.json").version,
                               tags: TAGS, violations }));
  process.exit(violations.length ? 1 : 0);
}

main().catch((e) => {
  console.error("a11y audit failed: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
