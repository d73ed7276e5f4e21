// The text family: prompt, and text-encode for positive and negative conditioning.

import { defineNode } from '../engine/index.js';
import type { ConditioningValue } from './values.js';

export const promptNode = defineNode({
  type: 'prompt',
  version: 1,
  category: 'text',
  description: 'What the video should show, e.g. "a red circle moving left on a black background".',
  params: { text: { kind: 'string', default: 'a red circle moving left on a black background', multiline: true } },
  outputs: { text: { type: 'TEXT' } },
  run: ({ text }) => ({ text }),
});

export const textEncodeNode = defineNode({
  type: 'text-encode',
  version: 1,
  aliases: ['clip text encode', 'conditioning', 'positive', 'negative'],
  category: 'text',
  description:
    "Encodes a prompt with the model's text encoder. Use one for the positive prompt and one for the negative; an empty text is the unconditional prompt. " +
    'Words the model does not know are named in a warning (they would be ignored), and so is a background it cannot draw, for a model that names its backgrounds.',
  inputs: { model: { type: 'MODEL' } },
  params: { text: { kind: 'string', default: '', multiline: true, description: 'Usually linked from a prompt node.' } },
  outputs: { conditioning: { type: 'CONDITIONING' } },
  run: async ({ model, text }, ctx) => {
    const unknown = model.model.unknownWords(text);
    // The encoder drops these silently (they become its unknown token), and the clip then ignores them.
    if (unknown.length > 0) ctx.warn(`the model does not know: ${unknown.join(', ')}`);
    // Known words in a place the model never saw them: a colour it draws objects in, as a background.
    const backgrounds = model.model.unsupportedBackgrounds(text);
    if (backgrounds.length > 0) {
      const asked = new Intl.ListFormat('en-GB', { type: 'disjunction' }).format(backgrounds.map((b) => `a ${b} background`));
      const known = new Intl.ListFormat('en-GB', { type: 'conjunction' }).format(model.model.manifest.prompt!.backgrounds!);
      ctx.warn(`the model cannot draw ${asked}; its backgrounds are ${known}`);
    }
    const encoded = await model.model.encodeText([text]);
    const conditioning: ConditioningValue = { ...encoded, prompt: text };
    return { conditioning };
  },
});

export const textNodes = [promptNode, textEncodeNode];
