// LruMap on its own, no model: which entries its uses move, and which ones trim and oldest give.
import { describe, expect, test } from "@jest/globals";
import { LruMap } from "../../src/shared/LruMap.js";

/** A map holding a, b, c, set in that order (a is the least recently used). */
function abc(): LruMap<string, number> {
  return new LruMap<string, number>().set("a", 1).set("b", 2).set("c", 3);
}

describe("LruMap", () => {
  test("iterates least recently used first, as set", () => {
    const map = abc();
    expect([...map]).toEqual([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    expect([...map.keys()]).toEqual(["a", "b", "c"]);
    expect([...map.values()]).toEqual([1, 2, 3]);
    expect(map.size).toBe(3);
  });

  test("get returns the value and makes the entry the most recently used", () => {
    const map = abc();
    expect(map.get("a")).toBe(1);
    expect([...map.keys()]).toEqual(["b", "c", "a"]);
  });

  test("get of a missing key returns undefined and moves nothing", () => {
    const map = abc();
    expect(map.get("z")).toBeUndefined();
    expect([...map.keys()]).toEqual(["a", "b", "c"]);
    expect(map.has("z")).toBe(false);
  });

  test("a stored undefined is found and moved like any value", () => {
    const map = new LruMap<string, number | undefined>().set("a", undefined).set("b", 2);
    expect(map.get("a")).toBeUndefined();
    expect(map.has("a")).toBe(true);
    expect([...map.keys()]).toEqual(["b", "a"]);
  });

  test("peek, has and iteration leave the order as it is", () => {
    const map = abc();
    expect(map.peek("a")).toBe(1);
    expect(map.has("a")).toBe(true);
    expect(map.peek("z")).toBeUndefined();
    expect([...map.keys()]).toEqual(["a", "b", "c"]);
  });

  test("set of an existing key replaces its value and makes it the most recently used", () => {
    const map = abc();
    map.set("a", 10);
    expect([...map]).toEqual([
      ["b", 2],
      ["c", 3],
      ["a", 10],
    ]);
    expect(map.size).toBe(3);
  });

  test("delete removes one entry and says whether it was there", () => {
    const map = abc();
    expect(map.delete("b")).toBe(true);
    expect(map.delete("b")).toBe(false);
    expect([...map.keys()]).toEqual(["a", "c"]);
  });

  test("oldest is the least recently used entry, without moving it; undefined when empty", () => {
    const map = abc();
    map.get("a");
    expect(map.oldest()).toEqual(["b", 2]);
    expect(map.oldest()).toEqual(["b", 2]);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.oldest()).toBeUndefined();
  });

  test("trim drops the least recently used entries down to the bound and returns them, oldest first", () => {
    const map = abc().set("d", 4);
    map.get("a");
    expect(map.trim(2)).toEqual([
      ["b", 2],
      ["c", 3],
    ]);
    expect([...map.keys()]).toEqual(["d", "a"]);
  });

  test("trim within the bound drops nothing; to 0 it empties the map", () => {
    const map = abc();
    expect(map.trim(3)).toEqual([]);
    expect(map.trim(Infinity)).toEqual([]);
    expect(map.size).toBe(3);
    expect(map.trim(0)).toEqual([
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ]);
    expect(map.size).toBe(0);
  });
});
