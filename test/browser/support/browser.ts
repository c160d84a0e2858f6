/**
 * Headless Chromium (Debian's, driven by playwright-core) against the real
 * server, plus the few page actions the browser specs share. Pages are driven
 * through the UI as a person would: labels, keyboard, visible text.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

/** Where screenshots go (git-ignored; CI keeps them as artefacts). */
export const artifactsDir = join(import.meta.dirname, "..", "..", "..", "test-artifacts");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A fresh profile (own storage and connection pool) with one page. */
export async function newPage(
  browser: Browser,
  viewport = { width: 1100, height: 760 },
): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  // Fail loudly on script errors instead of timing out on a dead page.
  page.on("pageerror", (e) => {
    process.stderr.write(`page error: ${e.stack ?? e.message}\n`);
  });
  return page;
}

/** Joins through the form, by keyboard only: name, Tab, room, Tab, protocol, Enter. */
export async function joinByKeyboard(
  page: Page,
  baseUrl: string,
  name: string,
  room: string,
): Promise<void> {
  await page.goto(baseUrl);
  await page.getByLabel("Your name").waitFor();
  await page.keyboard.type(name);
  await page.keyboard.press("Tab");
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type(room);
  await page.keyboard.press("Enter");
  await waitLive(page);
}

/** Opens a room by URL (`?name=&room=&protocol=`), which joins at once. */
export async function joinByUrl(
  page: Page,
  baseUrl: string,
  params: { name: string; room: string; protocol?: "connect" | "grpc-web" },
): Promise<void> {
  await page.goto(`${baseUrl}/?${new URLSearchParams(params)}`);
  await waitLive(page);
}

export async function waitLive(page: Page, timeout = 10_000): Promise<void> {
  await page.locator('#banner[data-state="live"]').waitFor({ timeout });
}

/** Types into the message box and presses Enter. */
export async function say(page: Page, text: string): Promise<void> {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

/** Texts of the delivered messages, in order (pending ones excluded). */
export function messageTexts(page: Page): Promise<string[]> {
  return page.locator("#messages li.msg .text").allTextContents();
}

/** Waits until some delivered message has exactly this text. */
export async function waitForMessage(page: Page, text: string, timeout = 10_000): Promise<void> {
  await page.waitForFunction(
    (wanted) =>
      Array.from(document.querySelectorAll("#messages li.msg .text")).some(
        (e) => e.textContent === wanted,
      ),
    text,
    { timeout },
  );
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(artifactsDir, { recursive: true });
  const path = join(artifactsDir, name);
  await page.screenshot({ path });
  return path;
}
