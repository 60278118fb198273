// Attention shapes of common models, so a cache can be sized without reading a config.json
// (gpt-fast's transformer_configs, STYLE L8). Values from each model's published config.
export interface ModelShape {
  readonly numLayers: number;
  readonly numQHeads: number;
  readonly numKvHeads: number;
  readonly headSize: number;
  /** The model's trained context, a sensible maxContextTokens. */
  readonly maxContextTokens: number;
}

/**
 * Attention shapes of common models, to spread into a cache config.
 * @example
 * ```ts
 * const cache = await createKvCache({ ...PRESETS["qwen2.5-0.5b"], capacityTokens: 32768, policy: { name: "snapkv", maxTokensPerHead: 1024 } });
 * ```
 */
export const PRESETS = Object.freeze({
  "llama-3.2-1b": { numLayers: 16, numQHeads: 32, numKvHeads: 8, headSize: 64, maxContextTokens: 131072 },
  "llama-3.1-8b": { numLayers: 32, numQHeads: 32, numKvHeads: 8, headSize: 128, maxContextTokens: 131072 },
  "mistral-7b": { numLayers: 32, numQHeads: 32, numKvHeads: 8, headSize: 128, maxContextTokens: 32768 },
  "qwen2.5-0.5b": { numLayers: 24, numQHeads: 14, numKvHeads: 2, headSize: 64, maxContextTokens: 32768 },
  "smollm2-135m": { numLayers: 30, numQHeads: 9, numKvHeads: 3, headSize: 64, maxContextTokens: 8192 },
  /** ../shared/models/stories260K (llama2.c). */
  stories260K: { numLayers: 5, numQHeads: 8, numKvHeads: 4, headSize: 8, maxContextTokens: 512 },
  /** ../shared/models/tinystories-656K (Hugging Face). */
  "tinystories-656K": { numLayers: 2, numQHeads: 8, numKvHeads: 4, headSize: 16, maxContextTokens: 512 },
} satisfies Record<string, ModelShape>);

export type PresetName = keyof typeof PRESETS;
