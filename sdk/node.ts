// node entry point: the same API as sdk/index.ts.
export * from "./index";
