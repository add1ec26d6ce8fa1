import type { History, Model } from '../types.ts';
import { registerModel } from './register.ts';
import type { RegisterInput, RegisterOutput } from './register.ts';
import { kvModel } from './kv.ts';
import type { KvInput, KvOutput } from './kv.ts';
import { attrModel, createAttrModel } from './attr.ts';
import type { AttrInput, AttrOutput } from './attr.ts';
import { createDirModel, dirModel } from './dir.ts';
import type { DirInput, DirOutput } from './dir.ts';

export * from './register.ts';
export * from './kv.ts';
export * from './attr.ts';
export * from './dir.ts';
export * from './keyed.ts';

export const MODEL_NAMES = ['register', 'kv', 'attr', 'dir'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/** A history together with the model it is to be checked against (as read from a file). */
export type TypedHistory =
  | { readonly model: 'register'; readonly history: History<RegisterInput, RegisterOutput> }
  | { readonly model: 'kv'; readonly history: History<KvInput, KvOutput> }
  | { readonly model: 'attr'; readonly history: History<AttrInput, AttrOutput>; readonly fields?: readonly string[] }
  | { readonly model: 'dir'; readonly history: History<DirInput, DirOutput>; readonly initial?: 'empty' | 'unknown' };

/** The model instance for a typed history, with the model options it carries. */
export function modelFor(typed: TypedHistory): Model<unknown, unknown, unknown> {
  let model: Model<never, never, never>;
  switch (typed.model) {
    case 'register':
      model = registerModel as Model<never, never, never>;
      break;
    case 'kv':
      model = kvModel as Model<never, never, never>;
      break;
    case 'attr':
      model = (typed.fields === undefined ? attrModel : createAttrModel({ fields: typed.fields })) as Model<never, never, never>;
      break;
    case 'dir':
      model = (typed.initial === undefined ? dirModel : createDirModel({ initial: typed.initial })) as Model<never, never, never>;
      break;
  }
  return model as unknown as Model<unknown, unknown, unknown>;
}
