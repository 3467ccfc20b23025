// Saves the /fleet page of bench/fleet/page-fixture.ts's board as the code renders it now, to
// bench/fleet/page-before.html: the baseline fleet-page compares with. It was run once, at commit
// 90dfcc1 (before the page was made faster); run it again only to move the baseline on.
//   node --import tsx bench/fleet/save-before.ts
import { writeFileSync } from "node:fs";
import { startPageServer } from "./page-fixture.js";
const s = await startPageServer();
await new Promise((r) => setTimeout(r, 300));
const html = await (await fetch(`${s.url}/fleet?app=big`)).text();
writeFileSync(new URL("page-before.html", import.meta.url), html);
console.log(html.length, (html.match(/<i class="c s-/g) ?? []).length, [...new Set(html.match(/s-[a-z-]+/g))].join(" "));
await s.close();
