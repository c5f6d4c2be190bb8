import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { mkdtemp, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubTestFolder } from "./helpers/hubTestFolder.ts";

// The file bytes the local Hub server sends, through its CDN origin (real-Hub mode) and its own
// resolve route: bodies of several read pieces, many at once, after the file changed on disk, and
// after a client left halfway.

let root: string;
let outside: string;
/** Over two of the server's 2 MiB read pieces, and not a multiple of any power of two. */
const weights = randomBytes(5 * 2 ** 20 + 12_345);
/** More than the socket buffers hold, so that a reader that pauses makes the server wait. */
const large = randomBytes(40 * 2 ** 20 + 777);
const { put, withServer } = hubTestFolder(() => root);

const resolveUrl = (hub: string, repo: string) => `${hub}/${repo}/resolve/main/model.safetensors`;
const signedUrl = async (hub: string, repo: string) => {
  const res = await fetch(resolveUrl(hub, repo), { redirect: "manual" });
  expect(res.status).toBe(302);
  return res.headers.get("Location")!;
};
const ranged = async (url: string, first: number, last: number) => {
  const res = await fetch(url, { headers: { Range: `bytes=${first}-${last}` } });
  expect(res.status).toBe(206);
  return Buffer.from(await res.arrayBuffer());
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hub-file-bytes-test-"));
  outside = await mkdtemp(join(tmpdir(), "hub-file-bytes-outside-"));
  await put("alice/big/model.safetensors", weights);
  await put("alice/large/model.safetensors", large);
  await put("alice/nested/shards/model.safetensors", weights.subarray(0, 100));
  await put("alice/changing/model.safetensors", weights.subarray(0, 4096));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe("hub server file bytes", () => {
  it("sends whole files and ranges across read pieces, many answers at once, byte for byte", async () => {
    await withServer({ cdn: { urlTtlSeconds: 60 } }, async (hub) => {
      const location = await signedUrl(hub.url, "alice/big");
      const piece = 2 * 2 ** 20;
      const ranges: [number, number][] = [
        [0, weights.length - 1],
        [piece - 1, piece],
        [piece - 7, 2 * piece + 7],
        [1, weights.length - 2],
        [weights.length - 3, weights.length - 1],
      ];
      // Twice each, all at once: answers in flight share the server's spare read buffers.
      const bodies = await Promise.all([...ranges, ...ranges].map(([first, last]) => ranged(location, first, last)));
      bodies.forEach((body, i) => {
        const [first, last] = ranges[i % ranges.length]!;
        expect(body.equals(weights.subarray(first, last + 1))).toBe(true);
      });
      const whole = await fetch(`${hub.url}/alice/big/raw/main/model.safetensors`);
      expect(Buffer.from(await whole.arrayBuffer()).equals(weights)).toBe(true);
    });
  });

  it("sends a reader that takes its time the same bytes (a piece is read into again only once written)", async () => {
    await withServer({}, async (hub) => {
      const got = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        request(`${hub.url}/alice/large/raw/main/model.safetensors`, (res) => {
          // Paused long enough for the socket buffers to fill, so that the server's writes wait.
          res.pause();
          setTimeout(() => res.resume(), 300);
          res.on("data", (data: Buffer) => chunks.push(data));
          res.on("error", reject);
          res.on("end", () => resolve(Buffer.concat(chunks)));
        }).end();
      });
      expect(got.equals(large)).toBe(true);
    });
  });

  it("keeps serving after a client leaves halfway through a body", async () => {
    await withServer({ cdn: { urlTtlSeconds: 60 } }, async (hub) => {
      const location = new URL(await signedUrl(hub.url, "alice/big"));
      const received = await new Promise<number>((resolve, reject) => {
        const req = request(location, (res) => {
          let count = 0;
          res.on("data", (data: Buffer) => {
            count += data.length;
            if (count >= 2 ** 20) {
              req.destroy();
              resolve(count);
            }
          });
        });
        req.on("error", (error) => (req.destroyed ? undefined : reject(error)));
        req.end();
      });
      expect(received).toBeLessThan(weights.length);
      const again = await ranged(location.href, 12_345, weights.length - 1);
      expect(again.equals(weights.subarray(12_345))).toBe(true);
    });
  });

  it("cuts a body of several pieces at exactly half when truncateEvery says so", async () => {
    await withServer({ faults: { truncateEvery: 1 } }, async (hub) => {
      const got = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        request(resolveUrl(hub.url, "alice/big"), (res) => {
          expect(res.headers["content-length"]).toBe(String(weights.length));
          res.on("data", (data: Buffer) => chunks.push(data));
          res.on("error", () => undefined);
          res.on("close", () => resolve(Buffer.concat(chunks)));
        }).end();
      });
      expect(got.equals(weights.subarray(0, Math.floor(weights.length / 2)))).toBe(true);
    });
  });

  it("serves a signed URL the file as it is now: new bytes with a new ETag, 404 once it is gone or reached through a symlink", async () => {
    await withServer({ cdn: { urlTtlSeconds: 60 } }, async (hub) => {
      const location = await signedUrl(hub.url, "alice/changing");
      const before = await fetch(location, { headers: { Range: "bytes=0-9" } });
      expect(Buffer.from(await before.arrayBuffer()).equals(weights.subarray(0, 10))).toBe(true);

      const file = join(root, "alice/changing/model.safetensors");
      const replaced = weights.subarray(100, 100 + 3000);
      await writeFile(file, replaced);
      const after = await fetch(location, { headers: { Range: "bytes=0-9" } });
      expect(after.headers.get("Content-Range")).toBe("bytes 0-9/3000");
      expect(after.headers.get("ETag")).not.toBe(before.headers.get("ETag"));
      expect(Buffer.from(await after.arrayBuffer()).equals(replaced.subarray(0, 10))).toBe(true);

      const elsewhere = join(outside, "secret.bin");
      await writeFile(elsewhere, "not in the root");
      await unlink(file);
      expect((await fetch(location)).status).toBe(404);
      await symlink(elsewhere, file);
      expect((await fetch(location)).status).toBe(404);

      // A folder inside the repo that became a symlink is not followed either.
      const nested = await fetch(`${hub.url}/alice/nested/resolve/main/shards/model.safetensors`, { redirect: "manual" });
      const nestedLocation = nested.headers.get("Location")!;
      expect((await fetch(nestedLocation)).status).toBe(200);
      await writeFile(join(outside, "model.safetensors"), "outside bytes");
      await rm(join(root, "alice/nested/shards"), { recursive: true });
      await symlink(outside, join(root, "alice/nested/shards"));
      expect((await fetch(nestedLocation)).status).toBe(404);
    });
  });
});
